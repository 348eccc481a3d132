"""The Gather kernel: `stablehlo.gather` with full StableHLO semantics (batching dims,
index_vector_dim, collapsed dims); start indices clamped into the operand like XLA.
Cost: reads the gathered elements and the indices, writes the result."""

from __future__ import annotations

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.table_op import table_kind

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


KIND = table_kind("Gather", ("stablehlo.gather",), FIELDS, _lower, _cost)
