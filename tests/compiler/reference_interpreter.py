"""A slow, obviously-correct interpreter of chip executables, in numpy: the compiler tests' oracle.

It runs an ExecutableDesc (or the serialized bytes) kernel by kernel: parameters, outputs, the TEMP arena and constants are real byte buffers, and an
output aliased to a parameter shares that parameter's buffer (as donation does on the device), so
a compiler that breaks the aliasing or memory-planning rules produces wrong answers here. The
compiler's tests use it to check compiled programs against jax on CPU. Each kernel is evaluated
by its kernel module (jax_chip.compiler.kernels, through the kernel table): data movement, dots
and reductions in numpy (float64, rounded once), while Elementwise programs (kernels and Reduce
prologues) run on the chip's own Elementwise kernel through the plugin, one at a time
(jax_chip.compiler.chip_eval): the instructions' numerics live only in the kernels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from jax_chip.compiler import chip_eval
from jax_chip.compiler.backend.inspect_executable import read_executable
from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.executable import (
    ExecutableDesc,
    KernelDesc,
    OutputDesc,
    ParameterDesc,
    RegionDesc,
    ValueDesc,
)
from jax_chip.compiler.ir.graph import TensorType
from jax_chip.compiler.kernels import registry
from jax_chip.compiler.kernels.base import InterpreterError
from jax_chip.compiler.kernels.elementwise import ElementwiseOp

__all__ = ["InterpreterError", "eval_elementwise", "execute"]


def eval_elementwise(op: ElementwiseOp, inputs: Sequence[np.ndarray],
                     input_dtypes: Sequence[str]) -> list[np.ndarray]:
    """Outputs of an Elementwise program as storage arrays of shape `dims` (by output index),
    computed by the chip's Elementwise kernel on these inputs."""
    in_types = [TensorType(dt, tuple(np.shape(x))) for x, dt in zip(inputs, input_dtypes)]
    out_dtypes = {out: op.instrs[reg].dtype for reg, out in op.results}
    out_types = [TensorType(out_dtypes[o], tuple(op.dims)) for o in sorted(out_dtypes)]
    exe = ExecutableDesc(name="reference_elementwise")
    for i, t in enumerate(in_types):
        exe.values.append(ValueDesc(t, "PARAMETER", i))
        exe.parameters.append(ParameterDesc(i, t))
    for j, t in enumerate(out_types):
        exe.values.append(ValueDesc(t, "OUTPUT", j))
        exe.outputs.append(OutputDesc(len(in_types) + j, t))
    exe.kernels = [KernelDesc("elementwise", "", list(range(len(in_types))),
                              [len(in_types) + j for j in range(len(out_types))], None, op)]
    try:
        return chip_eval.run_executable(exe, list(inputs))
    except Exception as e:
        raise InterpreterError(f"Elementwise kernel: {e}") from e


# ---- whole executables ---------------------------------------------------------------------------

class _Memory:
    def __init__(self, exe: ExecutableDesc, args: Sequence[np.ndarray], poison: int):
        self.exe = exe
        self.params: list[bytearray] = []
        for p, a in zip(exe.parameters, args):
            arr = np.asarray(a)
            if arr.shape != p.type.shape:
                raise InterpreterError(f"argument shape {arr.shape} != parameter {p.type}")
            data = np.ascontiguousarray(arr.astype(np.uint8) if p.type.dtype == "pred"
                                        else arr.astype(dtypes.numpy_dtype(p.type.dtype)))
            self.params.append(bytearray(data.tobytes()))
        self.outputs: list[bytearray] = []
        for o in exe.outputs:
            if o.aliased_parameter >= 0:
                self.outputs.append(self.params[o.aliased_parameter])   # donated memory
            else:
                self.outputs.append(bytearray([poison]) * o.type.nbytes)
        self.arena = bytearray([poison]) * exe.arena_bytes
        self.constants = [bytearray(c) for c in exe.constants]

    def buffer(self, vid: int) -> tuple[bytearray, int]:
        v = self.exe.values[vid]
        if v.storage == "PARAMETER":
            return self.params[v.index], 0
        if v.storage == "OUTPUT":
            return self.outputs[v.index], 0
        if v.storage == "CONSTANT":
            return self.constants[v.index], 0
        return self.arena, v.index

    def array(self, vid: int) -> np.ndarray:
        v = self.exe.values[vid]
        buf, off = self.buffer(vid)
        n = v.type.num_elements
        dt = dtypes.storage_dtype(v.type.dtype)
        if off + n * dt.itemsize > len(buf):
            raise InterpreterError(f"value {v.name} ({v.type}, {v.storage}[{v.index}]) lies "
                                   f"outside its buffer of {len(buf)} bytes")
        arr = np.frombuffer(buf, dtype=dt, count=n, offset=off).reshape(v.type.shape)
        return arr.astype(np.bool_) if v.type.dtype == "pred" else arr

    def write(self, vid: int, data: np.ndarray) -> None:
        v = self.exe.values[vid]
        if v.storage in ("PARAMETER", "CONSTANT"):
            raise InterpreterError(f"kernel writes read-only value {v.name} ({v.storage})")
        buf, off = self.buffer(vid)
        dt = dtypes.storage_dtype(v.type.dtype)
        raw = np.ascontiguousarray(np.broadcast_to(np.asarray(data), v.type.shape).astype(dt))
        b = raw.tobytes()
        if off + len(b) > len(buf):
            raise InterpreterError(f"value {v.name} lies outside its buffer")
        buf[off:off + len(b)] = b


