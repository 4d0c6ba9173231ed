// Shared body of the reader harnesses: parse the input from memory (no disk), accept only
// kinema::Error as a failure, and read every byte of every tensor a successful parse returns so
// that AddressSanitizer checks the spans really lie inside the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/mapped_file.h"
#include "io/readers.h"

namespace kinema::fuzz {

inline void exercise(const WeightFile& wf) {
  volatile uint8_t sink = 0;
  for (const TensorInfo& t : wf.tensors()) {
    uint8_t acc = 0;
    for (uint64_t i = 0; i < t.nbytes; ++i) acc = uint8_t(acc ^ uint8_t(t.data[i]));
    sink = sink ^ acc;
    // Views and conversions must agree with what the reader validated.
    Tensor view = wf.tensor(t.name);
    if (view.nbytes() != t.nbytes) __builtin_trap();
    if ((traits(t.dtype).is_float || traits(t.dtype).is_quantized) && t.nbytes < (1u << 16))
      sink = sink ^ uint8_t(view.to_f32_vector().size());
  }
  for (const auto& [key, value] : wf.metadata()) sink = sink ^ uint8_t(key.size() + value.size());
}

template <class Reader>
int run(const uint8_t* data, size_t size, const char* name, const char* format, Reader reader) {
  auto file = MappedFile::from_bytes(name, data, size);
  WeightFile wf(name, format);
  try {
    reader(wf, file);
  } catch (const Error&) {
    return 0;  // a clean rejection
  }
  exercise(wf);
  return 0;
}

}  // namespace kinema::fuzz
