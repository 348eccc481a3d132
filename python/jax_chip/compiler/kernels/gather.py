"""The Gather kernel: `stablehlo.gather` with full StableHLO semantics (batching dims,
index_vector_dim, collapsed dims); start indices clamped into the operand like XLA.
Cost: reads the gathered elements and the indices, writes the result. Evaluated in numpy for
the reference interpreter (`gather`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.base import Evaluation
from jax_chip.compiler.kernels.table_op import TableOp, table_kind

FIELDS = [("offset_dims", "i64s"), ("collapsed_slice_dims", "i64s"),
          ("operand_batching_dims", "i64s"), ("start_indices_batching_dims", "i64s"),
          ("start_index_map", "i64s"), ("index_vector_dim", "long"),
          ("slice_sizes", "i64s"), ("indices_are_sorted", "bool")]


def _lower(node: Node) -> dict:
    return {k: node.attrs[k] for k, _ in FIELDS}


def _cost(node: Node) -> KernelCost:
    out = node.result.type
    return KernelCost(bytes_read=float(out.nbytes + node.operands[1].type.nbytes),
                      bytes_written=float(out.nbytes))


def gather(operand: np.ndarray, start_indices: np.ndarray, *, offset_dims: Sequence[int],
           collapsed_slice_dims: Sequence[int], operand_batching_dims: Sequence[int],
           start_indices_batching_dims: Sequence[int], start_index_map: Sequence[int],
           index_vector_dim: int, slice_sizes: Sequence[int],
           indices_are_sorted: bool = False) -> np.ndarray:
    """StableHLO gather (the spec's semantics, vectorized): every batch position of the start
    indices reads the slice_sizes window at its start index (each component clamped into
    [0, operand dim - slice size], as XLA does), offset by its own position along the
    operand batching dims; collapsed and batching dims of the window are dropped and the
    remaining window dims land at offset_dims of the result."""
    operand = np.asarray(operand)
    idx = np.asarray(start_indices).astype(np.int64)
    if index_vector_dim == idx.ndim:          # an implicit trailing index vector of size 1
        idx = idx[..., None]
    else:
        idx = np.moveaxis(idx, index_vector_dim, -1)
    batch_shape = idx.shape[:-1]
    rank = operand.ndim
    starts = np.zeros(batch_shape + (rank,), np.int64)
    for d_start, d_op in enumerate(start_index_map):
        hi = operand.shape[d_op] - slice_sizes[d_op]
        starts[..., d_op] = np.clip(idx[..., d_start], 0, hi)
    for d_op, d_start in zip(operand_batching_dims, start_indices_batching_dims):
        axis = d_start - (1 if d_start > index_vector_dim else 0)   # index_vector_dim removed
        shape = [1] * len(batch_shape)
        shape[axis] = batch_shape[axis]
        starts[..., d_op] += np.arange(batch_shape[axis]).reshape(shape)
    # operand index of every (batch position, window position): starts + window offset
    window = np.indices(tuple(slice_sizes), dtype=np.int64)            # [rank, *slice_sizes]
    nb, nw = len(batch_shape), rank
    start_b = starts.reshape(batch_shape + (1,) * nw + (rank,))
    index = tuple(start_b[..., d] + window[d].reshape((1,) * nb + tuple(slice_sizes))
                  for d in range(rank))
    out = operand[index]                                              # [*batch, *slice_sizes]
    dropped = set(collapsed_slice_dims) | set(operand_batching_dims)
    out = out.reshape(batch_shape + tuple(z for d, z in enumerate(slice_sizes)
                                          if d not in dropped))
    result_rank = out.ndim
    batch_positions = [r for r in range(result_rank) if r not in set(offset_dims)]
    return np.moveaxis(out, list(range(result_rank)), batch_positions + list(offset_dims))


def _evaluate(op: TableOp, ev: Evaluation) -> list[np.ndarray]:
    out = gather(ev.inputs[0], ev.inputs[1], **op.fields)
    return [np.array(out, copy=True)]


KIND = table_kind("Gather", ("stablehlo.gather",), FIELDS, _lower, _cost, evaluate=_evaluate)
