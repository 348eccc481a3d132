#include "pjrt_plugin/kernels/gather.h"

#include <cstring>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/kernels/thread_pool.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using idx::Dims;

constexpr int64_t kParallelMinBytes = int64_t{1} << 20;

struct GatherDims {
  Dims offset_dims, collapsed, operand_batching, indices_batching, start_index_map, slice_sizes;
  int64_t index_vector_dim = 0;
};

GatherDims Decode(const exe::Gather& op) {
  GatherDims g;
  g.offset_dims = idx::ToDims(op.offset_dims());
  g.collapsed = idx::ToDims(op.collapsed_slice_dims());
  g.operand_batching = idx::ToDims(op.operand_batching_dims());
  g.indices_batching = idx::ToDims(op.start_indices_batching_dims());
  g.start_index_map = idx::ToDims(op.start_index_map());
  g.slice_sizes = idx::ToDims(op.slice_sizes());
  g.index_vector_dim = op.index_vector_dim();
  return g;
}

// Indices dims other than index_vector_dim: the batch dims, in order.
Dims BatchDims(const TensorInfo& indices, int64_t ivd) {
  Dims b;
  for (int64_t d = 0; d < static_cast<int64_t>(indices.dims.size()); ++d) {
    if (d != ivd) b.push_back(d);
  }
  return b;
}

// Operand dims a slice keeps (neither collapsed nor batching), in order.
Dims WindowDims(const GatherDims& g, int64_t rank) {
  Dims w;
  for (int64_t d = 0; d < rank; ++d) {
    if (!idx::Contains(g.collapsed, d) && !idx::Contains(g.operand_batching, d)) w.push_back(d);
  }
  return w;
}

inline void CopyElem(uint8_t* dst, const uint8_t* src, int e) {
  switch (e) {
    case 1: *dst = *src; break;
    case 2: std::memcpy(dst, src, 2); break;
    case 4: std::memcpy(dst, src, 4); break;
    default: std::memcpy(dst, src, e); break;
  }
}

}  // namespace

Status ValidateGather(const exe::Gather& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.size() != 2 || outputs.size() != 1) {
    return InvalidArgument("gather takes 2 inputs (operand, start_indices) and 1 output, got " +
                           std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
  }
  const TensorInfo& operand = *inputs[0];
  const TensorInfo& indices = *inputs[1];
  const TensorInfo& out = *outputs[0];
  const GatherDims g = Decode(op);
  const int64_t rank = static_cast<int64_t>(operand.dims.size());
  const int64_t irank = static_cast<int64_t>(indices.dims.size());
  if (!idx::IsIndexType(indices.dtype)) {
    return InvalidArgument("gather start_indices " + indices.ToString() + " must be integers");
  }
  if (g.index_vector_dim < 0 || g.index_vector_dim > irank) {
    return InvalidArgument("gather index_vector_dim " + std::to_string(g.index_vector_dim) + " is out of range for " +
                           "start_indices " + indices.ToString());
  }
  const int64_t k = g.index_vector_dim < irank ? indices.dims[g.index_vector_dim] : 1;
  if (static_cast<int64_t>(g.start_index_map.size()) != k) {
    return InvalidArgument("gather start_index_map " + idx::Str(g.start_index_map) + " has " +
                           std::to_string(g.start_index_map.size()) + " entries for index vectors of " +
                           std::to_string(k));
  }
  CHIP_RETURN_IF_ERROR(idx::CheckDims(g.start_index_map, rank, false, "gather start_index_map"));
  CHIP_RETURN_IF_ERROR(idx::CheckDims(g.collapsed, rank, true, "gather collapsed_slice_dims"));
  CHIP_RETURN_IF_ERROR(idx::CheckDims(g.operand_batching, rank, true, "gather operand_batching_dims"));
  CHIP_RETURN_IF_ERROR(idx::CheckDims(g.indices_batching, irank, false, "gather start_indices_batching_dims"));
  if (g.operand_batching.size() != g.indices_batching.size()) {
    return InvalidArgument("gather operand_batching_dims " + idx::Str(g.operand_batching) +
                           " and start_indices_batching_dims " + idx::Str(g.indices_batching) + " differ in length");
  }
  for (size_t i = 0; i < g.operand_batching.size(); ++i) {
    const int64_t od = g.operand_batching[i], id = g.indices_batching[i];
    if (id == g.index_vector_dim || idx::Contains(g.collapsed, od) || idx::Contains(g.start_index_map, od) ||
        operand.dims[od] != indices.dims[id]) {
      return InvalidArgument("gather batching dims operand " + std::to_string(od) + " / start_indices " +
                             std::to_string(id) + " are inconsistent with " + operand.ToString() + " and " +
                             indices.ToString());
    }
  }
  if (static_cast<int64_t>(g.slice_sizes.size()) != rank) {
    return InvalidArgument("gather slice_sizes " + idx::Str(g.slice_sizes) + " do not match operand " + operand.ToString());
  }
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t s = g.slice_sizes[d];
    const bool unit = idx::Contains(g.collapsed, d) || idx::Contains(g.operand_batching, d);
    if (s < 0 || s > operand.dims[d] || (unit && s > 1)) {
      return InvalidArgument("gather slice_sizes " + idx::Str(g.slice_sizes) + " are invalid for operand " +
                             operand.ToString());
    }
  }
  const Dims window = WindowDims(g, rank);
  const Dims batch = BatchDims(indices, g.index_vector_dim);
  const int64_t out_rank = static_cast<int64_t>(window.size() + batch.size());
  if (g.offset_dims.size() != window.size()) {
    return InvalidArgument("gather offset_dims " + idx::Str(g.offset_dims) + " must have " +
                           std::to_string(window.size()) + " entries");
  }
  CHIP_RETURN_IF_ERROR(idx::CheckDims(g.offset_dims, out_rank, true, "gather offset_dims"));
  Dims expect(out_rank);
  size_t wi = 0, bi = 0;
  for (int64_t j = 0; j < out_rank; ++j) {
    expect[j] = idx::Contains(g.offset_dims, j) ? g.slice_sizes[window[wi++]] : indices.dims[batch[bi++]];
  }
  if (out.dtype != operand.dtype || out.dims != expect) {
    return InvalidArgument("gather of " + operand.ToString() + " at " + indices.ToString() + " gives " +
                           DTypeName(operand.dtype) + idx::Str(expect) + ", not output " + out.ToString());
  }
  return Status::Ok();
}

