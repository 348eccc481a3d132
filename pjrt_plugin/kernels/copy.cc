#include "pjrt_plugin/kernels/copy.h"

#include <cstring>
#include <string>

#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {

Status ValidateCopy(const exe::Copy& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.size() != 1 || outputs.size() != 1) {
    return InvalidArgument("copy takes 1 input and 1 output, got " + std::to_string(inputs.size()) + " and " +
                           std::to_string(outputs.size()));
  }
  if (inputs[0]->byte_size() != outputs[0]->byte_size()) {
    return InvalidArgument("copy of " + inputs[0]->ToString() + " into " + outputs[0]->ToString() +
                           ": byte sizes differ");
  }
  return Status::Ok();
}

Status RunCopy(const exe::Copy& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const int64_t bytes = outputs[0].info->byte_size();
  if (bytes > 0 && inputs[0].data != outputs[0].data) std::memmove(outputs[0].data, inputs[0].data, bytes);
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
