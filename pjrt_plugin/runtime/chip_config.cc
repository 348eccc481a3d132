#include "pjrt_plugin/runtime/chip_config.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <type_traits>

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

Status CheckRange(const std::string& name, double value, double lo, double hi, bool lo_inclusive) {
  const bool ok = std::isfinite(value) && (lo_inclusive ? value >= lo : value > lo) && value <= hi;
  if (ok) return Status::Ok();
  std::ostringstream os;
  os << "chip option '" << name << "' = " << value << " is out of range: must be "
     << (lo_inclusive ? ">= " : "> ") << lo << " and <= " << hi;
  return InvalidArgument(os.str());
}

// Reads option `v` into field `out` (integer fields take int64, floating ones float or int64) and
// checks the range.
template <typename T>
Status SetField(const std::string& name, const ChipConfig::OptionValue& v, double lo, bool lo_inclusive,
                double hi, T* out) {
  if constexpr (std::is_integral_v<T>) {
    const int64_t* i = std::get_if<int64_t>(&v);
    if (i == nullptr) {
      return InvalidArgument("chip option '" + name + "' takes an int64 value, got a " + OptionTypeName(v));
    }
    CHIP_RETURN_IF_ERROR(CheckRange(name, static_cast<double>(*i), lo, hi, lo_inclusive));
    *out = static_cast<T>(*i);
  } else {
    double d = 0;
    if (const int64_t* i = std::get_if<int64_t>(&v)) {
      d = static_cast<double>(*i);
    } else if (const double* f = std::get_if<double>(&v)) {
      d = *f;
    } else if (const std::string* text = std::get_if<std::string>(&v)) {
      // A decimal number as text: PJRT's float option is 32-bit, so jax_chip.config passes
      // floating fields as text to keep them exact (4e-6 as a float is 3.99999989e-6).
      char* end = nullptr;
      d = std::strtod(text->c_str(), &end);
      if (text->empty() || end != text->c_str() + text->size()) {
        return InvalidArgument("chip option '" + name + "' = '" + *text + "' is not a number");
      }
    } else {
      return InvalidArgument("chip option '" + name + "' takes a float, int64 or decimal string value, got a " +
                             OptionTypeName(v));
    }
    CHIP_RETURN_IF_ERROR(CheckRange(name, d, lo, hi, lo_inclusive));
    *out = d;
  }
  return Status::Ok();
}

std::string KnownNames() {
  std::string s;
#define CHIP_CONFIG_NAME(name, type, default_value, unit, lo, lo_inclusive, hi, doc) \
  s += (s.empty() ? "" : ", ") + std::string(#name);
  CHIP_CONFIG_FIELDS(CHIP_CONFIG_NAME)
#undef CHIP_CONFIG_NAME
  return s;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Shortest text that reads back as the same double.
std::string JsonNumber(double v) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

template <typename T>
std::string JsonValue(T v) {
  if constexpr (std::is_integral_v<T>) {
    return std::to_string(v);
  } else {
    std::string s = JsonNumber(v);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";  // stays a float in JSON readers
    return s;
  }
}

}  // namespace

StatusOr<ChipConfig> ChipConfig::FromNamedOptions(const std::map<std::string, OptionValue>& options) {
  ChipConfig c;
  for (const auto& [name, value] : options) {
#define CHIP_CONFIG_SET(field, type, default_value, unit, lo, lo_inclusive, hi, doc) \
  if (name == #field) {                                                             \
    CHIP_RETURN_IF_ERROR(SetField(name, value, lo, lo_inclusive, hi, &c.field));    \
    continue;                                                                       \
  }
    CHIP_CONFIG_FIELDS(CHIP_CONFIG_SET)
#undef CHIP_CONFIG_SET
    return InvalidArgument("unknown chip option '" + name + "' (known: " + KnownNames() + ")");
  }
  return c;
}

std::string ChipConfig::ToString() const {
  std::ostringstream os;
  const char* sep = "";
  os << "ChipConfig{";
#define CHIP_CONFIG_PRINT(name, type, default_value, unit, lo, lo_inclusive, hi, doc) \
  os << sep << #name << "=" << name;                                                 \
  sep = ", ";
  CHIP_CONFIG_FIELDS(CHIP_CONFIG_PRINT)
#undef CHIP_CONFIG_PRINT
  os << "}";
  return os.str();
}

const std::string& ChipConfig::FieldsJson() {
  static const std::string json = [] {
    std::string s = "[";
    const char* sep = "";
#define CHIP_CONFIG_JSON(name, type, default_value, unit, lo, lo_inclusive, hi, doc)                     \
  s += sep;                                                                                              \
  sep = ",\n ";                                                                                          \
  s += "{\"name\": " + JsonString(#name) + ", \"type\": " + JsonString(#type) +                         \
       ", \"kind\": " + JsonString(std::is_integral_v<type> ? "int" : "float") +                         \
       ", \"default\": " + JsonValue<type>(default_value) + ", \"unit\": " + JsonString(unit) +          \
       ", \"min\": " + JsonNumber(lo) + ", \"min_inclusive\": " + (lo_inclusive ? "true" : "false") +   \
       ", \"max\": " + JsonNumber(hi) + ", \"doc\": " + JsonString(doc) + "}";
    CHIP_CONFIG_FIELDS(CHIP_CONFIG_JSON)
#undef CHIP_CONFIG_JSON
    return s + "]";
  }();
  return json;
}

}  // namespace chip
