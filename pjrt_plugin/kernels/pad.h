// stablehlo.pad (chip::exe::Pad): edge padding (negative values crop) and interior padding.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe { struct Pad; }
namespace kernels {

// Inputs: operand, padding value (0-d, the operand's dtype). Output: the padded tensor.
Status ValidatePad(const exe::Pad& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunPad(const exe::Pad& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
