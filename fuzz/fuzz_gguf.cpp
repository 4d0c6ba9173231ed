// libFuzzer harness for the gguf reader (io::read_gguf), parsing from memory.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return kinema::fuzz::run(data, size, "fuzz.gguf", "gguf", kinema::io::read_gguf);
}
