"""The plugin's own C exports that hold facts and kernels the Python side reads instead of
copying (pjrt_plugin/api/chip_extension.h), loaded once with ctypes from the plugin library
(the same library JAX loads: dlopen returns the loaded instance).

- `chip_config_fields()`: the chip model's fields (pjrt_plugin/runtime/chip_config_fields.h).
- `elementwise_ops()`: the Elementwise kernel's instruction table (kernels/elementwise_ops.h).
- `run_executable()`: runs a serialized chip executable on host arrays with the chip's kernels
  (the compiler's constant evaluation).
"""

from __future__ import annotations

import ctypes
import functools
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np

_ERROR_BYTES = 4096


class NativeError(RuntimeError):
    """chip_run_executable failed; the message is the plugin's."""


@dataclass(frozen=True)
class ConfigField:
    name: str
    type: str              # the C++ type: "int", "int64_t" or "double"
    kind: str              # "int" (int64 option values) or "float" (float or int64)
    default: int | float
    unit: str
    min: float
    min_inclusive: bool
    max: float
    doc: str


@dataclass(frozen=True)
class EwOpInfo:
    name: str              # the schema's EwOp member
    value: int             # its EwOp value
    arity: str             # "view", "none", "dim", "unary", "binary", "ternary"
    operands: int          # register operands (a, b, c)
    transcendental: bool   # counted at the transcendental rate


@functools.cache
def library() -> ctypes.CDLL:
    """The plugin library (the one JAX loaded: dlopen returns the loaded instance) with every
    chip_* export's signature declared: the tables and the host run here, the profiler's
    (jax_chip.profiler) and the FFI registration's (jax_chip.ffi)."""
    from jax_chip.plugin import library_path   # plugin.py imports config.py, which imports this
    lib = ctypes.CDLL(str(library_path()))
    lib.chip_config_fields_json.restype = ctypes.c_char_p
    lib.chip_config_fields_json.argtypes = []
    lib.chip_elementwise_ops_json.restype = ctypes.c_char_p
    lib.chip_elementwise_ops_json.argtypes = []
    lib.chip_run_executable.restype = ctypes.c_int
    lib.chip_run_executable.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
        ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    lib.chip_free.argtypes = [ctypes.c_void_p]
    lib.chip_profiler_start.restype = ctypes.c_int
    lib.chip_profiler_stop.restype = ctypes.c_int
    lib.chip_profiler_trace_json.restype = ctypes.c_void_p
    lib.chip_device_modeled_time_s.argtypes = [ctypes.c_int]
    lib.chip_device_modeled_time_s.restype = ctypes.c_double
    lib.chip_ffi_register_handler.restype = ctypes.c_void_p
    lib.chip_ffi_register_handler.argtypes = ([ctypes.c_char_p] + [ctypes.c_void_p] * 4
                                              + [ctypes.c_int, ctypes.c_uint32])
    lib.chip_ffi_register_type_id.restype = ctypes.c_void_p
    lib.chip_ffi_register_type_id.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)]
    return lib


@functools.cache
def chip_config_fields() -> tuple[ConfigField, ...]:
    return tuple(ConfigField(**f) for f in json.loads(library().chip_config_fields_json()))


@functools.cache
def elementwise_ops() -> tuple[EwOpInfo, ...]:
    return tuple(EwOpInfo(**op) for op in json.loads(library().chip_elementwise_ops_json()))


def _pointers(arrays: Sequence[np.ndarray]) -> ctypes.Array:
    return (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])


def run_executable(executable: bytes, params: Sequence[np.ndarray],
                   outputs: Sequence[np.ndarray]) -> None:
    """Runs `executable` on the calling thread with the chip's kernels: `params` hold the
    parameters and `outputs` receive the outputs, each a C-contiguous array laid out as the
    program's type (pred: one byte per element). Raises NativeError with the plugin's message."""
    for a in list(params) + list(outputs):
        if not a.flags["C_CONTIGUOUS"]:
            raise ValueError("run_executable takes C-contiguous arrays")
    if any(not o.flags["WRITEABLE"] for o in outputs):
        raise ValueError("run_executable: an output array is read-only")
    error = ctypes.create_string_buffer(_ERROR_BYTES)
    data = bytes(executable)
    rc = library().chip_run_executable(data, len(data), _pointers(params), len(params),
                                       _pointers(outputs), len(outputs), error, _ERROR_BYTES)
    if rc != 0:
        raise NativeError(error.value.decode(errors="replace"))
