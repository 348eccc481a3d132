// The chip model: sizes and rates the emulator enforces and the cost model uses. Defaults are
// docs/chip-model.md's table. The Python package reads the user's config (file + environment)
// and passes it to PJRT_Client_Create as named options; FromNamedOptions applies them.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>
#include <map>

#include "pjrt_plugin/core/status.h"

namespace chip {

struct ChipConfig {
  int num_devices = 1;                       // 1..8
  int64_t hbm_bytes = int64_t{16} << 30;     // device memory capacity
  double hbm_bandwidth = 819e9;              // bytes/s
  double matrix_bf16_flops = 197e12;         // bf16/f16 in, f32 accumulate
  double matrix_int8_ops = 394e12;           // int8 in, int32 accumulate
  double matrix_f32_flops = 197e12 / 4;      // f32 matmul at a quarter of the bf16 rate
  double vector_flops = 12e12;               // f32 elementwise
  double transcendental_ratio = 0.25;        // transcendentals run at this fraction of vector rate
  int64_t sram_bytes = int64_t{128} << 20;   // on-chip scratchpad
  double sram_bandwidth = 8e12;              // bytes/s, SRAM <-> compute units
  double kernel_launch_s = 1e-6;
  double host_link_bandwidth = 32e9;         // host<->device copies, bytes/s
  double chip_link_bandwidth = 100e9;        // per link
  int chip_links = 4;
  int matrix_tile = 128;                     // systolic array is matrix_tile x matrix_tile

  // Option names are the field names above ("num_devices", "hbm_bytes", ...). Integer fields take
  // int64 values, rate fields take float or int64. Unknown names or out-of-range values give
  // INVALID_ARGUMENT naming the option.
  using OptionValue = std::variant<int64_t, double, bool, std::string>;
  static StatusOr<ChipConfig> FromNamedOptions(const std::map<std::string, OptionValue>& options);
  std::string ToString() const;
};

}  // namespace chip
