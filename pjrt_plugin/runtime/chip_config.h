// The chip model: sizes and rates the emulator enforces and the cost model uses. The fields, their
// defaults, units, valid ranges and docs are one table, chip_config_fields.h; everything that
// lists them expands it. The Python package reads the user's config (file + environment) and
// passes it to PJRT_Client_Create as named options; FromNamedOptions applies them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/runtime/chip_config_fields.h"

namespace chip {

struct ChipConfig {
#define CHIP_CONFIG_DECLARE_FIELD(name, type, default_value, unit, lo, lo_inclusive, hi, doc) \
  type name = default_value;
  CHIP_CONFIG_FIELDS(CHIP_CONFIG_DECLARE_FIELD)
#undef CHIP_CONFIG_DECLARE_FIELD

  // Option names are the field names ("num_devices", "hbm_bytes", ...). Integer fields take
  // int64 values, floating fields take float, int64 or a decimal string (exact: PJRT's float
  // option is 32-bit). Unknown names or out-of-range values give
  // INVALID_ARGUMENT naming the option.
  using OptionValue = std::variant<int64_t, double, bool, std::string>;
  static StatusOr<ChipConfig> FromNamedOptions(const std::map<std::string, OptionValue>& options);
  std::string ToString() const;

  // The field table as JSON: a list of {"name", "type" ("int", "int64_t" or "double"), "kind"
  // ("int" or "float"), "default", "unit", "min", "min_inclusive", "max", "doc"}, in table order.
  static const std::string& FieldsJson();
};

}  // namespace chip
