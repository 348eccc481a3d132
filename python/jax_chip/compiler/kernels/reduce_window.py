"""The ReduceWindow kernel: `stablehlo.reduce_window`; cumulative windows (jnp.cumsum/cumprod/
cummax/cummin, lax.cumlogsumexp) run as scans, general windows with strides, padding and
dilations. Cost: the body once per output element (scans) or per window element."""

from __future__ import annotations

import math
from typing import Any

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.table_op import program_flops, region_fields, table_kind

FIELDS = [("window_dimensions", "i64s"), ("window_strides", "i64s"),
          ("base_dilations", "i64s"), ("window_dilations", "i64s"),
          ("padding_low", "i64s"), ("padding_high", "i64s"), ("kind", "ubyte"),
          ("body", "program")]


def _lower(node: Node) -> dict:
    return region_fields(node, FIELDS, "body")


def is_scan_window(a: dict[str, Any], shape: tuple[int, ...]) -> bool:
    """A cumulative (prefix or suffix) window along one dimension, as jnp.cumsum emits."""
    dims = [d for d, w in enumerate(a["window_dimensions"]) if w != 1]
    if len(dims) != 1 or any(s != 1 for s in a["window_strides"]):
        return False
    if any(x != 1 for x in a["base_dilations"]) or any(x != 1 for x in a["window_dilations"]):
        return False
    d = dims[0]
    n, w = shape[d], a["window_dimensions"][d]
    lo, hi = a["padding_low"], a["padding_high"]
    if any(lo[k] or hi[k] for k in range(len(shape)) if k != d):
        return False
    return w == n and ((lo[d], hi[d]) in ((n - 1, 0), (0, n - 1)))


def _cost(node: Node) -> KernelCost:
    n = len(node.results)
    a = node.attrs
    out = node.results[0].type
    if is_scan_window(a, node.operands[0].type.shape):
        evals = float(out.num_elements)
    else:
        evals = float(out.num_elements * math.prod(a["window_dimensions"]))
    vec, trans = program_flops(node, evals)
    return KernelCost(vector_flops=vec, transcendentals=trans,
                      bytes_read=float(sum(o.type.nbytes for o in node.operands[:n])),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


KIND = table_kind("ReduceWindow", ("stablehlo.reduce_window",), FIELDS, _lower, _cost)
