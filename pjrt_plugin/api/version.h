// The plugin's version (reported by chip_plugin_version, PJRT_Plugin_Attributes and the
// platform version string).
#pragma once

namespace chip::api {
inline constexpr const char* kPluginVersion = "0.1.0";
inline constexpr const char* kPlatformName = "chip";
}  // namespace chip::api
