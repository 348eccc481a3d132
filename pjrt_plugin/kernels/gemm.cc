#include "pjrt_plugin/kernels/gemm.h"

#include <algorithm>
#include <cstring>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/thread_pool.h"

namespace chip {
namespace kernels {
namespace {

constexpr int64_t kMR = 4;     // rows of a register tile
constexpr int64_t kNR = 16;    // columns of a register tile (one AVX-512, two AVX2, four SSE registers)
constexpr int64_t kKC = 256;   // depth of a packed panel block (kKC x kNR floats: 16 KiB, L1-resident)
constexpr int64_t kMB = 128;   // rows of a work item
constexpr int64_t kNB = 256;   // columns of a work item

// The host's vector register (GCC generic vectors keep per-lane IEEE semantics). A tile row of kNR
// columns is kNR / kWidth registers; each lane is one output column, so the width changes how many
// columns are computed at once, never the arithmetic of any column.
#if defined(__AVX512F__)
constexpr int kWidth = 16;
#elif defined(__AVX__)
constexpr int kWidth = 8;
#else
constexpr int kWidth = 4;
#endif
typedef float Lanes __attribute__((vector_size(sizeof(float) * kWidth)));
// The same register read from or written to any float address.
typedef float UnalignedLanes __attribute__((vector_size(sizeof(float) * kWidth), aligned(alignof(float)), may_alias));

Lanes Load(const float* p) { return *reinterpret_cast<const UnalignedLanes*>(p); }
void Store(float* p, Lanes v) { *reinterpret_cast<UnalignedLanes*>(p) = v; }
constexpr int kVecs = kNR / kWidth;
static_assert(kNR % kWidth == 0, "a tile row is a whole number of registers");

// c[r][j] = (first ? +0 : c[r][j]) + sum over k in [0, kc) of a[r*lda + k] * bp[k*kNR + j], added in
// k order, each product rounded to f32 before the addition (never fused).
template <int R>
void MicroKernel(const float* a, int64_t lda, const float* bp, int64_t kc, float* c, int64_t ldc, int64_t cols,
                 bool first) {
  Lanes acc[R][kVecs];
  for (int r = 0; r < R; ++r) {
    float init[kNR] = {};
    if (!first) std::memcpy(init, c + r * ldc, sizeof(float) * cols);
    for (int v = 0; v < kVecs; ++v) acc[r][v] = Load(init + v * kWidth);
  }
  for (int64_t k = 0; k < kc; ++k) {
    Lanes b[kVecs];
    for (int v = 0; v < kVecs; ++v) b[v] = Load(bp + k * kNR + v * kWidth);
    for (int r = 0; r < R; ++r) {
      const float av = a[r * lda + k];
      for (int v = 0; v < kVecs; ++v) {
        const Lanes product = av * b[v];
        acc[r][v] += product;
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    float out[kNR];
    for (int v = 0; v < kVecs; ++v) Store(out + v * kWidth, acc[r][v]);
    std::memcpy(c + r * ldc, out, sizeof(float) * cols);
  }
}

void RunTile(const float* a, int64_t lda, const float* bp, int64_t kc, float* c, int64_t ldc, int64_t rows,
             int64_t cols, bool first) {
  switch (rows) {
    case 4: MicroKernel<4>(a, lda, bp, kc, c, ldc, cols, first); return;
    case 3: MicroKernel<3>(a, lda, bp, kc, c, ldc, cols, first); return;
    case 2: MicroKernel<2>(a, lda, bp, kc, c, ldc, cols, first); return;
    default: MicroKernel<1>(a, lda, bp, kc, c, ldc, cols, first); return;
  }
}

}  // namespace

void DeterministicGemm(const float* A, bool a_t, const float* B, bool b_t, float* C, int64_t batches, int64_t M,
                       int64_t N, int64_t K) {
  if (batches * M * N == 0) return;
  if (K == 0) {
    std::fill(C, C + batches * M * N, 0.0f);
    return;
  }
  // A transposed: pack it to [M, K] rows once (the micro-kernel walks rows of A along k).
  AlignedBuffer a_packed;
  if (a_t) {
    a_packed.Resize(sizeof(float) * batches * M * K);
    float* dst = a_packed.as<float>();
    ThreadPool::Global().ParallelFor(batches * M, std::max<int64_t>(1, 16384 / K), [&](int64_t begin, int64_t end) {
      for (int64_t bm = begin; bm < end; ++bm) {
        const int64_t b = bm / M, m = bm % M;
        const float* src = A + b * K * M + m;
        float* row = dst + bm * K;
        for (int64_t k = 0; k < K; ++k) row[k] = src[k * M];
      }
    });
    A = dst;
  }
  const int64_t m_blocks = (M + kMB - 1) / kMB, n_blocks = (N + kNB - 1) / kNB;
  const double flops = 2.0 * batches * M * N * K;
  auto run = [&](int64_t begin, int64_t end) {
    // One packed B block: kKC rows of up to kNB columns, as kNB / kNR panels of [kKC][kNR]
    // (columns past N are zero).
    AlignedBuffer panel(sizeof(float) * kKC * kNB);
    float* bp = panel.as<float>();
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / (m_blocks * n_blocks);
      const int64_t m0 = (item / n_blocks) % m_blocks * kMB, n0 = item % n_blocks * kNB;
      const int64_t rows = std::min(kMB, M - m0), cols = std::min(kNB, N - n0);
      const int64_t panels = (cols + kNR - 1) / kNR;
      const float* a = A + (b * M + m0) * K;
      const float* bb = B + b * K * N;
      float* c = C + (b * M + m0) * N + n0;
      for (int64_t k0 = 0; k0 < K; k0 += kKC) {
        const int64_t kc = std::min(kKC, K - k0);
        for (int64_t p = 0; p < panels; ++p) {
          float* dst = bp + p * kKC * kNR;
          const int64_t j0 = n0 + p * kNR, width = std::min(kNR, N - j0);
          for (int64_t k = 0; k < kc; ++k) {
            float* d = dst + k * kNR;
            if (b_t) {
              for (int64_t j = 0; j < width; ++j) d[j] = bb[(j0 + j) * K + k0 + k];
            } else {
              std::memcpy(d, bb + (k0 + k) * N + j0, sizeof(float) * width);
            }
            for (int64_t j = width; j < kNR; ++j) d[j] = 0.0f;
          }
        }
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t width = std::min(kNR, cols - p * kNR);
          for (int64_t r = 0; r < rows; r += kMR) {
            RunTile(a + r * K + k0, K, bp + p * kKC * kNR, kc, c + r * N + p * kNR, N, std::min(kMR, rows - r),
                    width, k0 == 0);
          }
        }
      }
    }
  };
  const int64_t work = batches * m_blocks * n_blocks;
  if (flops < 4e6 || work == 1) {
    run(0, work);
  } else {
    ThreadPool::Global().ParallelFor(work, 1, run);
  }
}

}  // namespace kernels
}  // namespace chip
