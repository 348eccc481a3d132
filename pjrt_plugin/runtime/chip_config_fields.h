// The chip model's fields: the one table that ChipConfig (chip_config.h), its option parsing and
// printing, the compiler bridge, the exported JSON (chip_config_fields_json, api/chip_extension.h)
// and through it the Python package (jax_chip.config, compiler/context.py) and
// docs/chip-model.md's table (tools/gen_chip_model_doc.py) all expand or read.
//
// X(name, C++ type, default, unit, min, min_inclusive, max, doc):
//   - integer fields (int, int64_t) take int64 option values, floating ones (double) float or int64;
//   - an option value must be finite, > min (>= min when min_inclusive) and <= max.
#pragma once

#define CHIP_CONFIG_FIELDS(X)                                                                              \
  X(num_devices, int, 1, "devices", 1, true, 8, "chip devices per host")                               \
  X(hbm_bytes, int64_t, int64_t{16} << 30, "bytes", 0, false, 9.0e18, "device memory (HBM) capacity")    \
  X(hbm_bandwidth, double, 819e9, "bytes/s", 0, false, 1e30, "HBM bandwidth")                          \
  X(pinned_host_bytes, int64_t, int64_t{16} << 30, "bytes", 0, false, 9.0e18,                          \
    "pinned host memory per device (the pinned_host memory space)")                                    \
  X(matrix_bf16_flops, double, 197e12, "flop/s", 0, false, 1e30,                                      \
    "matrix unit rate, bf16/f16 in, f32 accumulate")                                                   \
  X(matrix_int8_ops, double, 394e12, "op/s", 0, false, 1e30, "matrix unit rate, int8 in, int32 accumulate") \
  X(matrix_f32_flops, double, 197e12 / 4, "flop/s", 0, false, 1e30,                                   \
    "matrix unit rate, f32 in, f32 accuracy (a quarter of the bf16 rate)")                             \
  X(vector_flops, double, 12e12, "flop/s", 0, false, 1e30, "vector unit rate, f32 elementwise")        \
  X(transcendental_ratio, double, 0.25, "", 0, false, 1,                                               \
    "transcendentals run at this fraction of the vector rate")                                         \
  X(sram_bytes, int64_t, int64_t{128} << 20, "bytes", 0, false, 9.0e18,                                \
    "on-chip SRAM scratchpad: the arena's first sram_bytes (read at compile time)")                    \
  X(sram_bandwidth, double, 8e12, "bytes/s", 0, false, 1e30, "SRAM <-> compute units bandwidth")       \
  X(kernel_launch_s, double, 1e-6, "s", 0, true, 1, "fixed cost of every kernel")                      \
  X(host_link_bandwidth, double, 32e9, "bytes/s", 0, false, 1e30, "host <-> device copies")            \
  X(chip_link_bandwidth, double, 100e9, "bytes/s", 0, false, 1e30, "chip-to-chip bandwidth, per link") \
  X(chip_links, int, 4, "links", 1, true, 1024, "chip-to-chip links per chip")                          \
  X(matrix_tile, int, 128, "", 1, true, 65536, "the systolic array is matrix_tile x matrix_tile")
