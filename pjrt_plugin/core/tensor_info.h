// The type of one tensor (a program value, parameter or output): element type and dimensions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pjrt_plugin/core/dtype.h"

namespace chip {

struct TensorInfo {
  DType dtype = DType::kInvalid;
  std::vector<int64_t> dims;
  int64_t num_elements() const;
  int64_t byte_size() const;
  std::string ToString() const;  // "bf16[4,128]"
};

}  // namespace chip
