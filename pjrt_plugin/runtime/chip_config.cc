#include "pjrt_plugin/runtime/chip_config.h"

#include <cmath>
#include <sstream>

namespace chip {
namespace {

const char* OptionTypeName(const ChipConfig::OptionValue& v) {
  switch (v.index()) {
    case 0: return "int64";
    case 1: return "float";
    case 2: return "bool";
    default: return "string";
  }
}

Status GetInt(const std::string& name, const ChipConfig::OptionValue& v, int64_t* out) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) {
    *out = *i;
    return Status::Ok();
  }
  return InvalidArgument("chip option '" + name + "' takes an int64 value, got a " + OptionTypeName(v));
}

Status GetDouble(const std::string& name, const ChipConfig::OptionValue& v, double* out) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) {
    *out = static_cast<double>(*i);
    return Status::Ok();
  }
  if (const double* d = std::get_if<double>(&v)) {
    *out = *d;
    return Status::Ok();
  }
  return InvalidArgument("chip option '" + name + "' takes a float or int64 value, got a " + OptionTypeName(v));
}

Status CheckRange(const std::string& name, double value, double lo, double hi, bool lo_inclusive) {
  const bool ok = std::isfinite(value) && (lo_inclusive ? value >= lo : value > lo) && value <= hi;
  if (ok) return Status::Ok();
  std::ostringstream os;
  os << "chip option '" << name << "' = " << value << " is out of range: must be "
     << (lo_inclusive ? ">= " : "> ") << lo << " and <= " << hi;
  return InvalidArgument(os.str());
}

}  // namespace

StatusOr<ChipConfig> ChipConfig::FromNamedOptions(const std::map<std::string, OptionValue>& options) {
  ChipConfig c;
  constexpr double kHuge = 1e30;
  for (const auto& [name, value] : options) {
    int64_t i = 0;
    double d = 0;
    if (name == "num_devices") {
      CHIP_RETURN_IF_ERROR(GetInt(name, value, &i));
      CHIP_RETURN_IF_ERROR(CheckRange(name, static_cast<double>(i), 1, 8, true));
      c.num_devices = static_cast<int>(i);
    } else if (name == "hbm_bytes") {
      CHIP_RETURN_IF_ERROR(GetInt(name, value, &i));
      CHIP_RETURN_IF_ERROR(CheckRange(name, static_cast<double>(i), 0, 9.0e18, false));
      c.hbm_bytes = i;
    } else if (name == "sram_bytes") {
      CHIP_RETURN_IF_ERROR(GetInt(name, value, &i));
      CHIP_RETURN_IF_ERROR(CheckRange(name, static_cast<double>(i), 0, 9.0e18, false));
      c.sram_bytes = i;
    } else if (name == "chip_links") {
      CHIP_RETURN_IF_ERROR(GetInt(name, value, &i));
      CHIP_RETURN_IF_ERROR(CheckRange(name, static_cast<double>(i), 1, 1024, true));
      c.chip_links = static_cast<int>(i);
    } else if (name == "matrix_tile") {
      CHIP_RETURN_IF_ERROR(GetInt(name, value, &i));
      CHIP_RETURN_IF_ERROR(CheckRange(name, static_cast<double>(i), 1, 65536, true));
      c.matrix_tile = static_cast<int>(i);
    } else if (name == "hbm_bandwidth" || name == "sram_bandwidth" || name == "matrix_bf16_flops" ||
               name == "matrix_int8_ops" ||
               name == "matrix_f32_flops" || name == "vector_flops" ||
               name == "host_link_bandwidth" || name == "chip_link_bandwidth") {
      CHIP_RETURN_IF_ERROR(GetDouble(name, value, &d));
      CHIP_RETURN_IF_ERROR(CheckRange(name, d, 0, kHuge, false));
      if (name == "hbm_bandwidth") c.hbm_bandwidth = d;
      else if (name == "sram_bandwidth") c.sram_bandwidth = d;
      else if (name == "matrix_bf16_flops") c.matrix_bf16_flops = d;
      else if (name == "matrix_int8_ops") c.matrix_int8_ops = d;
      else if (name == "matrix_f32_flops") c.matrix_f32_flops = d;
      else if (name == "vector_flops") c.vector_flops = d;
      else if (name == "host_link_bandwidth") c.host_link_bandwidth = d;
      else c.chip_link_bandwidth = d;
    } else if (name == "transcendental_ratio") {
      CHIP_RETURN_IF_ERROR(GetDouble(name, value, &d));
      CHIP_RETURN_IF_ERROR(CheckRange(name, d, 0, 1, false));
      c.transcendental_ratio = d;
    } else if (name == "kernel_launch_s") {
      CHIP_RETURN_IF_ERROR(GetDouble(name, value, &d));
      CHIP_RETURN_IF_ERROR(CheckRange(name, d, 0, 1, true));
      c.kernel_launch_s = d;
    } else {
      return InvalidArgument(
          "unknown chip option '" + name +
          "' (known: num_devices, hbm_bytes, hbm_bandwidth, matrix_bf16_flops, matrix_int8_ops, "
          "matrix_f32_flops, vector_flops, transcendental_ratio, sram_bytes, sram_bandwidth, kernel_launch_s, "
          "host_link_bandwidth, chip_link_bandwidth, chip_links, matrix_tile)");
    }
  }
  return c;
}

std::string ChipConfig::ToString() const {
  std::ostringstream os;
  os << "ChipConfig{num_devices=" << num_devices << ", hbm_bytes=" << hbm_bytes
     << ", hbm_bandwidth=" << hbm_bandwidth << ", matrix_bf16_flops=" << matrix_bf16_flops
     << ", matrix_int8_ops=" << matrix_int8_ops << ", matrix_f32_flops=" << matrix_f32_flops
     << ", vector_flops=" << vector_flops << ", transcendental_ratio=" << transcendental_ratio
     << ", sram_bytes=" << sram_bytes << ", sram_bandwidth=" << sram_bandwidth
     << ", kernel_launch_s=" << kernel_launch_s
     << ", host_link_bandwidth=" << host_link_bandwidth << ", chip_link_bandwidth=" << chip_link_bandwidth
     << ", chip_links=" << chip_links << ", matrix_tile=" << matrix_tile << "}";
  return os.str();
}

}  // namespace chip