def execute(exe: ExecutableDesc | bytes, args: Sequence[np.ndarray],
            poison: int = 0xFF) -> list[np.ndarray]:
    """Runs the executable on `args`; returns the outputs as numpy arrays (bf16 via ml_dtypes).
    Uninitialized memory holds `poison` bytes (0xFF: NaN for floats)."""
    if isinstance(exe, (bytes, bytearray)):
        exe = read_executable(bytes(exe))
    if len(args) != len(exe.parameters):
        raise InterpreterError(f"{len(args)} arguments for {len(exe.parameters)} parameters")
    mem = _Memory(exe, args, poison)
    _run_kernels(exe, mem, exe.kernels)
    results = []
    for o in exe.outputs:
        arr = mem.array(o.value)
        results.append(np.array(arr, copy=True))
    return results


class _Evaluation:
    """One kernel being run: its inputs as arrays over the memory, and access to the memory and
    nested kernel lists for control flow (kernels.base.Evaluation)."""

    def __init__(self, exe: ExecutableDesc, mem: _Memory, kernel: KernelDesc):
        self.exe = exe
        self.mem = mem
        self.kernel = kernel
        self.inputs = [mem.array(i) for i in kernel.inputs]
        self.input_types: list[TensorType] = [exe.values[i].type for i in kernel.inputs]
        self.output_types: list[TensorType] = [exe.values[i].type for i in kernel.outputs]

    def run_region(self, region: RegionDesc) -> None:
        _run_kernels(self.exe, self.mem, region.kernels)

    def run_elementwise(self, op: ElementwiseOp, inputs: Sequence[np.ndarray],
                        input_dtypes: Sequence[str]) -> list[np.ndarray]:
        return eval_elementwise(op, inputs, input_dtypes)

    def array(self, value_id: int) -> np.ndarray:
        return self.mem.array(value_id)

    def assign(self, sources: Sequence[int], destinations: Sequence[int]) -> None:
        """destinations[i] = sources[i] for all i at once (every source read before any
        write)."""
        data = [np.array(self.mem.array(s), copy=True) for s in sources]
        for d, x in zip(destinations, data):
            self.mem.write(d, x)


def _run_kernels(exe: ExecutableDesc, mem: _Memory, kernels: Sequence[KernelDesc]) -> None:
    for k in kernels:
        kind = registry.BY_NAME.get(getattr(k.op, "OP_TYPE", ""))
        if kind is None or kind.evaluate is None:
            raise InterpreterError(f"unknown kernel op {k.op}")
        ev = _Evaluation(exe, mem, k)
        outs = kind.evaluate(k.op, ev)
        if outs is None:        # control flow: wrote its outputs itself
            continue
        if len(outs) != len(k.outputs):
            raise InterpreterError(f"kernel {k.name} produced {len(outs)} of {len(k.outputs)} "
                                   f"outputs")
        for vid, data, t in zip(k.outputs, outs, ev.output_types):
            mem.write(vid, np.asarray(data).reshape(t.shape))
