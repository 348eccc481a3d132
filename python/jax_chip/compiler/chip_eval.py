"""Constant evaluation with the chip's own kernels: the evaluator the driver hands to constant
folding (PassContext.evaluator).

A closed graph of constant expressions (its parameters bound to host arrays) goes through the
back end of the pipeline (elementwise fusion, output aliasing, memory planning, cost annotation),
is emitted as a chip executable by the compiler's own emission code, and runs on the calling
thread through the loaded plugin (chip_run_executable: the executable loader and the kernels the
device runs). So a folded constant is, by construction, what the chip computes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from jax_chip import native
from jax_chip.compiler import pipeline
from jax_chip.compiler.backend import emit
from jax_chip.compiler.backend.inspect_executable import read_executable
from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import CompileOptions, PassContext
from jax_chip.compiler.ir.executable import ExecutableDesc
from jax_chip.compiler.ir.graph import Graph, TensorType

# The passes that turn a graph of elementwise, movement and concatenate ops into kernels.
BACKEND_PASSES = ("elementwise_fusion", "output_aliasing", "memory_planning", "cost_annotation")


def storage_array(value: np.ndarray, t: TensorType) -> np.ndarray:
    """`value` as the chip stores a `t` (C-contiguous, pred as one byte per element, s4/u4
    packed two to a byte)."""
    arr = np.broadcast_to(np.asarray(value), t.shape)
    if t.dtype in dtypes.INT4:
        packed = dtypes.pack_int4(np.asarray(arr, dtype=dtypes.numpy_dtype(t.dtype)))
        return np.frombuffer(packed, np.uint8).copy()
    return np.array(arr, dtype=dtypes.storage_dtype(t.dtype), order="C")


def _empty(t: TensorType) -> np.ndarray:
    if t.dtype in dtypes.INT4:
        return np.empty(t.nbytes, np.uint8)
    return np.empty(t.shape, dtypes.storage_dtype(t.dtype))


def _from_storage(arr: np.ndarray, t: TensorType) -> np.ndarray:
    if t.dtype in dtypes.INT4:
        return dtypes.unpack_int4(arr.tobytes(), t.dtype, t.shape)
    return arr.astype(np.bool_) if t.dtype == "pred" else arr


def run_executable(exe: ExecutableDesc | bytes, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Runs an executable on host arrays with the chip's kernels; returns its outputs (bf16 as
    ml_dtypes.bfloat16, pred as bool)."""
    if isinstance(exe, ExecutableDesc):
        desc, data = exe, emit.serialize(exe)
    else:
        desc, data = read_executable(bytes(exe)), bytes(exe)
    params = [storage_array(a, p.type) for a, p in zip(args, desc.parameters)]
    outputs = [_empty(o.type) for o in desc.outputs]
    native.run_executable(data, params, outputs)
    return [_from_storage(o, d.type) for o, d in zip(outputs, desc.outputs)]


def evaluate_graph(graph: Graph, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The values of `graph`'s outputs with its parameters bound to `args`, computed by the chip
    (a ConstantEvaluator). `graph` is consumed (lowered to kernels)."""
    ctx = PassContext(options=CompileOptions())
    passes = {p.name: p for p in pipeline.PIPELINE}
    for name in BACKEND_PASSES:
        passes[name].apply(graph, ctx)
    exe = emit.build_executable(graph, name=graph.name or "constants",
                                compiler_version="constant evaluation")
    return run_executable(exe, args)