Status RunGather(const exe::Gather& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& operand = *inputs[0].info;
  const TensorInfo& indices = *inputs[1].info;
  const TensorInfo& out = *outputs[0].info;
  if (out.num_elements() == 0) return Status::Ok();
  const GatherDims g = Decode(op);
  const int64_t rank = static_cast<int64_t>(operand.dims.size());
  const int64_t irank = static_cast<int64_t>(indices.dims.size());
  const Dims op_strides = idx::RowMajorStrides(operand.dims);
  const Dims ind_strides = idx::RowMajorStrides(indices.dims);
  const Dims batch = BatchDims(indices, g.index_vector_dim);
  const Dims window = WindowDims(g, rank);
  const int64_t ivd_stride = g.index_vector_dim < irank ? ind_strides[g.index_vector_dim] : 0;
  const int ie = DTypeByteSize(indices.dtype);
  const uint8_t* ind = static_cast<const uint8_t*>(inputs[1].data);

  // Where each batch position's slice starts in the operand (elements).
  Dims batch_shape(batch.size());
  for (size_t j = 0; j < batch.size(); ++j) batch_shape[j] = indices.dims[batch[j]];
  std::vector<int64_t> base(static_cast<size_t>(idx::Product(batch_shape)));
  std::vector<int> batching_pos(g.operand_batching.size());
  for (size_t i = 0; i < g.operand_batching.size(); ++i) {
    batching_pos[i] = static_cast<int>(std::find(batch.begin(), batch.end(), g.indices_batching[i]) - batch.begin());
  }
  int64_t b = 0;
  idx::ForEachIndex(batch_shape, [&](const Dims& bi) {
    int64_t pos = 0;
    for (size_t j = 0; j < batch.size(); ++j) pos += bi[j] * ind_strides[batch[j]];
    int64_t off = 0;
    for (size_t k = 0; k < g.start_index_map.size(); ++k) {
      const int64_t d = g.start_index_map[k];
      const int64_t v = idx::ReadIndex(indices.dtype, ind + (pos + static_cast<int64_t>(k) * ivd_stride) * ie);
      off += idx::Clamp(v, 0, operand.dims[d] - g.slice_sizes[d]) * op_strides[d];
    }
    for (size_t i = 0; i < g.operand_batching.size(); ++i) {
      off += bi[batching_pos[i]] * op_strides[g.operand_batching[i]];
    }
    base[b++] = off;
  });

  // Each output dim advances either the batch position or the offset inside the slice.
  const int64_t out_rank = static_cast<int64_t>(out.dims.size());
  const Dims batch_strides = idx::RowMajorStrides(batch_shape);
  Dims bmul(out_rank, 0), omul(out_rank, 0);
  size_t wi = 0, bj = 0;
  for (int64_t j = 0; j < out_rank; ++j) {
    if (idx::Contains(g.offset_dims, j)) omul[j] = op_strides[window[wi++]];
    else bmul[j] = batch_strides[bj++];
  }
  const int e = DTypeByteSize(operand.dtype);
  const uint8_t* src = static_cast<const uint8_t*>(inputs[0].data);
  uint8_t* dst = static_cast<uint8_t*>(outputs[0].data);
  if (out_rank == 0) {
    CopyElem(dst, src + base[0] * e, e);
    return Status::Ok();
  }
  const int64_t inner = out.dims[out_rank - 1];
  const int64_t rows = out.num_elements() / inner;
  const Dims outer(out.dims.begin(), out.dims.end() - 1);
  auto run_rows = [&](int64_t r0, int64_t r1) {
    Dims i(outer.size());
    int64_t rem = r0;
    for (int k = static_cast<int>(outer.size()) - 1; k >= 0; --k) {
      i[k] = rem % outer[k];
      rem /= outer[k];
    }
    for (int64_t r = r0; r < r1; ++r) {
      int64_t bpos = 0, opos = 0;
      for (size_t k = 0; k < outer.size(); ++k) {
        bpos += i[k] * bmul[k];
        opos += i[k] * omul[k];
      }
      uint8_t* d = dst + r * inner * e;
      const int64_t bl = bmul[out_rank - 1], ol = omul[out_rank - 1];
      if (bl == 0 && ol == 1) {
        std::memcpy(d, src + (base[bpos] + opos) * e, static_cast<size_t>(inner) * e);
      } else {
        for (int64_t t = 0; t < inner; ++t) CopyElem(d + t * e, src + (base[bpos + t * bl] + opos + t * ol) * e, e);
      }
      for (int k = static_cast<int>(outer.size()) - 1; k >= 0; --k) {
        if (++i[k] < outer[k]) break;
        i[k] = 0;
      }
    }
  };
  if (out.byte_size() >= kParallelMinBytes && rows > 1) {
    const int64_t grain = std::max<int64_t>(1, kParallelMinBytes / 4 / std::max<int64_t>(1, inner * e));
    ThreadPool::Global().ParallelFor(rows, grain, run_rows);
  } else {
    run_rows(0, rows);
  }
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
