"""The plugin's own C exports that hold facts and kernels the Python side reads instead of
copying (pjrt_plugin/api/chip_extension.h), loaded once with ctypes from the plugin library
(the same library JAX loads: dlopen returns the loaded instance).

- `chip_config_fields()`: the chip model's fields (pjrt_plugin/runtime/chip_config_fields.h).
- `elementwise_ops()`: the Elementwise kernel's instruction table (kernels/elementwise_ops.h).
- `run_executable()`: runs a serialized chip executable on host arrays with the chip's kernels
  (the compiler's constant evaluation).
- `cost_model_fields()`, `model_work()`: the cost model (runtime/cost_model.h) pricing recorded
  work under a chip config (jax_chip.what_if re-times traces with it).
"""

from __future__ import annotations

import ctypes
import functools
import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

_ERROR_BYTES = 4096


class NativeError(RuntimeError):
    """chip_run_executable or chip_model_work failed; the message is the plugin's."""


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
    lib.chip_cost_model_fields_json.restype = ctypes.c_char_p
    lib.chip_cost_model_fields_json.argtypes = []
    dbl, i64 = ctypes.POINTER(ctypes.c_double), ctypes.c_int64
    strs = ctypes.POINTER(ctypes.c_char_p)
    lib.chip_model_work.restype = ctypes.c_void_p
    lib.chip_model_work.argtypes = [
        strs, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int64), dbl, ctypes.c_int,
        dbl, strs, i64, dbl, ctypes.POINTER(ctypes.c_void_p), strs, dbl, i64, dbl]
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


@functools.cache
def cost_model_fields() -> tuple[str, ...]:
    """The chip config fields the cost model reads (runtime/cost_model.h: CostModelFields)."""
    return tuple(json.loads(library().chip_cost_model_fields_json()))


# chip_model_work's columns (api/chip_extension.h): the work of one kernel, as the trace's args
# name it, and the modeled times it writes.
KERNEL_WORK_FIELDS = ("matrix_flops", "vector_flops", "transcendentals", "bytes_read",
                      "bytes_written", "sram_bytes_read", "sram_bytes_written")
KERNEL_TIME_FIELDS = ("total", "launch", "matrix", "vector", "memory", "sram")


@dataclass(frozen=True)
class ModeledWork:
    kernel_times: np.ndarray        # [kernels, 6] seconds, KERNEL_TIME_FIELDS
    kernel_bounds: list[str]        # what bounds each kernel
    transfer_seconds: np.ndarray    # [transfers]


def _c_strings(items: Sequence[str]) -> ctypes.Array:
    return (ctypes.c_char_p * max(len(items), 1))(*[s.encode() for s in items])


def model_work(config: Mapping[str, int | float], kernel_work: np.ndarray,
               kernel_dtypes: Sequence[str], transfer_names: Sequence[str] = (),
               transfer_bytes: np.ndarray | None = None) -> ModeledWork:
    """Prices recorded work with the plugin's cost model under the default chip config with
    `config`'s overrides (field name -> value, as jax_chip.config.ChipConfig holds them):
    `kernel_work` [kernels, 7] in KERNEL_WORK_FIELDS order with each kernel's matrix dtype name,
    and transfers by the trace's name with their [transfers, 2] bytes read and written. Raises
    NativeError naming a bad option, dtype or transfer."""
    work = np.ascontiguousarray(kernel_work, dtype=np.float64).reshape(-1, len(KERNEL_WORK_FIELDS))
    n = work.shape[0]
    if len(kernel_dtypes) != n:
        raise ValueError(f"model_work: {n} kernels but {len(kernel_dtypes)} dtypes")
    m = len(transfer_names)
    tbytes = np.ascontiguousarray(np.zeros((0, 2)) if transfer_bytes is None else transfer_bytes,
                                  dtype=np.float64).reshape(-1, 2)
    if tbytes.shape[0] != m:
        raise ValueError(f"model_work: {m} transfers but {tbytes.shape[0]} byte rows")
    names = list(config)
    is_int = (ctypes.c_int * max(len(names), 1))(*[isinstance(config[k], int) for k in names])
    ints = (ctypes.c_int64 * max(len(names), 1))(
        *[config[k] if isinstance(config[k], int) else 0 for k in names])
    floats = (ctypes.c_double * max(len(names), 1))(*[float(config[k]) for k in names])
    times = np.zeros((n, len(KERNEL_TIME_FIELDS)), np.float64)
    bounds = (ctypes.c_void_p * max(n, 1))()
    seconds = np.zeros(m, np.float64)
    dbl = ctypes.POINTER(ctypes.c_double)
    lib = library()
    err = lib.chip_model_work(_c_strings(names), is_int, ints, floats, len(names),
                              work.ctypes.data_as(dbl), _c_strings(kernel_dtypes), n,
                              times.ctypes.data_as(dbl), bounds, _c_strings(transfer_names),
                              tbytes.ctypes.data_as(dbl), m, seconds.ctypes.data_as(dbl))
    if err:
        try:
            raise NativeError(ctypes.string_at(err).decode(errors="replace"))
        finally:
            lib.chip_free(err)
    pointers = bounds[:n]
    # the bounds are the cost model's few static strings: read each once
    names_at = {p: ctypes.string_at(p).decode() for p in set(pointers)}
    kernel_bounds = [names_at[p] for p in pointers]
    return ModeledWork(times, kernel_bounds, seconds)


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
