"""The C library's single-precision functions (sinf, cosf, powf, ...) over numpy arrays.

The chip's Elementwise kernels compute sin, cos, tan, expm1, log1p, cbrt, pow and atan2 with
`std::sin(float)` & co. (pjrt_plugin/kernels/elementwise.cc), i.e. these functions of the C
library the plugin runs with. numpy's own float32 implementations differ from them in the last
bit for a few percent of inputs, so constant folding and the reference interpreter call the C
library's (through ctypes, one call per element, about 0.3 us each) to get the kernels' exact
bits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Callable

import numpy as np

UNARY = {"SIN": "sinf", "COS": "cosf", "TAN": "tanf", "EXPM1": "expm1f", "LOG1P": "log1pf",
         "CBRT": "cbrtf"}
BINARY = {"POW": "powf", "ATAN2": "atan2f"}
CHUNK = 1 << 16     # elements converted to Python floats at a time


@functools.cache
def _libm() -> ctypes.CDLL:
    name = ctypes.util.find_library("m")
    if name is None:
        raise RuntimeError("the C math library (libm) was not found; the chip's sin/cos/pow "
                           "semantics are those of its single-precision functions")
    return ctypes.CDLL(name)


@functools.cache
def _function(name: str, arity: int) -> Callable[..., float]:
    fn = getattr(_libm(), name)
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float] * arity
    return fn


@functools.cache
def _ufunc(name: str, arity: int) -> np.ufunc:
    return np.frompyfunc(_function(name, arity), arity, 1)


def _signaling_nan(x: np.ndarray) -> np.ndarray:
    bits = x.view(np.uint32)
    return (((bits & np.uint32(0x7F800000)) == np.uint32(0x7F800000))
            & ((bits & np.uint32(0x007FFFFF)) != 0) & ((bits & np.uint32(0x00400000)) == 0))


def _apply(name: str, args: list[np.ndarray]) -> np.ndarray:
    arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float32) for a in args])
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    out = np.empty(flat[0].size, dtype=np.float32)
    uf = _ufunc(name, len(args))
    with np.errstate(all="ignore"):     # inf/NaN results are values here, not errors
        for i in range(0, out.size, CHUNK):
            out[i:i + CHUNK] = uf(*[a[i:i + CHUNK] for a in flat]).astype(np.float32)
    # A signaling NaN operand makes every one of these functions return a NaN (even pow(sNaN, 0),
    # which is 1 for a quiet NaN); the conversion to a Python float would have quieted it.
    for a in reversed(flat):
        snan = _signaling_nan(a)
        if snan.any():
            quiet = (a.view(np.uint32) | np.uint32(0x00400000)).view(np.float32)
            out = np.where(snan, quiet, out)
    return out.reshape(shape)


def unary(op: str, x: np.ndarray) -> np.ndarray:
    """EwOp `op` (a key of UNARY) on f32 registers, as the kernel computes it."""
    return _apply(UNARY[op], [x])


def binary(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """EwOp `op` (a key of BINARY) on f32 registers, as the kernel computes it."""
    return _apply(BINARY[op], [a, b])
