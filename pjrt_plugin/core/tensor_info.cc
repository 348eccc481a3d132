#include "pjrt_plugin/core/tensor_info.h"

namespace chip {

int64_t TensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t TensorInfo::byte_size() const { return PackedByteSize(dtype, num_elements()); }

std::string TensorInfo::ToString() const {
  std::string s = DTypeName(dtype);
  s += "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace chip
