"""The Sort kernel: `stablehlo.sort` with several operands, stable or not; the comparator as a
register program, or keys compared natively for lexicographic comparators (jnp.sort/argsort;
xla_passes/indexing_lowering.py). Cost: n log n comparisons per row, each the comparator's
instructions; reads and writes every operand."""

from __future__ import annotations

import math

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.table_op import table_kind
from jax_chip.compiler.lowering.regions import RegionProgram, program_cost

FIELDS = [("dimension", "long"), ("is_stable", "bool"), ("comparator", "program"),
          ("keys", "keys")]


def _lower(node: Node) -> dict:
    a = node.attrs
    return {"dimension": a["dimension"], "is_stable": a["is_stable"],
            "comparator": a["program"], "keys": a.get("keys") or None}


def _cost(node: Node) -> KernelCost:
    t = node.operands[0].type
    n = t.shape[node.attrs["dimension"]] if t.rank else 1
    rows = t.num_elements // n if n else 0
    compares = float(rows * n * max(1.0, math.log2(max(n, 1))))
    prog: RegionProgram | None = node.attrs.get("program")
    per = max(1, program_cost(prog)[0]) if prog is not None else 1
    nbytes = float(sum(o.type.nbytes for o in node.operands))
    return KernelCost(vector_flops=compares * per, bytes_read=nbytes, bytes_written=nbytes)


KIND = table_kind("Sort", ("stablehlo.sort",), FIELDS, _lower, _cost)
