#include "io/weight_scan.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace kinema {

std::optional<NonFiniteWeight> find_nonfinite_weight(const WeightFile& file) {
  std::vector<float> values;
  for (const TensorInfo& t : file.tensors()) {
    const DTypeTraits& tr = traits(t.dtype);
    if (!tr.is_float && !tr.is_quantized) continue;
    const int64_t n = t.shape.numel();
    // Whole blocks at a time (GGUF types), about 64 Ki values.
    const int64_t block = tr.block_elems, chunk = std::max<int64_t>(block, (65536 / block) * block);
    values.resize(size_t(chunk));
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t count = std::min(chunk, n - begin);
      const uint64_t offset = uint64_t(begin / block) * uint64_t(tr.block_bytes);
      convert_to_f32(t.dtype, t.data + offset, values.data(), count);
      for (int64_t i = 0; i < count; ++i)
        if (!std::isfinite(values[size_t(i)]))
          return NonFiniteWeight{t.name, begin + i, values[size_t(i)]};
    }
  }
  return std::nullopt;
}

}  // namespace kinema
