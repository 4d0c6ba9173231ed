// Kinema's seeded Gaussian noise: identical on every machine and for any thread count.
//
// Element i (flat index in row-major order) of the noise for seed s is defined as:
//   block b = i / 4, lane k = i % 4;
//   (w0, w1, w2, w3) = Philox4x32-10(counter = (b mod 2^32, b / 2^32, stream, 0),
//                                    key = (s mod 2^32, s / 2^32));
//   uniforms u_j = (w_j + 0.5) / 2^32 in (0, 1);
//   r = sqrt(-2 ln u0), z0 = r cos(2 pi u1), z1 = r sin(2 pi u1)  (and z2, z3 from u2, u3);
//   noise[i] = float(z_k).
// ln, cos and sin are our own float64 polynomial evaluations (no libm), so the bits do not
// depend on the C library. This is not PyTorch's generator: for parity with the reference,
// noise is read from a file instead.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema {

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// An f32 tensor of standard normal noise. Stream 0 is a generation's starting noise; the
// re-noising sampler draws step i's fresh noise from stream i + 1 (sampler.h).
Tensor gaussian_noise(const ComputeContext& ctx, const Shape& shape, uint64_t seed,
                      uint32_t stream = 0);

// Reads injected noise (parity runs) from a weight file of any supported format: the tensor
// named "noise", or the file's only tensor; converted to f32. Throws naming the file otherwise.
Tensor read_noise_file(const std::string& path);

// A fresh seed from the operating system, for when the user gives none.
uint64_t random_seed();

}  // namespace kinema
