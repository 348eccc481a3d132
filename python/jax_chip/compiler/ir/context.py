"""What every pass gets: the chip model, the compile options and, from the driver, a constant
evaluator."""

from __future__ import annotations

import functools
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from jax_chip import native

if TYPE_CHECKING:
    from jax_chip.compiler.ir.graph import Graph


@functools.cache
def _default_values() -> Mapping[str, Any]:
    return types.MappingProxyType({f.name: f.default for f in native.chip_config_fields()})


class _DefaultChipConfig(Mapping[str, Any]):
    """The default chip model: the plugin's field table (runtime/chip_config_fields.h), read on
    first use. The plugin passes the configured one to the compiler."""

    def _values(self) -> Mapping[str, Any]:
        return _default_values()

    def __getitem__(self, key: str) -> Any:
        return self._values()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())

    def __repr__(self) -> str:
        return f"DEFAULT_CHIP_CONFIG({dict(self._values())!r})"


DEFAULT_CHIP_CONFIG: Mapping[str, Any] = _DefaultChipConfig()

# Evaluates a closed graph of constant expressions (parameters bound to the arrays given, in
# order) with the chip's own kernels and returns its outputs' values as numpy arrays of the
# outputs' types (bf16 as ml_dtypes.bfloat16, pred as bool). The driver supplies it.
ConstantEvaluator = Callable[["Graph", Sequence[np.ndarray]], list[np.ndarray]]


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
    # constant folding evaluates with it; without one it only canonicalizes splat constants
    evaluator: ConstantEvaluator | None = None

    def chip_value(self, key: str) -> Any:
        v = self.chip.get(key)
        return DEFAULT_CHIP_CONFIG[key] if v is None else v
