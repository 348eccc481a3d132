"""What every pass gets: the chip model and the compile options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The default chip model (docs/chip-model.md); the plugin passes the configured one.
DEFAULT_CHIP_CONFIG: dict[str, Any] = {
    "num_devices": 1,
    "hbm_bytes": 16 << 30,
    "hbm_bandwidth": 819e9,
    "matrix_bf16_flops": 197e12,
    "matrix_int8_ops": 394e12,
    "matrix_f32_flops": 197e12 / 4,
    "vector_flops": 12e12,
    "transcendental_ratio": 0.25,
    "sram_bytes": 128 << 20,
    "sram_bandwidth": 8e12,
    "kernel_launch_s": 1e-6,
    "host_link_bandwidth": 32e9,
    "chip_link_bandwidth": 100e9,
    "chip_links": 4,
    "matrix_tile": 128,
}


@dataclass
class CompileOptions:
    fusion: bool = True              # elementwise fusion (off: one Elementwise kernel per op)
    constant_folding: bool = True
    memory_reuse: bool = True        # liveness-based sharing of arena memory (off: a slot per temp)
    # a while body updating a carried value in place writes the loop-carried storage directly
    # (no per-iteration carry copy; xla_passes/loop_carry_inplace.py)
    loop_carry_in_place: bool = True
    # cap on the ops of one fused kernel: bounds the register program's size (and compile time);
    # high enough for the largest single expressions jax emits (Philox's 10 rounds, ~450 ops:
    # rng_algorithms.py), which fragment into many recomputing kernels when cut
    max_fused_ops: int = 1024
    fold_limit_elements: int = 4096  # constant folding only produces constants up to this size,
    # except where the value is materialized anyway (read by a gather, dot, concatenate, ...:
    # xla_passes/constant_folding.py): there up to 16 Mi elements (64 MiB of f32)
    fold_materialized_limit_elements: int = 16 << 20


@dataclass
class PassContext:
    chip: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CHIP_CONFIG))
    options: CompileOptions = field(default_factory=CompileOptions)

    def chip_value(self, key: str) -> Any:
        v = self.chip.get(key)
        return DEFAULT_CHIP_CONFIG[key] if v is None else v
