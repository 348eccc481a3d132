// The chip's cost model (docs/chip-model.md): a kernel's modeled time is
//   launch + max(matrix time, vector time, HBM bytes / HBM bandwidth, SRAM bytes / SRAM bandwidth)
// where matrix time uses the padded flops the compiler recorded and the rate of the input dtype,
// vector time counts transcendentals at a quarter of the vector rate, and SRAM bytes are those
// of the arena temporaries the compiler placed in the on-chip SRAM.
#pragma once

#include <string>
#include <vector>

#include "pjrt_plugin/core/kernel_work.h"
#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/runtime/chip_config.h"

namespace chip {

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
// A copy between two buffers of the same chip: HBM read + write.
double ModelDeviceCopySeconds(double bytes, const ChipConfig& config);

// The transfers the device records on the trace's transfers track (runtime/chip_device.cc), by
// the name the trace gives them, and what each costs: `bytes` copied.
inline constexpr char kHostToDevice[] = "host_to_device";
inline constexpr char kDeviceToHost[] = "device_to_host";
inline constexpr char kDeviceCopy[] = "device_copy";
inline constexpr char kChipToChip[] = "chip_to_chip";
StatusOr<double> ModelTransferSeconds(const std::string& name, double bytes, const ChipConfig& config);

// The ChipConfig fields the functions above read: a config that differs from a recorded run's
// only in these re-times the recording exactly (jax_chip.what_if); any other field changes what
// is compiled or run (SRAM placement, matrix tile padding, capacity, device count).
const std::vector<std::string>& CostModelFields();

}  // namespace chip
