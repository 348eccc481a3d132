// The chip's f32 matrix multiply: the accumulation order is part of the chip's numerics.
#pragma once

#include <cstdint>

namespace chip {
namespace kernels {

// C[b] (MxN, row-major) = op(A[b]) * op(B[b]) for b in [0, batches), where A[b] is stored [M,K]
// row-major (or [K,M] when a_t) and B[b] is [K,N] (or [N,K] when b_t).
//
// Every output element is the sum over k = 0, 1, ..., K-1, in that order, of the f32 product
// a[m,k] * b[k,n] rounded to f32 and then added (no fused multiply-add), starting from +0. Vector
// lanes run over independent output columns and the work is split over output tiles only, so the
// bits depend on neither the host's vector width, its FMA units, its cache sizes nor the number of
// host threads: every x86-64 build (portable, x86-64-v3, -march=native) computes the same result.
void DeterministicGemm(const float* A, bool a_t, const float* B, bool b_t, float* C, int64_t batches, int64_t M,
                       int64_t N, int64_t K);

}  // namespace kernels
}  // namespace chip
