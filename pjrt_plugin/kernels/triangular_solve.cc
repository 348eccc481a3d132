#include "pjrt_plugin/kernels/triangular_solve.h"

#include <string>
#include <vector>

#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

void Store(DType t, const float* src, int64_t n, void* dst) {
  for (int64_t i = 0; i < n; ++i) num::StoreFloat(t, static_cast<uint8_t*>(dst) + i * DTypeByteSize(t), src[i]);
}

}  // namespace

Status ValidateTriangularSolve(const exe::TriangularSolve& op, const TensorInfos& inputs,
                               const TensorInfos& outputs) {
  if (inputs.size() != 2 || outputs.size() != 1) {
    return InvalidArgument("triangular_solve takes 2 inputs (a, b) and 1 output");
  }
  const TensorInfo& a = *inputs[0];
  const TensorInfo& b = *inputs[1];
  const TensorInfo& x = *outputs[0];
  if (!IsFloat(a.dtype) || b.dtype != a.dtype) {
    return InvalidArgument("triangular_solve of a " + a.ToString() + " and b " + b.ToString() +
                           ": both must be the same floating-point type (f32, bf16, f16)");
  }
  const size_t rank = a.dims.size();
  if (rank < 2 || b.dims.size() != rank || a.dims[rank - 1] != a.dims[rank - 2]) {
    return InvalidArgument("triangular_solve needs a square a [..., m, m] and b of the same rank, got a " +
                           a.ToString() + " and b " + b.ToString());
  }
  const int64_t m = a.dims[rank - 1];
  const int64_t b_m = op.left_side() ? b.dims[rank - 2] : b.dims[rank - 1];
  bool batch_ok = true;
  for (size_t d = 0; d + 2 < rank; ++d) batch_ok = batch_ok && a.dims[d] == b.dims[d];
  if (!batch_ok || b_m != m) {
    return InvalidArgument(std::string("triangular_solve with left_side=") + (op.left_side() ? "true" : "false") +
                           " needs b [..., " + (op.left_side() ? "m, n" : "n, m") + "] with a's batch dims and m = " +
                           std::to_string(m) + ", got a " + a.ToString() + " and b " + b.ToString());
  }
  if (x.dtype != b.dtype || x.dims != b.dims) {
    return InvalidArgument("triangular_solve of b " + b.ToString() + " gives b's type, not output " + x.ToString());
  }
  return Status::Ok();
}

// Each batch: t = op(a) (a or its transpose), computed in f32. For left_side, t x = b: x's rows in
// the order the triangle allows (forward for lower t, backward for upper), each
//   x[i, :] = (b[i, :] - sum_k t[i, k] x[k, :]) / t[i, i]
// with k in the solve order, so every element's sum has a fixed order. Right side, x t = b, is
// t^T x^T = b^T: the same recurrence over columns. Rounded once to the output type.
Status RunTriangularSolve(const exe::TriangularSolve& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& ainfo = *inputs[0].info;
  const TensorInfo& binfo = *inputs[1].info;
  const DType t = ainfo.dtype;
  const size_t rank = ainfo.dims.size();
  const int64_t m = ainfo.dims[rank - 1];
  const int64_t rows = binfo.dims[rank - 2], cols = binfo.dims[rank - 1];
  const int64_t batch_elems = rows * cols;
  if (binfo.num_elements() == 0) return Status::Ok();
  const int64_t batches = binfo.num_elements() / batch_elems;
  const bool left = op.left_side();
  const bool transpose = op.transpose_a();
  // In the left-side recurrence the matrix is s = t (left) or t^T (right); t = a or a^T.
  const bool s_is_a_transposed = transpose != !left;
  // s is lower triangular when a's used triangle, after the transposes, is lower.
  const bool s_lower = op.lower() != s_is_a_transposed;
  const int64_t n = left ? cols : rows;  // right-hand sides
  std::vector<float> a(static_cast<size_t>(m * m)), x(static_cast<size_t>(m * n)), row(static_cast<size_t>(cols));
  const int e = DTypeByteSize(t);
  for (int64_t batch = 0; batch < batches; ++batch) {
    num::FloatRowToF32(t, static_cast<const uint8_t*>(inputs[0].data) + batch * m * m * e, m * m, a.data());
    // x as [m, n] (row i = unknowns of equation i), from b [m, n] (left) or b^T (right).
    const uint8_t* bsrc = static_cast<const uint8_t*>(inputs[1].data) + batch * batch_elems * e;
    for (int64_t r = 0; r < rows; ++r) {
      num::FloatRowToF32(t, bsrc + r * cols * e, cols, row.data());
      for (int64_t c = 0; c < cols; ++c) {
        if (left) x[static_cast<size_t>(r * n + c)] = row[static_cast<size_t>(c)];
        else x[static_cast<size_t>(c * n + r)] = row[static_cast<size_t>(c)];
      }
    }
    auto s = [&](int64_t i, int64_t k) {
      return s_is_a_transposed ? a[static_cast<size_t>(k * m + i)] : a[static_cast<size_t>(i * m + k)];
    };
    for (int64_t step = 0; step < m; ++step) {
      const int64_t i = s_lower ? step : m - 1 - step;
      float* xi = &x[static_cast<size_t>(i * n)];
      for (int64_t kstep = 0; kstep < step; ++kstep) {
        const int64_t k = s_lower ? kstep : m - 1 - kstep;
        const float sik = s(i, k);
        const float* xk = &x[static_cast<size_t>(k * n)];
        for (int64_t j = 0; j < n; ++j) xi[j] -= sik * xk[j];
      }
      if (!op.unit_diagonal()) {
        const float d = s(i, i);
        for (int64_t j = 0; j < n; ++j) xi[j] /= d;
      }
    }
    uint8_t* dst = static_cast<uint8_t*>(outputs[0].data) + batch * batch_elems * e;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        row[static_cast<size_t>(c)] = left ? x[static_cast<size_t>(r * n + c)] : x[static_cast<size_t>(c * n + r)];
      }
      Store(t, row.data(), cols, dst + r * cols * e);
    }
  }
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
