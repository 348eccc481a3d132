#include "pjrt_plugin/runtime/cost_model.h"

#include <algorithm>

namespace chip {
namespace {

double MatrixRate(DType t, const ChipConfig& c) {
  switch (t) {
    case DType::kBF16:
    case DType::kF16:
      return c.matrix_bf16_flops;
    case DType::kF8E4M3FN:
    case DType::kF8E5M2:
    case DType::kF8E4M3FNUZ:
    case DType::kF8E5M2FNUZ:
      return c.matrix_fp8_flops;
    case DType::kS8:
    case DType::kU8:
    case DType::kPred:
    case DType::kS4:  // int4 weights are widened to int8 on their way into the array
    case DType::kU4:
      return c.matrix_int8_ops;
    default:  // f32 and wider integers run at the f32 rate
      return c.matrix_f32_flops;
  }
}

double SafeDiv(double num, double rate) { return (num > 0 && rate > 0) ? num / rate : 0.0; }

}  // namespace

ModeledTime ModelKernel(const KernelWork& work, const ChipConfig& config) {
  ModeledTime t;
  t.launch_s = config.kernel_launch_s;
  t.matrix_s = SafeDiv(work.matrix_flops, MatrixRate(work.matrix_dtype, config));
  const double ratio = config.transcendental_ratio > 0 ? config.transcendental_ratio : 1.0;
  const double vector_ops = std::max(0.0, work.vector_flops) + std::max(0.0, work.transcendentals) / ratio;
  t.vector_s = SafeDiv(vector_ops, config.vector_flops);
  t.memory_s = SafeDiv(std::max(0.0, work.bytes_read) + std::max(0.0, work.bytes_written), config.hbm_bandwidth);
  t.sram_s = SafeDiv(std::max(0.0, work.sram_bytes_read) + std::max(0.0, work.sram_bytes_written),
                     config.sram_bandwidth);
  double busy = 0;
  t.bound = "launch";
  if (t.matrix_s > busy) { busy = t.matrix_s; t.bound = "matrix"; }
  if (t.vector_s > busy) { busy = t.vector_s; t.bound = "vector"; }
  if (t.memory_s > busy) { busy = t.memory_s; t.bound = "memory"; }
  if (t.sram_s > busy) { busy = t.sram_s; t.bound = "sram"; }
  t.total_s = t.launch_s + busy;
  return t;
}

double ModelHostTransferSeconds(double bytes, const ChipConfig& config) {
  return SafeDiv(bytes, config.host_link_bandwidth);
}

double ModelChipTransferSeconds(double bytes, const ChipConfig& config) {
  return SafeDiv(bytes, config.chip_link_bandwidth);
}

double ModelDeviceCopySeconds(double bytes, const ChipConfig& config) {
  return SafeDiv(2.0 * bytes, config.hbm_bandwidth);
}

StatusOr<double> ModelTransferSeconds(const std::string& name, double bytes, const ChipConfig& config) {
  if (name == kHostToDevice || name == kDeviceToHost) return ModelHostTransferSeconds(bytes, config);
  if (name == kDeviceCopy) return ModelDeviceCopySeconds(bytes, config);
  if (name == kChipToChip) return ModelChipTransferSeconds(bytes, config);
  return InvalidArgument("unknown transfer '" + name + "' (known: " + kHostToDevice + ", " + kDeviceToHost +
                         ", " + kDeviceCopy + ", " + kChipToChip + ")");
}

const std::vector<std::string>& CostModelFields() {
  static const std::vector<std::string> fields = {
      "hbm_bandwidth",   "matrix_bf16_flops", "matrix_int8_ops",     "matrix_fp8_flops", "matrix_f32_flops",
      "vector_flops",
      "transcendental_ratio", "sram_bandwidth", "kernel_launch_s", "host_link_bandwidth", "chip_link_bandwidth"};
  return fields;
}

}  // namespace chip
