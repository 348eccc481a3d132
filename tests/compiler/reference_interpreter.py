"""A slow, obviously-correct interpreter of chip executables, in numpy: the compiler tests' oracle.

It runs an ExecutableDesc (or the serialized bytes) kernel by kernel over real byte buffers:
parameters, outputs, the TEMP arena and constants, and an output aliased to a parameter shares
that parameter's buffer (as donation does on the device), so a compiler that breaks the aliasing
or memory-planning rules produces wrong answers here. The compiler's tests compare it with jax on
CPU. Dot products, reductions and data movement are computed here in numpy (float64, rounded
once); Elementwise kernels (and Reduce prologues) run the chip's own Elementwise kernel through
the plugin, one kernel at a time (jax_chip.compiler.chip_eval): the instructions' numerics live
only in the kernels.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from jax_chip.compiler import chip_eval, dtypes
from jax_chip.compiler.executable import (
    ConcatenateOp,
    CopyOp,
    DotGeneralOp,
    ElementwiseOp,
    ExecutableDesc,
    KernelDesc,
    OutputDesc,
    ParameterDesc,
    ReduceOp,
    ValueDesc,
)
from jax_chip.compiler.executable import CaseOp, WhileOp
from jax_chip.compiler.graph import TensorType


class InterpreterError(Exception):
    pass


# ---- Elementwise: the chip's kernel ------------------------------------------------------------

def eval_elementwise(op: ElementwiseOp, inputs: Sequence[np.ndarray],
                     input_dtypes: Sequence[str]) -> list[np.ndarray]:
    """Outputs of an Elementwise kernel as storage arrays of shape `dims` (by output index),
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


# ---- other kernels -----------------------------------------------------------------------------

def _as_compute(x: np.ndarray, dtype: str) -> np.ndarray:
    """Storage array -> compute array: floats as f32, integers and pred as int64."""
    return np.asarray(x).astype(np.float32 if dtypes.info(dtype).is_float else np.int64)


def _to_storage(x: np.ndarray, dtype: str) -> np.ndarray:
    """Compute array -> storage array of `dtype` (rounded to nearest even, integers wrapped)."""
    x = np.asarray(x)
    if dtype == "pred":
        return x != 0
    with np.errstate(over="ignore"):
        return x.astype(dtypes.numpy_dtype(dtype))


def eval_dot_general(op: DotGeneralOp, lhs: np.ndarray, rhs: np.ndarray, lt: str, rt: str,
                     out_t: TensorType) -> np.ndarray:
    lb, rb = list(op.lhs_batch), list(op.rhs_batch)
    lc, rc = list(op.lhs_contracting), list(op.rhs_contracting)
    lf = [d for d in range(lhs.ndim) if d not in lb and d not in lc]
    rf = [d for d in range(rhs.ndim) if d not in rb and d not in rc]
    is_float = dtypes.info(lt).is_float
    work = np.float64 if is_float else np.int64
    L = _as_compute(lhs, lt).astype(work).transpose(lb + lf + lc)
    R = _as_compute(rhs, rt).astype(work).transpose(rb + rc + rf)
    B = [lhs.shape[d] for d in lb]
    M = [lhs.shape[d] for d in lf]
    K = [lhs.shape[d] for d in lc]
    N = [rhs.shape[d] for d in rf]
    L2 = L.reshape(math.prod(B), math.prod(M), math.prod(K))
    R2 = R.reshape(math.prod(B), math.prod(K), math.prod(N))
    res = np.matmul(L2, R2).reshape(B + M + N)
    if is_float:
        res = res.astype(np.float32)
    return _to_storage(res, out_t.dtype)


def eval_reduce(op: ReduceOp, x: np.ndarray, init: np.ndarray, dtype: str,
                out_t: TensorType) -> np.ndarray:
    v = _as_compute(x, dtype)
    i = _as_compute(init, dtype).reshape(())
    axes = tuple(op.dims)
    if op.op == "SUM":
        r = np.sum(v, axis=axes) + i
    elif op.op == "PRODUCT":
        r = np.prod(v, axis=axes) * i
    elif op.op == "MAX":
        r = np.maximum(np.max(v, axis=axes, initial=-np.inf if dtypes.info(dtype).is_float
                              else np.iinfo(np.int64).min), i)
    elif op.op == "MIN":
        r = np.minimum(np.min(v, axis=axes, initial=np.inf if dtypes.info(dtype).is_float
                              else np.iinfo(np.int64).max), i)
    elif op.op == "AND":
        r = np.bitwise_and.reduce(v, axis=axes) & i if v.size else np.broadcast_to(i, out_t.shape)
    elif op.op == "OR":
        r = np.bitwise_or.reduce(v, axis=axes) | i if v.size else np.broadcast_to(i, out_t.shape)
    elif op.op == "XOR":
        r = np.bitwise_xor.reduce(v, axis=axes) ^ i if v.size else np.broadcast_to(i, out_t.shape)
    else:
        raise InterpreterError(f"reduce op {op.op}")
    if dtypes.info(dtype).is_float:
        r = np.asarray(r, dtype=np.float32)
    return _to_storage(np.asarray(r), out_t.dtype)


# ---- whole executables ---------------------------------------------------------------------------

