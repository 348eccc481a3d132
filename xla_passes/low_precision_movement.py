"""Low-precision data movement: concatenate, pad, gather, dynamic_slice, dynamic_update_slice and
scatters that set (`x.at[i].set(u)`) of fp8 or int4 values run on a byte-wide stand-in, so that an
fp8 KV cache or int4 weights can be concatenated, padded, gathered and updated like any other
array.

The indexing and concatenate kernels read and write whole bytes; fp8 is one byte, int4 is packed
two to a byte (docs/numerics.md). So the moved operands are retyped without changing a value:
fp8 by a same-width `bitcast_convert` to u8 (every bit pattern kept, NaN payloads included),
s4/u4 by a `convert` to s8/u8 (exact); the op runs on the stand-in; its result is retyped back
(a bitcast, or a convert that is exact because every value came from the 4-bit type). Index
operands are left alone. Ops that compute on the values (reduce, sort, scatter with a combiner,
max/min, ...) are not touched: their low-precision support is the op registry's (docs/ops.md).
A scatter is widened only when its update region returns the update unchanged.
"""

from __future__ import annotations

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Output, TensorType, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope

# op -> how many leading operands are moved data (the rest are indices)
MOVED_OPERANDS = {
    "stablehlo.concatenate": None,         # all of them
    "stablehlo.pad": 2,                    # operand, padding value
    "stablehlo.gather": 1,                 # operand (then start indices)
    "stablehlo.dynamic_slice": 1,          # operand (then one index per dimension)
    "stablehlo.dynamic_update_slice": 2,   # operand, update (then one index per dimension)
    "stablehlo.scatter": (0, 2),           # operand, (scatter indices), update
}

BITCAST, CONVERT = "stablehlo.bitcast_convert", "stablehlo.convert"


def stand_in(dtype: str) -> tuple[str, str]:
    """(byte-wide type, op that converts exactly to it and back) for an fp8 or int4 type."""
    if dtype in dtypes.FP8:
        return "u8", BITCAST
    return ("s8" if dtype == "s4" else "u8"), CONVERT


def _sets(region: Graph) -> bool:
    """The region returns its second argument (the update) and computes nothing."""
    return (not region.nodes and len(region.params) == 2 and len(region.outputs) == 1
            and region.outputs[0].value is region.params[1].value)


def _set_region(dtype: str) -> Graph:
    g = Graph("set")
    g.add_param(TensorType(dtype, ()))
    update = g.add_param(TensorType(dtype, ()))
    g.outputs.append(Output(update))
    return g


def _widened(node: Node) -> bool:
    n = MOVED_OPERANDS.get(node.op, 0)
    if n == 0 or len(node.results) != 1 or node.result.type.dtype not in dtypes.LOW_PRECISION:
        return False
    if node.op == "stablehlo.scatter":
        region = node.attrs.get("region")
        return len(node.operands) == 3 and isinstance(region, Graph) and _sets(region)
    return True


def _is_moved(node: Node, i: int) -> bool:
    n = MOVED_OPERANDS[node.op]
    return n is None or (i in n if isinstance(n, tuple) else i < n)


def run(graph: Graph, ctx: PassContext) -> bool:
    out: list[Node] = []
    changed = False
    for node in graph.nodes:
        if not _widened(node):
            out.append(node)
            continue
        low = node.result.type.dtype
        wide, op = stand_in(low)

        def retype(v: Value, dtype: str) -> Value:
            c = graph.make_node(op, [v], [v.type.with_dtype(dtype)], {}, node.loc)
            out.append(c)
            return c.result

        operands = [retype(v, wide) if _is_moved(node, i) and v.type.dtype == low else v
                    for i, v in enumerate(node.operands)]
        attrs = dict(node.attrs)
        if node.op == "stablehlo.scatter":
            attrs["region"] = _set_region(wide)
        new = graph.make_node(node.op, operands, [node.result.type.with_dtype(wide)], attrs,
                              node.loc)
        out.append(new)
        back = retype(new.result, low)
        graph.replace_all_uses(node.result, back)
        changed = True
    graph.nodes = out
    return changed


PASS = Pass("low_precision_movement", Scope.FUNCTION, run)
