// The chip's cost model (docs/chip-model.md): a kernel's modeled time is
//   launch + max(matrix time, vector time, HBM bytes / HBM bandwidth, SRAM bytes / SRAM bandwidth)
// where matrix time uses the padded flops the compiler recorded and the rate of the input dtype,
// vector time counts transcendentals at a quarter of the vector rate, and SRAM bytes are those
// of the arena temporaries the compiler placed in the on-chip SRAM.
#pragma once

#include "pjrt_plugin/runtime/chip_config.h"
#include "pjrt_plugin/runtime/dtype.h"

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

struct ModeledTime {
  double total_s = 0;
  double launch_s = 0;
  double matrix_s = 0;
  double vector_s = 0;
  double memory_s = 0;          // HBM
  double sram_s = 0;
  // "matrix", "vector", "memory" (HBM) or "sram": what bounds the kernel (or "launch" when all
  // are ~0).
  const char* bound = "launch";
};

ModeledTime ModelKernel(const KernelWork& work, const ChipConfig& config);
// Host<->device copy over the host link.
double ModelHostTransferSeconds(double bytes, const ChipConfig& config);
// Chip-to-chip copy over one link.
double ModelChipTransferSeconds(double bytes, const ChipConfig& config);

}  // namespace chip
