#include "pjrt_plugin/kernels/concatenate.h"

#include <cstring>
#include <string>

#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {

Status ValidateConcatenate(const exe::Concatenate& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.empty() || outputs.size() != 1) {
    return InvalidArgument("concatenate takes at least 1 input and 1 output, got " + std::to_string(inputs.size()) +
                           " and " + std::to_string(outputs.size()));
  }
  const TensorInfo& out = *outputs[0];
  const int64_t dim = op.dim();
  const int64_t rank = static_cast<int64_t>(out.dims.size());
  if (dim < 0 || dim >= rank) {
    return InvalidArgument("concatenate dim " + std::to_string(dim) + " is out of range for output " + out.ToString());
  }
  int64_t total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo& in = *inputs[i];
    bool ok = in.dtype == out.dtype && static_cast<int64_t>(in.dims.size()) == rank;
    for (int64_t d = 0; ok && d < rank; ++d) ok = d == dim || in.dims[d] == out.dims[d];
    if (!ok) {
      return InvalidArgument("concatenate along dim " + std::to_string(dim) + ": input " + std::to_string(i) + " " +
                             in.ToString() + " does not fit output " + out.ToString());
    }
    total += in.dims[dim];
  }
  if (total != out.dims[dim]) {
    return InvalidArgument("concatenate along dim " + std::to_string(dim) + ": inputs add up to " +
                           std::to_string(total) + " but output " + out.ToString() + " has " +
                           std::to_string(out.dims[dim]));
  }
  return Status::Ok();
}

Status RunConcatenate(const exe::Concatenate& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& out = *outputs[0].info;
  if (out.num_elements() == 0) return Status::Ok();
  const int64_t dim = op.dim();
  int64_t outer = 1, inner = DTypeByteSize(out.dtype);
  for (int64_t d = 0; d < dim; ++d) outer *= out.dims[d];
  for (size_t d = dim + 1; d < out.dims.size(); ++d) inner *= out.dims[d];
  const int64_t out_row = out.dims[dim] * inner;
  uint8_t* dst = static_cast<uint8_t*>(outputs[0].data);
  int64_t col = 0;
  for (const TensorRef& in : inputs) {
    const int64_t row = in.info->dims[dim] * inner;
    const uint8_t* src = static_cast<const uint8_t*>(in.data);
    if (row > 0) {
      for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * out_row + col, src + o * row, row);
    }
    col += row;
  }
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
