#include "pjrt_plugin/kernels/scatter.h"

#include <cstring>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/kernels/region_combine.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using idx::Dims;

struct ScatterDims {
  Dims update_window, inserted, input_batching, indices_batching, to_operand;
  int64_t index_vector_dim = 0;
};

ScatterDims Decode(const exe::Scatter& op) {
  ScatterDims s;
  s.update_window = idx::ToDims(op.update_window_dims());
  s.inserted = idx::ToDims(op.inserted_window_dims());
  s.input_batching = idx::ToDims(op.input_batching_dims());
  s.indices_batching = idx::ToDims(op.scatter_indices_batching_dims());
  s.to_operand = idx::ToDims(op.scatter_dims_to_operand_dims());
  s.index_vector_dim = op.index_vector_dim();
  return s;
}

// Operand dims an update window spans (neither inserted nor batching), in order.
Dims WindowOperandDims(const ScatterDims& s, int64_t rank) {
  Dims w;
  for (int64_t d = 0; d < rank; ++d) {
    if (!idx::Contains(s.inserted, d) && !idx::Contains(s.input_batching, d)) w.push_back(d);
  }
  return w;
}

Dims Without(int64_t rank, const Dims& drop) {
  Dims out;
  for (int64_t d = 0; d < rank; ++d) {
    if (!idx::Contains(drop, d)) out.push_back(d);
  }
  return out;
}

}  // namespace

Status ValidateScatter(const exe::Scatter& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  const size_t n = outputs.size();
  if (n == 0 || inputs.size() != 2 * n + 1) {
    return InvalidArgument("scatter with " + std::to_string(n) + " outputs takes " + std::to_string(2 * n + 1) +
                           " inputs (operands, indices, updates), got " + std::to_string(inputs.size()));
  }
  const TensorInfo& operand = *inputs[0];
  const TensorInfo& indices = *inputs[n];
  const TensorInfo& update = *inputs[n + 1];
  std::vector<DType> dtypes;
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo& o = *inputs[i];
    const TensorInfo& u = *inputs[n + 1 + i];
    if (o.dims != operand.dims || u.dims != update.dims || u.dtype != o.dtype || outputs[i]->dtype != o.dtype ||
        outputs[i]->dims != o.dims) {
      return InvalidArgument("scatter operand " + std::to_string(i) + " " + o.ToString() + ", update " + u.ToString() +
                             " and output " + outputs[i]->ToString() + " are inconsistent");
    }
    dtypes.push_back(o.dtype);
  }
  if (!idx::IsIndexType(indices.dtype)) {
    return InvalidArgument("scatter indices " + indices.ToString() + " must be integers");
  }
  const ScatterDims s = Decode(op);
  const int64_t rank = static_cast<int64_t>(operand.dims.size());
  const int64_t irank = static_cast<int64_t>(indices.dims.size());
  const int64_t urank = static_cast<int64_t>(update.dims.size());
  if (s.index_vector_dim < 0 || s.index_vector_dim > irank) {
    return InvalidArgument("scatter index_vector_dim " + std::to_string(s.index_vector_dim) +
                           " is out of range for indices " + indices.ToString());
  }
  const int64_t k = s.index_vector_dim < irank ? indices.dims[s.index_vector_dim] : 1;
  if (static_cast<int64_t>(s.to_operand.size()) != k) {
    return InvalidArgument("scatter scatter_dims_to_operand_dims " + idx::Str(s.to_operand) + " has " +
                           std::to_string(s.to_operand.size()) + " entries for index vectors of " + std::to_string(k));
  }
  CHIP_RETURN_IF_ERROR(idx::CheckDims(s.to_operand, rank, false, "scatter scatter_dims_to_operand_dims"));
  CHIP_RETURN_IF_ERROR(idx::CheckDims(s.update_window, urank, true, "scatter update_window_dims"));
  CHIP_RETURN_IF_ERROR(idx::CheckDims(s.inserted, rank, true, "scatter inserted_window_dims"));
  CHIP_RETURN_IF_ERROR(idx::CheckDims(s.input_batching, rank, true, "scatter input_batching_dims"));
  CHIP_RETURN_IF_ERROR(idx::CheckDims(s.indices_batching, irank, false, "scatter scatter_indices_batching_dims"));
  if (s.input_batching.size() != s.indices_batching.size()) {
    return InvalidArgument("scatter input_batching_dims and scatter_indices_batching_dims differ in length");
  }
  for (size_t i = 0; i < s.input_batching.size(); ++i) {
    const int64_t od = s.input_batching[i], id = s.indices_batching[i];
    if (id == s.index_vector_dim || idx::Contains(s.inserted, od) || idx::Contains(s.to_operand, od) ||
        operand.dims[od] != indices.dims[id]) {
      return InvalidArgument("scatter batching dims operand " + std::to_string(od) + " / indices " +
                             std::to_string(id) + " are inconsistent with " + operand.ToString() + " and " +
                             indices.ToString());
    }
  }
  const Dims window = WindowOperandDims(s, rank);
  if (window.size() != s.update_window.size()) {
    return InvalidArgument("scatter update_window_dims " + idx::Str(s.update_window) + " must have " +
                           std::to_string(window.size()) + " entries for operand " + operand.ToString());
  }
  for (size_t m = 0; m < window.size(); ++m) {
    if (update.dims[s.update_window[m]] > operand.dims[window[m]]) {
      return InvalidArgument("scatter update window " + update.ToString() + " is larger than operand " +
                             operand.ToString());
    }
  }
  const Dims scatter_udims = Without(urank, s.update_window);
  Dims batch;
  for (int64_t d = 0; d < irank; ++d) {
    if (d != s.index_vector_dim) batch.push_back(d);
  }
  bool ok = scatter_udims.size() == batch.size();
  for (size_t j = 0; ok && j < batch.size(); ++j) ok = update.dims[scatter_udims[j]] == indices.dims[batch[j]];
  if (!ok) {
    return InvalidArgument("scatter updates " + update.ToString() + " do not match indices " + indices.ToString());
  }
  return Combiner::Validate(op.kind(), op.update(), dtypes, "scatter update");
}

