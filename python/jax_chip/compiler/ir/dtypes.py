"""Element types of the chip: names, sizes, numpy types and schema enum values.

The compiler names element types with XLA's short names ("pred", "s8", "bf16", "f32", ...).
Types the chip lacks (64-bit, complex, fp8, ...) still get a name so that the type-checking pass
can report them clearly.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class DTypeInfo:
    name: str
    itemsize: int           # bytes per element in memory (pred: 1)
    bits: int               # value bits (pred: 1)
    kind: str               # "pred", "sint", "uint", "float", "complex"
    numpy: np.dtype
    schema: int             # chip.exe.DType value

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_complex(self) -> bool:
        return self.kind == "complex"

    @property
    def is_int(self) -> bool:
        return self.kind in ("sint", "uint")

    @property
    def is_signed(self) -> bool:
        return self.kind == "sint"

    @property
    def is_unsigned(self) -> bool:
        return self.kind == "uint"


CHIP_DTYPES: dict[str, DTypeInfo] = {
    d.name: d
    for d in (
        DTypeInfo("pred", 1, 1, "pred", np.dtype(np.bool_), 1),
        DTypeInfo("s8", 1, 8, "sint", np.dtype(np.int8), 2),
        DTypeInfo("u8", 1, 8, "uint", np.dtype(np.uint8), 3),
        DTypeInfo("s16", 2, 16, "sint", np.dtype(np.int16), 4),
        DTypeInfo("u16", 2, 16, "uint", np.dtype(np.uint16), 5),
        DTypeInfo("s32", 4, 32, "sint", np.dtype(np.int32), 6),
        DTypeInfo("u32", 4, 32, "uint", np.dtype(np.uint32), 7),
        DTypeInfo("f16", 2, 16, "float", np.dtype(np.float16), 8),
        DTypeInfo("bf16", 2, 16, "float", np.dtype(ml_dtypes.bfloat16), 9),
        DTypeInfo("f32", 4, 32, "float", np.dtype(np.float32), 10),
        # (real, imag) f32 pairs; computations on it are lowered to f32 by complex_lowering, so
        # only parameters, outputs and their reshape aliases have it (not in ALL_TYPES)
        DTypeInfo("c64", 8, 64, "complex", np.dtype(np.complex64), 20),
    )
}

SCHEMA_TO_NAME: dict[int, str] = {d.schema: n for n, d in CHIP_DTYPES.items()}

# 64-bit types and the 32-bit type to suggest instead.
SIXTY_FOUR_BIT: dict[str, str] = {"f64": "float32", "s64": "int32", "u64": "uint32", "c128": "complex64"}

ALL_FLOAT = frozenset(n for n, d in CHIP_DTYPES.items() if d.is_float)
ALL_INT = frozenset(n for n, d in CHIP_DTYPES.items() if d.is_int)
ALL_SINT = frozenset(n for n, d in CHIP_DTYPES.items() if d.is_signed)
ALL_INT_PRED = ALL_INT | {"pred"}
ALL_COMPLEX = frozenset(n for n, d in CHIP_DTYPES.items() if d.kind == "complex")
ALL_TYPES = frozenset(CHIP_DTYPES) - ALL_COMPLEX   # the types kernels compute on


def is_chip_dtype(name: str) -> bool:
    return name in CHIP_DTYPES


def info(name: str) -> DTypeInfo:
    try:
        return CHIP_DTYPES[name]
    except KeyError:
        raise KeyError(f"{name} is not a chip element type") from None


def numpy_dtype(name: str) -> np.dtype:
    return info(name).numpy


def storage_dtype(name: str) -> np.dtype:
    """The numpy dtype of a host array holding the chip's storage of `name`: pred is one byte
    per element (uint8), everything else its own numpy dtype."""
    return np.dtype(np.uint8) if name == "pred" else numpy_dtype(name)
