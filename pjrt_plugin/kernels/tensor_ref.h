// What a kernel sees of one input or output: its type and its bound storage.
#pragma once

#include <cstdint>
#include <vector>

#include "pjrt_plugin/core/tensor_info.h"

namespace chip {
namespace kernels {

struct TensorRef {
  const TensorInfo* info = nullptr;
  void* data = nullptr;  // inputs are only read
};

using TensorInfos = std::vector<const TensorInfo*>;
using TensorRefs = std::vector<TensorRef>;

}  // namespace kernels
}  // namespace chip
