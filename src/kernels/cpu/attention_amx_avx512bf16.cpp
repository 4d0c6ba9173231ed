// AMX block kernels: both products on tiles with tdpbf16ps (bf16 pairs, f32 accumulation). The
// packed layouts are those of the vdpbf16ps level (attention_avx512bf16.cpp), which are exactly
// what the tiles load: a K chunk's 16 rows of dim pairs x 16 keys is a B tile (row stride 128
// bytes), a V block's 16 key pairs x 16 dims is a B tile (row stride 4*d_pad bytes), and Q and P
// rows are A tiles. Softmax, packing and finish are shared with that level.
//
// Tiles, all 16 rows x 64 bytes: 0-3 accumulate a 32 x 32 block of f32 (2 x 2 tiles), 4-5 hold
// two A tiles (16 rows each), 6-7 two B tiles (16 columns each).
//
// The kernel must grant the process AMX state (arch_prctl ARCH_REQ_XCOMP_PERM); block_kernels()
// asks once and returns null when it cannot.
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "core/cpu.h"
#include "kernels/cpu/attention_kernels.h"

#define KINEMA_AMX __attribute__((target("amx-tile,amx-bf16")))

namespace kinema::cpu::attention_detail::amx {
namespace {

constexpr int kQBlock = 128;
constexpr int kKBlock = 256;

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

constexpr TileConfig make_config() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  return cfg;
}

constexpr TileConfig kConfig = make_config();

KINEMA_AMX void begin_task() { _tile_loadconfig(&kConfig); }
KINEMA_AMX void end_task() { _tile_release(); }

// S = Q.K^T for the 64 query rows and k_used keys, in 32 x 32 blocks.
KINEMA_AMX void scores(const void* q, const void* k, int d_pad, int k_used, int64_t ld, float* s) {
  const uint16_t* qh = static_cast<const uint16_t*>(q);
  const uint16_t* kh = static_cast<const uint16_t*>(k);
  const int64_t q_stride = int64_t(d_pad) * 2, s_stride = ld * 4;
  for (int r = 0; r < kQBlock; r += 32) {
    for (int c = 0; c < k_used; c += kKeyChunk) {
      const uint16_t* kc = kh + int64_t(c) * d_pad;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int step = 0; step < d_pad; step += 32) {
        _tile_loadd(4, qh + r * d_pad + step, q_stride);
        _tile_loadd(5, qh + (r + 16) * d_pad + step, q_stride);
        // Rows of the B tile are dim pairs step/2 .. step/2+15, each 32 keys x 2 = 128 bytes.
        _tile_loadd(6, kc + step * kKeyChunk, 128);
        _tile_loadd(7, kc + step * kKeyChunk + 32, 128);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      float* sb = s + r * ld + c;
      _tile_stored(0, sb, s_stride);
      _tile_stored(1, sb + 16, s_stride);
      _tile_stored(2, sb + 16 * ld, s_stride);
      _tile_stored(3, sb + 16 * ld + 16, s_stride);
    }
  }
}

// o = o * alpha + P.V: the rescale on vectors, then the accumulator blocks go through tiles.
KINEMA_AMX void accumulate(const void* p, const void* v, const float* alpha, int d_pad, int k_used,
                           int64_t ld, float* o) {
  for (int r = 0; r < kQBlock; ++r) {
    if (alpha[r] == 1.0f) continue;
    __m512 a = _mm512_set1_ps(alpha[r]);
    float* orow = o + int64_t(r) * d_pad;
    for (int c = 0; c < d_pad; c += 16)
      _mm512_storeu_ps(orow + c, _mm512_mul_ps(_mm512_loadu_ps(orow + c), a));
  }
  const uint16_t* ph = static_cast<const uint16_t*>(p);
  const uint16_t* vh = static_cast<const uint16_t*>(v);
  const int64_t o_stride = int64_t(d_pad) * 4, p_stride = ld * 2, v_stride = int64_t(d_pad) * 4;
  for (int r = 0; r < kQBlock; r += 32) {
    for (int c = 0; c < d_pad; c += 32) {
      float* ob = o + int64_t(r) * d_pad + c;
      _tile_loadd(0, ob, o_stride);
      _tile_loadd(1, ob + 16, o_stride);
      _tile_loadd(2, ob + 16 * d_pad, o_stride);
      _tile_loadd(3, ob + 16 * d_pad + 16, o_stride);
      for (int j = 0; j < k_used; j += 32) {
        _tile_loadd(4, ph + r * ld + j, p_stride);
        _tile_loadd(5, ph + (r + 16) * ld + j, p_stride);
        // Key pairs j/2 .. j/2+15; dims c .. c+15 start at element 2c of a pair row.
        const uint16_t* vb = vh + int64_t(j) * d_pad + 2 * c;
        _tile_loadd(6, vb, v_stride);
        _tile_loadd(7, vb + 32, v_stride);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, ob, o_stride);
      _tile_stored(1, ob + 16, o_stride);
      _tile_stored(2, ob + 16 * d_pad, o_stride);
      _tile_stored(3, ob + 16 * d_pad + 16, o_stride);
    }
  }
}

bool amx_tile_cpuid() {
  unsigned eax, ebx, ecx, edx;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(0));
  return (edx >> 24) & 1;  // AMX-TILE
}

bool request_amx() {
  if (!cpu_features().amx_bf16 || !amx_tile_cpuid()) return false;
  // Linux 5.16+: the process must ask for the tile data state (XFEATURE_XTILEDATA = 18).
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

}  // namespace

const BlockKernels* block_kernels() {
  static const bool usable = request_amx();
  static const BlockKernels kernels{
      .q_block = kQBlock,
      .k_block = kKBlock,
      .d_align = 32,
      .elem_bytes = 2,
      .pack_q = avx512bf16::pack_rows_bf16,
      .pack_k = avx512bf16::pack_k_pairs,
      .pack_v = avx512bf16::pack_v_pairs,
      .scores = scores,
      .softmax = avx512bf16::softmax_block,
      .accumulate = accumulate,
      .finish = avx512bf16::finish_rows,
      .transform = avx512bf16::transform_logits,
      .begin_task = begin_task,
      .end_task = end_task,
  };
  return usable ? &kernels : nullptr;
}

}  // namespace kinema::cpu::attention_detail::amx