def _storage_dtype(dtype: str) -> np.dtype:
    return np.dtype(np.uint8) if dtype == "pred" else dtypes.numpy_dtype(dtype)


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
        dt = _storage_dtype(v.type.dtype)
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
        dt = _storage_dtype(v.type.dtype)
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
        from jax_chip.compiler.inspect_executable import read_executable
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


MAX_LOOP_ITERATIONS = 1_000_000


def _clamped_starts(ins: Sequence[np.ndarray], first: int, shape: Sequence[int],
                    sizes: Sequence[int]) -> tuple[slice, ...]:
    """The window at the start indices ins[first:], clamped into the operand (XLA semantics)."""
    starts = [min(max(int(np.asarray(i).reshape(())), 0), d - z)
              for i, d, z in zip(ins[first:], shape, sizes)]
    return tuple(slice(s, s + z) for s, z in zip(starts, sizes))


def _dynamic_slice(ins: Sequence[np.ndarray], out: TensorType) -> np.ndarray:
    x = np.asarray(ins[0])
    return np.array(x[_clamped_starts(ins, 1, x.shape, out.shape)], copy=True)


def _dynamic_update_slice(ins: Sequence[np.ndarray], out: TensorType) -> np.ndarray:
    x, upd = np.array(ins[0], copy=True), np.asarray(ins[1])
    x[_clamped_starts(ins, 2, x.shape, upd.shape)] = upd
    return x


# lower_indexing.IndexingOp kernels the interpreter evaluates (the others run on the device only)
_DYNAMIC_SLICING = {"DynamicSlice": _dynamic_slice, "DynamicUpdateSlice": _dynamic_update_slice}


def _assign(mem: _Memory, srcs: Sequence[int], dsts: Sequence[int]) -> None:
    """dsts[i] = srcs[i] for all i at once (every source read before any write)."""
    data = [np.array(mem.array(s), copy=True) for s in srcs]
    for d, x in zip(dsts, data):
        mem.write(d, x)


def _run_kernels(exe: ExecutableDesc, mem: _Memory, kernels: Sequence[KernelDesc]) -> None:
    for k in kernels:
        if isinstance(k.op, WhileOp):
            n = k.op.num_carried
            _assign(mem, k.inputs[:n], k.outputs)
            for _ in range(MAX_LOOP_ITERATIONS):
                _run_kernels(exe, mem, k.op.cond.kernels)
                if not bool(mem.array(k.op.cond.results[0])):
                    break
                _run_kernels(exe, mem, k.op.body.kernels)
                _assign(mem, k.op.body.results, k.outputs)
            else:
                raise InterpreterError(f"{k.name}: more than {MAX_LOOP_ITERATIONS} iterations")
            continue
        if isinstance(k.op, CaseOp):
            index = int(mem.array(k.inputs[0]))
            nb = len(k.op.branches)
            branch = k.op.branches[index if 0 <= index < nb else nb - 1]
            _run_kernels(exe, mem, branch.kernels)
            _assign(mem, branch.results, k.outputs)
            continue
        ins = [mem.array(i) for i in k.inputs]
        in_types = [exe.values[i].type for i in k.inputs]
        out_types = [exe.values[i].type for i in k.outputs]
        op = k.op
        if isinstance(op, ElementwiseOp):
            outs = eval_elementwise(op, ins, [t.dtype for t in in_types])
        elif isinstance(op, DotGeneralOp):
            outs = [eval_dot_general(op, ins[0], ins[1], in_types[0].dtype, in_types[1].dtype,
                                     out_types[0])]
        elif isinstance(op, ReduceOp) and op.prologue is not None:
            (x,) = eval_elementwise(op.prologue, ins[:-1], [t.dtype for t in in_types[:-1]])
            pro = op.prologue
            x_dtype = pro.instrs[pro.results[0][0]].dtype
            outs = [eval_reduce(op, np.asarray(x).reshape(tuple(pro.dims)), ins[-1], x_dtype,
                                out_types[0])]
        elif isinstance(op, ReduceOp):
            outs = [eval_reduce(op, ins[0], ins[1], in_types[0].dtype, out_types[0])]
        elif isinstance(op, ConcatenateOp):
            outs = [np.concatenate([np.asarray(x) for x in ins], axis=op.dim)]
        elif isinstance(op, CopyOp):
            outs = [np.array(ins[0], copy=True)]
        elif getattr(op, "OP_TYPE", None) in _DYNAMIC_SLICING:
            outs = [_DYNAMIC_SLICING[op.OP_TYPE](ins, out_types[0])]
        elif hasattr(op, "evaluate"):    # custom-call kernels (custom_call_kernel.py)
            outs = op.evaluate([np.array(x, copy=True) for x in ins], [t.dtype for t in in_types],
                               [t.dtype for t in out_types])
        else:
            raise InterpreterError(f"unknown kernel op {op}")
        if len(outs) != len(k.outputs):
            raise InterpreterError(f"kernel {k.name} produced {len(outs)} of {len(k.outputs)} "
                                   f"outputs")
        for vid, data, t in zip(k.outputs, outs, out_types):
            mem.write(vid, np.asarray(data).reshape(t.shape))
