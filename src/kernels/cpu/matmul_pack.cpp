#include "kernels/cpu/matmul_pack.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/convert.h"

namespace kinema::cpu {

// Each N block of the layout is converted row by row into a [n_block, K] buffer (in cache),
// then transposed into place. A "unit" is one `pair` of consecutive K values: 4 bytes for both
// bf16 (pairs) and f32 (single values), so the transpose moves 32-bit words.
void pack_weight(const ComputeContext& ctx, const Tensor& w, DType type,
                 const onednn::PackedLayout& layout, void* packed) {
  int64_t n = w.dim(0), k = w.dim(1);
  size_t elem = size_t(traits(type).block_bytes);
  KINEMA_CHECK(elem * size_t(layout.pair) == 4, "unsupported packed layout");
  KINEMA_CHECK(layout.k_padded >= k && layout.n_padded >= n);
  int64_t units = layout.k_padded / layout.pair;  // per row
  int64_t nb = layout.n_block, kb = layout.k_block;
  int64_t blocks = layout.n_padded / nb;
  size_t w_row_bytes = w.nbytes() / size_t(std::max<int64_t>(n, 1));
  const auto* src = static_cast<const uint8_t*>(w.raw());
  auto* dst = static_cast<uint32_t*>(packed);
  parallel_for(ctx, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint32_t> rows(size_t(nb * units));
    for (int64_t blk = begin; blk < end; ++blk) {
      int64_t n0 = blk * nb, live = std::clamp<int64_t>(n - n0, 0, nb);
      // Zero the K padding of live rows and all of the rows past N.
      std::fill(rows.begin(), rows.end(), 0u);
      for (int64_t r = 0; r < live; ++r) {
        void* row = rows.data() + r * units;
        const uint8_t* s = src + size_t(n0 + r) * w_row_bytes;
        if (type == DType::BF16)
          convert_row_to_bf16(w.dtype(), s, static_cast<uint16_t*>(row), k);
        else
          convert_row_to_f32(w.dtype(), s, static_cast<float*>(row), k);
      }
      uint32_t* out = dst + blk * layout.n_block_stride * int64_t(elem) / 4;
      for (int64_t u0 = 0; u0 < units; u0 += kb) {
        uint32_t* o = out + u0 / kb * layout.k_block_stride * int64_t(elem) / 4;
        for (int64_t r = 0; r < nb; ++r) {
          const uint32_t* in = rows.data() + r * units + u0;
          for (int64_t u = 0; u < kb; ++u) o[u * nb + r] = in[u];
        }
      }
    }
  });
}

}  // namespace kinema::cpu
