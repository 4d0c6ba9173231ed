#include "kernels/cpu/matmul_pack.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/cpu/convert.h"

namespace kinema::cpu {

void transpose16_generic(const uint32_t* in, int64_t in_stride, uint32_t* out, int64_t out_stride) {
  for (int64_t i = 0; i < 16; ++i)
    for (int64_t j = 0; j < 16; ++j) out[j * out_stride + i] = in[i * in_stride + j];
}

namespace {

using Transpose16 = void (*)(const uint32_t*, int64_t, uint32_t*, int64_t);

Transpose16 pick_transpose16() {
  switch (active_isa()) {
    case Isa::Avx512:
    case Isa::Avx512Bf16: return avx512::transpose16;
    case Isa::Avx2:
    case Isa::Generic: break;
  }
  return transpose16_generic;
}

}  // namespace

// Each N block of the layout is converted row by row into a [n_block, K] buffer (in cache),
// then transposed into place 16x16 words at a time. A word is one `pair` of consecutive K
// values: 4 bytes for both bf16 (pairs) and f32 (single values).
void pack_weight(const ComputeContext& ctx, const Tensor& w, DType type,
                 const onednn::PackedLayout& layout, void* packed) {
  static const Transpose16 transpose16 = pick_transpose16();
  int64_t n = w.dim(0), k = w.dim(1);
  size_t elem = size_t(traits(type).block_bytes);
  int64_t nb = layout.n_block, kb = layout.k_block;
  KINEMA_CHECK(elem * size_t(layout.pair) == 4 && kb == 16 && nb % 16 == 0,
               "unsupported packed layout");
  KINEMA_CHECK(layout.k_padded >= k && layout.n_padded >= n);
  int64_t words = layout.k_padded / layout.pair;  // per row
  int64_t blocks = layout.n_padded / nb;
  size_t w_row_bytes = w.nbytes() / size_t(std::max<int64_t>(n, 1));
  size_t row_bytes = size_t(words) * 4, live_bytes = size_t(k) * elem;
  const auto* src = static_cast<const uint8_t*>(w.raw());
  auto* dst = static_cast<uint32_t*>(packed);
  int64_t block_words = layout.n_block_stride * int64_t(elem) / 4;
  int64_t k_block_words = layout.k_block_stride * int64_t(elem) / 4;
  parallel_for(ctx, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint32_t> rows(size_t(nb * words));
    for (int64_t blk = begin; blk < end; ++blk) {
      int64_t n0 = blk * nb, live = std::clamp<int64_t>(n - n0, 0, nb);
      for (int64_t r = 0; r < nb; ++r) {
        auto* row = reinterpret_cast<uint8_t*>(rows.data() + r * words);
        if (r >= live) {
          std::memset(row, 0, row_bytes);
          continue;
        }
        const uint8_t* s = src + size_t(n0 + r) * w_row_bytes;
        if (type == DType::BF16)
          convert_row_to_bf16(w.dtype(), s, reinterpret_cast<uint16_t*>(row), k);
        else
          convert_row_to_f32(w.dtype(), s, reinterpret_cast<float*>(row), k);
        std::memset(row + live_bytes, 0, row_bytes - live_bytes);  // K padding
      }
      uint32_t* out = dst + blk * block_words;
      for (int64_t u0 = 0; u0 < words; u0 += kb)
        for (int64_t r0 = 0; r0 < nb; r0 += 16)
          transpose16(rows.data() + r0 * words + u0, words, out + u0 / kb * k_block_words + r0, nb);
    }
  });
}

}  // namespace kinema::cpu
