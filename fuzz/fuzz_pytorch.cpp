// libFuzzer harness for the pytorch reader (io::read_pytorch), parsing from memory.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return kinema::fuzz::run(data, size, "fuzz.pt", "pytorch", kinema::io::read_pytorch);
}
