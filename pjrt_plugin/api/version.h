// The plugin's version (reported by chip_plugin_version, PJRT_Plugin_Attributes and the
// platform version string), and the versions it tells its caller it speaks.
#pragma once

#include <array>
#include <cstdint>

namespace chip::api {
inline constexpr const char* kPluginVersion = "0.1.0";
inline constexpr const char* kPlatformName = "chip";

// PJRT_Plugin_Attributes "xla_version": the XLA feature level the plugin implements, the value
// XLA's own PJRT plugins of the PJRT 0.70-0.72 era report (jax.extend.backend.backend_xla_version).
inline constexpr int64_t kXlaVersion = 2;

// PJRT_Plugin_Attributes "stablehlo_current_version" / "stablehlo_minimum_version": the StableHLO
// versions the compiler reads. It reads programs with the StableHLO bindings of the jaxlib it
// runs under (0.6.2: jaxlib.mlir.dialects.stablehlo.get_current_version() / get_minimum_version()),
// so these are that jaxlib's; jaxlib serializes every program it compiles for the chip at
// kStablehloCurrentVersion (tests/test_pjrt_surface.py checks both against the bindings).
inline constexpr std::array<int64_t, 3> kStablehloCurrentVersion = {1, 11, 0};
inline constexpr std::array<int64_t, 3> kStablehloMinimumVersion = {0, 9, 0};
}  // namespace chip::api
