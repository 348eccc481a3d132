// The work one kernel launch does, as the cost model (runtime/cost_model.h) prices it: the
// compiler's static cost (schema KernelCost) plus what kernels whose work depends on the data add
// at run time.
#pragma once

#include "pjrt_plugin/core/dtype.h"

namespace chip {

struct KernelWork {
  double matrix_flops = 0;      // padded (see KernelCost in the schema)
  DType matrix_dtype = DType::kBF16;
  double vector_flops = 0;
  double transcendentals = 0;
  double bytes_read = 0;
  double bytes_written = 0;
  double sram_bytes_read = 0;
  double sram_bytes_written = 0;
};

}  // namespace chip
