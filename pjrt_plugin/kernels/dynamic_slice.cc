#include "pjrt_plugin/kernels/dynamic_slice.h"

#include <cstring>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using idx::Dims;

Status CheckStarts(const TensorInfos& inputs, size_t first, size_t rank, const std::string& op) {
  if (inputs.size() != first + rank) {
    return InvalidArgument(op + " of a rank-" + std::to_string(rank) + " operand takes " + std::to_string(first + rank) +
                           " inputs (" + std::to_string(rank) + " start indices), got " + std::to_string(inputs.size()));
  }
  for (size_t d = 0; d < rank; ++d) {
    CHIP_RETURN_IF_ERROR(idx::CheckScalarIndex(*inputs[first + d], op + " start index " + std::to_string(d)));
  }
  return Status::Ok();
}

// Start indices clamped to [0, dim - size] (XLA semantics).
Dims ClampedStarts(const TensorRefs& inputs, size_t first, const Dims& dims, const Dims& sizes) {
  Dims start(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    const TensorRef& s = inputs[first + d];
    start[d] = idx::Clamp(idx::ReadIndex(s.info->dtype, s.data), 0, dims[d] - sizes[d]);
  }
  return start;
}

}  // namespace

Status ValidateDynamicSlice(const exe::DynamicSlice& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.empty() || outputs.size() != 1) {
    return InvalidArgument("dynamic_slice takes an operand and start indices and has 1 output");
  }
  const TensorInfo& in = *inputs[0];
  const TensorInfo& out = *outputs[0];
  CHIP_RETURN_IF_ERROR(CheckStarts(inputs, 1, in.dims.size(), "dynamic_slice"));
  const Dims sizes = idx::ToDims(op.slice_sizes());
  if (sizes.size() != in.dims.size()) {
    return InvalidArgument("dynamic_slice slice_sizes " + idx::Str(sizes) + " do not match operand " + in.ToString());
  }
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] < 0 || sizes[d] > in.dims[d]) {
      return InvalidArgument("dynamic_slice slice_sizes " + idx::Str(sizes) + " exceed operand " + in.ToString());
    }
  }
  if (out.dtype != in.dtype || out.dims != sizes) {
    return InvalidArgument("dynamic_slice of " + in.ToString() + " with slice_sizes " + idx::Str(sizes) +
                           " cannot write output " + out.ToString());
  }
  return Status::Ok();
}

Status RunDynamicSlice(const exe::DynamicSlice& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& in = *inputs[0].info;
  const TensorInfo& out = *outputs[0].info;
  if (out.num_elements() == 0) return Status::Ok();
  const Dims sizes = out.dims;
  const Dims start = ClampedStarts(inputs, 1, in.dims, sizes);
  idx::CopyBlock(static_cast<const uint8_t*>(inputs[0].data), in.dims, start, static_cast<uint8_t*>(outputs[0].data),
                 out.dims, Dims(out.dims.size(), 0), sizes, DTypeByteSize(in.dtype));
  return Status::Ok();
}

Status ValidateDynamicUpdateSlice(const exe::DynamicUpdateSlice& op, const TensorInfos& inputs,
                                  const TensorInfos& outputs) {
  if (inputs.size() < 2 || outputs.size() != 1) {
    return InvalidArgument("dynamic_update_slice takes an operand, an update and start indices and has 1 output");
  }
  const TensorInfo& in = *inputs[0];
  const TensorInfo& upd = *inputs[1];
  const TensorInfo& out = *outputs[0];
  CHIP_RETURN_IF_ERROR(CheckStarts(inputs, 2, in.dims.size(), "dynamic_update_slice"));
  bool ok = upd.dtype == in.dtype && upd.dims.size() == in.dims.size();
  for (size_t d = 0; ok && d < in.dims.size(); ++d) ok = upd.dims[d] <= in.dims[d];
  if (!ok) {
    return InvalidArgument("dynamic_update_slice update " + upd.ToString() + " does not fit operand " + in.ToString());
  }
  if (out.dtype != in.dtype || out.dims != in.dims) {
    return InvalidArgument("dynamic_update_slice of " + in.ToString() + " cannot write output " + out.ToString());
  }
  return Status::Ok();
}

Status RunDynamicUpdateSlice(const exe::DynamicUpdateSlice& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& in = *inputs[0].info;
  const TensorInfo& upd = *inputs[1].info;
  uint8_t* out = static_cast<uint8_t*>(outputs[0].data);
  const int64_t bytes = in.byte_size();
  if (bytes == 0) return Status::Ok();
  const Dims start = ClampedStarts(inputs, 2, in.dims, upd.dims);
  // An update living in the output's memory is staged before the operand is copied over it.
  const uint8_t* update = static_cast<const uint8_t*>(inputs[1].data);
  AlignedBuffer staged;
  if (idx::Overlaps(inputs[1], outputs[0])) {
    staged.Resize(static_cast<size_t>(upd.byte_size()));
    std::memcpy(staged.data(), update, upd.byte_size());
    update = staged.as<uint8_t>();
  }
  if (inputs[0].data != outputs[0].data) std::memmove(out, inputs[0].data, bytes);  // else: in place
  idx::CopyBlock(update, upd.dims, Dims(upd.dims.size(), 0), out, in.dims, start, upd.dims, DTypeByteSize(in.dtype));
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
