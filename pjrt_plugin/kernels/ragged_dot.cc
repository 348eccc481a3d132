#include "pjrt_plugin/kernels/ragged_dot.h"

#include <algorithm>
#include <string>
#include <vector>

#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

int64_t PadTo(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

class RaggedDotOp final : public PreparedOp {
 public:
  RaggedDotOp(int64_t m, int64_t k, int64_t n, int64_t groups, bool rhs_kn, int64_t row_pad)
      : m_(m), k_(k), n_(n), groups_(groups), rhs_kn_(rhs_kn), row_pad_(row_pad) {}

  Status Run(const KernelArgs& args) const override {
    const TensorRef& lhs = args.inputs[0];
    const TensorRef& rhs = args.inputs[1];
    const TensorRef& sizes = args.inputs[2];
    const TensorRef& out = args.outputs[0];
    const DType in_t = lhs.info->dtype;
    const DType out_t = out.info->dtype;
    const DType size_t_ = sizes.info->dtype;
    const size_t in_bytes = static_cast<size_t>(DTypeByteSize(in_t));
    const size_t out_bytes = static_cast<size_t>(DTypeByteSize(out_t));
    const auto* lhs_p = static_cast<const uint8_t*>(lhs.data);
    const auto* rhs_p = static_cast<const uint8_t*>(rhs.data);
    auto* out_p = static_cast<uint8_t*>(out.data);

    std::vector<float> a(static_cast<size_t>(k_));
    std::vector<float> w(static_cast<size_t>(k_ * n_));   // rhs[g] as [k, n]
    std::vector<float> acc(static_cast<size_t>(n_));
    std::vector<float> row(static_cast<size_t>(rhs_kn_ ? n_ : k_));
    int64_t start = 0;
    int64_t routed_padded = 0;
    int64_t used_groups = 0;
    for (int64_t g = 0; g < groups_ && start < m_; ++g) {
      const int64_t size = num::LoadAsInt(size_t_, static_cast<const uint8_t*>(sizes.data) +
                                                        g * DTypeByteSize(size_t_));
      const int64_t rows = std::min(std::max<int64_t>(size, 0), m_ - start);
      if (rows == 0) continue;
      ++used_groups;
      routed_padded += PadTo(rows, row_pad_);
      const uint8_t* slice = rhs_p + static_cast<size_t>(g * k_ * n_) * in_bytes;
      if (rhs_kn_) {
        num::FloatRowToF32(in_t, slice, k_ * n_, w.data());
      } else {  // [n, k] -> [k, n]
        for (int64_t j = 0; j < n_; ++j) {
          num::FloatRowToF32(in_t, slice + static_cast<size_t>(j * k_) * in_bytes, k_, row.data());
          for (int64_t c = 0; c < k_; ++c) w[static_cast<size_t>(c * n_ + j)] = row[static_cast<size_t>(c)];
        }
      }
      for (int64_t r = start; r < start + rows; ++r) {
        num::FloatRowToF32(in_t, lhs_p + static_cast<size_t>(r * k_) * in_bytes, k_, a.data());
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t c = 0; c < k_; ++c) {
          const float x = a[static_cast<size_t>(c)];
          const float* wr = w.data() + c * n_;
          for (int64_t j = 0; j < n_; ++j) acc[static_cast<size_t>(j)] += x * wr[j];
        }
        for (int64_t j = 0; j < n_; ++j) {
          num::StoreFloat(out_t, out_p + static_cast<size_t>(r * n_ + j) * out_bytes, acc[static_cast<size_t>(j)]);
        }
      }
      start += rows;
    }
    for (int64_t r = start; r < m_; ++r) {
      for (int64_t j = 0; j < n_; ++j) num::StoreFloat(out_t, out_p + static_cast<size_t>(r * n_ + j) * out_bytes, 0.0f);
    }
    // The static cost priced all m rows as one group: scale it to the routed rows, and read the
    // rhs slice of every group that has rows (the others are never loaded).
    const int64_t all_padded = PadTo(m_, row_pad_);
    args.work->matrix_flops *= all_padded > 0 ? static_cast<double>(routed_padded) / static_cast<double>(all_padded) : 0.0;
    args.work->bytes_read += static_cast<double>(used_groups) * static_cast<double>(k_ * n_ * static_cast<int64_t>(in_bytes));
    return Status::Ok();
  }

 private:
  int64_t m_, k_, n_, groups_;
  bool rhs_kn_;
  int64_t row_pad_;
};

}  // namespace

StatusOr<PreparedOpPtr> PrepareRaggedDot(const exe::Kernel& kernel, const TensorInfos& inputs,
                                         const TensorInfos& outputs, const PrepareContext& /*ctx*/) {
  const exe::RaggedDot& op = *kernel.op_as<exe::RaggedDot>();
  if (inputs.size() != 3 || outputs.size() != 1) {
    return InvalidArgument("ragged_dot takes 3 inputs (lhs, rhs, group_sizes) and 1 output");
  }
  const TensorInfo& lhs = *inputs[0];
  const TensorInfo& rhs = *inputs[1];
  const TensorInfo& sizes = *inputs[2];
  const TensorInfo& out = *outputs[0];
  if (!IsFloat(lhs.dtype) || rhs.dtype != lhs.dtype) {
    return InvalidArgument("ragged_dot of lhs " + lhs.ToString() + " and rhs " + rhs.ToString() +
                           ": both must be the same floating-point type (f32, bf16, f16)");
  }
  if (!IsSignedInt(sizes.dtype) || sizes.dims.size() != 1) {
    return InvalidArgument("ragged_dot group_sizes " + sizes.ToString() + " must be a signed integer vector [g]");
  }
  if (op.rhs_contracting() != 1 && op.rhs_contracting() != 2) {
    return InvalidArgument("ragged_dot rhs_contracting " + std::to_string(op.rhs_contracting()) +
                           " must be 1 (rhs [g, k, n]) or 2 (rhs [g, n, k])");
  }
  if (op.row_pad() < 1) return InvalidArgument("ragged_dot row_pad must be >= 1");
  const bool rhs_kn = op.rhs_contracting() == 1;
  if (lhs.dims.size() != 2 || rhs.dims.size() != 3 || rhs.dims[0] != sizes.dims[0] ||
      rhs.dims[rhs_kn ? 1 : 2] != lhs.dims[1]) {
    return InvalidArgument(std::string("ragged_dot needs lhs [m, k], rhs ") + (rhs_kn ? "[g, k, n]" : "[g, n, k]") +
                           " and group_sizes [g], got lhs " + lhs.ToString() + ", rhs " + rhs.ToString() +
                           ", group_sizes " + sizes.ToString());
  }
  const int64_t n = rhs.dims[rhs_kn ? 2 : 1];
  if (!IsFloat(out.dtype) || (out.dtype != lhs.dtype && out.dtype != DType::kF32) || out.dims.size() != 2 ||
      out.dims[0] != lhs.dims[0] || out.dims[1] != n) {
    return InvalidArgument("ragged_dot of lhs " + lhs.ToString() + " and rhs " + rhs.ToString() + " gives [" +
                           std::to_string(lhs.dims[0]) + ", " + std::to_string(n) +
                           "] of f32 or the operands' type, not output " + out.ToString());
  }
  return PreparedOpPtr(new RaggedDotOp(lhs.dims[0], lhs.dims[1], n, rhs.dims[0], rhs_kn, op.row_pad()));
}

}  // namespace kernels
}  // namespace chip
