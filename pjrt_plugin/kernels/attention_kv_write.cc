#include "pjrt_plugin/kernels/attention_kv_write.h"

#include <cstring>
#include <string>

#include "pjrt_plugin/kernels/attention_common.h"

namespace chip {
namespace kernels {

Status ValidatePagedKvWrite(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                            const TensorInfos& outputs) {
  CHIP_RETURN_IF_ERROR(attrs.OnlyThese({}));
  if (inputs.size() != 5 || outputs.size() != 2) {
    return InvalidArgument("takes 5 inputs (k_pool, v_pool, k_new, v_new, slots) and 2 outputs, got " +
                           std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
  }
  CHIP_RETURN_IF_ERROR(attention::CheckPool(*inputs[0], "k_pool"));
  CHIP_RETURN_IF_ERROR(attention::CheckPool(*inputs[1], "v_pool"));
  if (inputs[1]->dims != inputs[0]->dims) {
    return InvalidArgument("v_pool " + inputs[1]->ToString() + " must have k_pool's shape " + inputs[0]->ToString());
  }
  CHIP_RETURN_IF_ERROR(attention::CheckS32(*inputs[4], "slots", 1));
  const int64_t tokens = inputs[4]->dims[0];
  for (int p = 0; p < 2; ++p) {
    const TensorInfo& pool = *inputs[p];
    const TensorInfo& fresh = *inputs[2 + p];
    const std::string name = p == 0 ? "k_new" : "v_new";
    if (fresh.dtype != pool.dtype || fresh.dims.size() != 3 || fresh.dims[0] != tokens ||
        fresh.dims[1] != pool.dims[1] || fresh.dims[2] != pool.dims[2]) {
      return InvalidArgument(name + " must be " + std::string(DTypeName(pool.dtype)) + "[" + std::to_string(tokens) +
                             "," + std::to_string(pool.dims[1]) + "," + std::to_string(pool.dims[2]) + "], got " +
                             fresh.ToString());
    }
    if (outputs[p]->dtype != pool.dtype || outputs[p]->dims != pool.dims) {
      return InvalidArgument("output " + std::to_string(p) + " " + outputs[p]->ToString() + " must match its pool " +
                             pool.ToString());
    }
  }
  return Status::Ok();
}

Status RunPagedKvWrite(const NoAttributes& /*params*/, const TensorRefs& inputs, const TensorRefs& outputs,
                       KernelWork* work) {
  const TensorRef& slots_ref = inputs[4];
  const int32_t* slots = static_cast<const int32_t*>(slots_ref.data);
  const int64_t tokens = slots_ref.info->dims[0];
  const int64_t rows = inputs[0].info->dims[0];
  int64_t kept = 0;
  for (int64_t t = 0; t < tokens; ++t) kept += (slots[t] >= 0 && slots[t] < rows) ? 1 : 0;
  work->bytes_read += static_cast<double>(slots_ref.info->byte_size());
  for (int p = 0; p < 2; ++p) {
    const TensorRef& pool = inputs[p];
    const TensorRef& fresh = inputs[2 + p];
    uint8_t* out = static_cast<uint8_t*>(outputs[p].data);
    const int64_t pool_bytes = pool.info->byte_size();
    if (out != pool.data && pool_bytes > 0) {  // not in place: the result starts as the pool
      std::memmove(out, pool.data, static_cast<size_t>(pool_bytes));
      work->bytes_read += static_cast<double>(pool_bytes);
      work->bytes_written += static_cast<double>(pool_bytes);
    }
    const int64_t row_bytes = pool.info->dims[1] * pool.info->dims[2] * DTypeByteSize(pool.info->dtype);
    const uint8_t* src = static_cast<const uint8_t*>(fresh.data);
    for (int64_t t = 0; t < tokens; ++t) {
      const int64_t s = slots[t];
      if (s < 0 || s >= rows) continue;  // padding (-1) and out-of-range slots are dropped
      std::memcpy(out + s * row_bytes, src + t * row_bytes, static_cast<size_t>(row_bytes));
    }
    work->bytes_read += static_cast<double>(kept * row_bytes);
    work->bytes_written += static_cast<double>(kept * row_bytes);
  }
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
