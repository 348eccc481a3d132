"""Element types of the chip: names, sizes, numpy types and schema enum values.

The compiler names element types with XLA's short names ("pred", "s8", "bf16", "f32", ...).
Types the chip lacks (64-bit, complex, ...) still get a name so that the type-checking pass
can report them clearly.

The low-precision types (fp8: f8e4m3fn, f8e5m2, f8e4m3fnuz, f8e5m2fnuz; int4: s4, u4) are chip
types, but only the ops that list them take them (ir/ops.py: converts, bitcasts, data movement,
constants, dot_general); int4 arrays are packed two to a byte (`packed_nbytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class DTypeInfo:
    name: str
    itemsize: int           # bytes per element in memory (pred: 1; s4/u4: 1 unpacked, see packed_nbytes)
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
        DTypeInfo("f8e4m3fn", 1, 8, "float", np.dtype(ml_dtypes.float8_e4m3fn), 20),
        DTypeInfo("f8e5m2", 1, 8, "float", np.dtype(ml_dtypes.float8_e5m2), 21),
        DTypeInfo("f8e4m3fnuz", 1, 8, "float", np.dtype(ml_dtypes.float8_e4m3fnuz), 22),
        DTypeInfo("f8e5m2fnuz", 1, 8, "float", np.dtype(ml_dtypes.float8_e5m2fnuz), 23),
        DTypeInfo("s4", 1, 4, "sint", np.dtype(ml_dtypes.int4), 24),
        DTypeInfo("u4", 1, 4, "uint", np.dtype(ml_dtypes.uint4), 25),
        # (real, imag) f32 pairs; computations on it are lowered to f32 by complex_lowering, so
        # only parameters, outputs and their reshape aliases have it (not in ALL_TYPES)
        DTypeInfo("c64", 8, 64, "complex", np.dtype(np.complex64), 26),
    )
}

FP8 = frozenset({"f8e4m3fn", "f8e5m2", "f8e4m3fnuz", "f8e5m2fnuz"})
INT4 = frozenset({"s4", "u4"})
LOW_PRECISION = FP8 | INT4
# MLIR's spelling of the fp8 types (the int4 ones are i4/ui4).
MLIR_NAMES: dict[str, str] = {"f8e4m3fn": "f8E4M3FN", "f8e5m2": "f8E5M2", "f8e4m3fnuz": "f8E4M3FNUZ",
                              "f8e5m2fnuz": "f8E5M2FNUZ", "s4": "i4", "u4": "ui4"}

SCHEMA_TO_NAME: dict[int, str] = {d.schema: n for n, d in CHIP_DTYPES.items()}

# 64-bit types and the 32-bit type to suggest instead.
SIXTY_FOUR_BIT: dict[str, str] = {"f64": "float32", "s64": "int32", "u64": "uint32", "c128": "complex64"}

# The types every op takes (the low-precision ones are listed op by op).
_FULL = {n: d for n, d in CHIP_DTYPES.items() if n not in LOW_PRECISION}
ALL_FLOAT = frozenset(n for n, d in _FULL.items() if d.is_float)
ALL_INT = frozenset(n for n, d in _FULL.items() if d.is_int)
ALL_SINT = frozenset(n for n, d in _FULL.items() if d.is_signed)
ALL_INT_PRED = ALL_INT | {"pred"}
ALL_COMPLEX = frozenset(n for n, d in CHIP_DTYPES.items() if d.kind == "complex")
ALL_TYPES = frozenset(_FULL) - ALL_COMPLEX   # the types kernels compute on


def is_chip_dtype(name: str) -> bool:
    return name in CHIP_DTYPES


def info(name: str) -> DTypeInfo:
    try:
        return CHIP_DTYPES[name]
    except KeyError:
        raise KeyError(f"{name} is not a chip element type") from None


def numpy_dtype(name: str) -> np.dtype:
    return info(name).numpy


def packed_nbytes(name: str, num_elements: int) -> int:
    """Bytes of `num_elements` elements in device memory (s4/u4 packed two to a byte)."""
    return (num_elements + 1) // 2 if name in INT4 else num_elements * info(name).itemsize


def pack_int4(arr: np.ndarray) -> bytes:
    """Row-major 4-bit values packed two to a byte, element 2i in the low nibble."""
    nib = np.ascontiguousarray(arr).reshape(-1).view(np.uint8) & 0xF
    if nib.size % 2:
        nib = np.append(nib, np.uint8(0))
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).tobytes()


def unpack_int4(data: bytes, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of pack_int4: an array of `name` (s4/u4) and `shape`."""
    n = int(np.prod(shape, dtype=np.int64))
    b = np.frombuffer(data, np.uint8)[:(n + 1) // 2]
    nib = np.stack([b & 0xF, b >> 4], axis=-1).reshape(-1)[:n]
    vals = (nib.astype(np.int8) ^ 8) - 8 if name == "s4" else nib
    return vals.astype(numpy_dtype(name)).reshape(shape)


def storage_dtype(name: str) -> np.dtype:
    """The numpy dtype of a host array holding the chip's storage of `name`: pred is one byte
    per element (uint8), everything else its own numpy dtype."""
    return np.dtype(np.uint8) if name == "pred" else numpy_dtype(name)