Status RunScatter(const exe::Scatter& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const size_t n = outputs.size();
  const TensorInfo& operand = *inputs[0].info;
  const TensorInfo& indices = *inputs[n].info;
  const TensorInfo& update = *inputs[n + 1].info;
  // Operands start the results (nothing to copy when updated in place).
  for (size_t i = 0; i < n; ++i) {
    if (inputs[i].data != outputs[i].data && outputs[i].info->byte_size() > 0) {
      std::memmove(outputs[i].data, inputs[i].data, outputs[i].info->byte_size());
    }
  }
  if (update.num_elements() == 0 || operand.num_elements() == 0) return Status::Ok();
  // Indices or updates living in an output's memory are read from a copy.
  std::vector<const uint8_t*> in(inputs.size());
  std::vector<AlignedBuffer> staged(inputs.size());
  for (size_t i = n; i < inputs.size(); ++i) {
    in[i] = static_cast<const uint8_t*>(inputs[i].data);
    for (const TensorRef& o : outputs) {
      if (idx::Overlaps(inputs[i], o)) {
        staged[i].Resize(static_cast<size_t>(inputs[i].info->byte_size()));
        std::memcpy(staged[i].data(), inputs[i].data, inputs[i].info->byte_size());
        in[i] = staged[i].as<uint8_t>();
        break;
      }
    }
  }

  const ScatterDims s = Decode(op);
  const int64_t rank = static_cast<int64_t>(operand.dims.size());
  const int64_t irank = static_cast<int64_t>(indices.dims.size());
  const int64_t urank = static_cast<int64_t>(update.dims.size());
  const Dims op_strides = idx::RowMajorStrides(operand.dims);
  const Dims ind_strides = idx::RowMajorStrides(indices.dims);
  const Dims upd_strides = idx::RowMajorStrides(update.dims);
  const Dims window = WindowOperandDims(s, rank);
  const Dims scatter_udims = Without(urank, s.update_window);
  Dims batch;
  for (int64_t d = 0; d < irank; ++d) {
    if (d != s.index_vector_dim) batch.push_back(d);
  }
  const int64_t ivd_stride = s.index_vector_dim < irank ? ind_strides[s.index_vector_dim] : 0;
  std::vector<int> batching_pos(s.input_batching.size());
  for (size_t i = 0; i < s.input_batching.size(); ++i) {
    batching_pos[i] = static_cast<int>(std::find(batch.begin(), batch.end(), s.indices_batching[i]) - batch.begin());
  }
  // Window extent of the update in every operand dim (1 for inserted and batching dims).
  Dims wsize(rank, 1);
  for (size_t m = 0; m < window.size(); ++m) wsize[window[m]] = update.dims[s.update_window[m]];
  Dims scatter_shape(batch.size());
  for (size_t j = 0; j < batch.size(); ++j) scatter_shape[j] = indices.dims[batch[j]];
  // The window walks its last dim in runs; the other window dims with an odometer.
  const size_t nw = window.size();
  Dims win_outer;
  for (size_t m = 0; m + 1 < nw; ++m) win_outer.push_back(update.dims[s.update_window[m]]);
  const int64_t run = nw ? update.dims[s.update_window[nw - 1]] : 1;
  const int64_t run_ostride = nw ? op_strides[window[nw - 1]] : 1;
  const int64_t run_ustride = nw ? upd_strides[s.update_window[nw - 1]] : 1;

  std::vector<DType> dtypes(n);
  std::vector<int> esize(n);
  for (size_t i = 0; i < n; ++i) {
    dtypes[i] = inputs[i].info->dtype;
    esize[i] = DTypeByteSize(dtypes[i]);
  }
  Combiner combiner(op.kind(), op.update(), dtypes);
  std::vector<void*> acc(n);
  std::vector<const void*> x(n);
  const int ie = DTypeByteSize(indices.dtype);
  Dims start(rank);
  idx::ForEachIndex(scatter_shape, [&](const Dims& si) {
    int64_t ipos = 0, ubase = 0;
    for (size_t j = 0; j < batch.size(); ++j) {
      ipos += si[j] * ind_strides[batch[j]];
      ubase += si[j] * upd_strides[scatter_udims[j]];
    }
    std::fill(start.begin(), start.end(), 0);
    for (size_t k = 0; k < s.to_operand.size(); ++k) {
      start[s.to_operand[k]] = idx::ReadIndex(indices.dtype, in[n] + (ipos + static_cast<int64_t>(k) * ivd_stride) * ie);
    }
    for (size_t i = 0; i < s.input_batching.size(); ++i) start[s.input_batching[i]] = si[batching_pos[i]];
    int64_t obase = 0;
    for (int64_t d = 0; d < rank; ++d) {
      if (start[d] < 0 || start[d] > operand.dims[d] - wsize[d]) return;  // the window does not fit: skipped
      obase += start[d] * op_strides[d];
    }
    auto apply = [&](int64_t ooff, int64_t uoff) {
      for (size_t i = 0; i < n; ++i) {
        acc[i] = static_cast<uint8_t*>(outputs[i].data) + ooff * esize[i];
        x[i] = in[n + 1 + i] + uoff * esize[i];
      }
      combiner.Combine(acc.data(), run_ostride, x.data(), run_ustride, run);
    };
    if (win_outer.empty()) {
      apply(obase, ubase);
      return;
    }
    idx::ForEachIndex(win_outer, [&](const Dims& wi) {
      int64_t ooff = obase, uoff = ubase;
      for (size_t m = 0; m < wi.size(); ++m) {
        ooff += wi[m] * op_strides[window[m]];
        uoff += wi[m] * upd_strides[s.update_window[m]];
      }
      apply(ooff, uoff);
    });
  });
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
