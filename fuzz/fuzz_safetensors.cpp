// libFuzzer harness for the safetensors reader (io::read_safetensors), parsing from memory.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return kinema::fuzz::run(data, size, "fuzz.safetensors", "safetensors",
                           kinema::io::read_safetensors);
}
