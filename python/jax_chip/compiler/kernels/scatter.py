"""The Scatter kernel: `stablehlo.scatter` with several operands; update computations
add/multiply/max/min/and/or/xor/set run natively, any other elementwise body as a register
program; in place on its operands when they share storage with the results.
Cost: the update computation per update element; reads the updates (twice unless SET), the
indices and, unless in place, the operands it copies."""

from __future__ import annotations

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.table_op import (
    in_place_copy_bytes,
    program_flops,
    region_fields,
    table_kind,
)

FIELDS = [("update_window_dims", "i64s"), ("inserted_window_dims", "i64s"),
          ("input_batching_dims", "i64s"), ("scatter_indices_batching_dims", "i64s"),
          ("scatter_dims_to_operand_dims", "i64s"), ("index_vector_dim", "long"),
          ("indices_are_sorted", "bool"), ("unique_indices", "bool"), ("kind", "ubyte"),
          ("update", "program")]


def _lower(node: Node) -> dict:
    return region_fields(node, FIELDS, "update")


def _in_place(node: Node) -> list[tuple[int, int]]:
    return [(i, i) for i in range(len(node.results))]


def _cost(node: Node) -> KernelCost:
    n = len(node.results)
    updates = node.operands[n + 1:]
    upd_elems = float(updates[0].type.num_elements)
    upd_bytes = float(sum(u.type.nbytes for u in updates))
    copy = in_place_copy_bytes(node, _in_place(node))
    vec, trans = program_flops(node, upd_elems)
    return KernelCost(vector_flops=vec, transcendentals=trans,
                      bytes_read=upd_bytes * (1 if node.attrs.get("kind") == "SET" else 2)
                      + node.operands[n].type.nbytes + copy,
                      bytes_written=upd_bytes + copy)


KIND = table_kind("Scatter", ("stablehlo.scatter",), FIELDS, _lower, _cost, in_place=_in_place)
