"""Dot lowering: every matrix product becomes a stablehlo.dot_general node, which is one
dot_general kernel (output order [batch..., lhs free..., rhs free...], as in StableHLO).

- stablehlo.dot (vector/matrix forms) -> dot_general contracting lhs' last and rhs' first dim.
- operands of different element types are converted to the wider one (the matrix unit takes
  one input type), except fp8, int4 and int8 operands: the matrix unit reads them as they are.
- quantized weights: an operand that is an exact convert from int4, int8 or fp8 (jax converts
  int4/int8 weights to the activations' type before the dot) is read from the convert's source,
  so the matrix unit reads the packed int4 / int8 / fp8 bytes (weight-only quantization) and the
  wide copy is never materialized. The products are the same exact values; a floating dot keeps
  one floating operand (its f32 accumulation).
- layout: an operand that is a transpose is read directly, the permutation folded into the
  dimension numbers, when that keeps the operand's free dimensions in order (the output layout
  is unchanged); the dot_general kernel reads any batch/contracting dims, so no transposed copy
  is materialized (e.g. q @ k.T).
"""

from __future__ import annotations

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope

# Wider type first: the type both operands are converted to when they differ.
_RANK = ["f32", "bf16", "f16", "s32", "u32", "s16", "u16", "s8", "u8", "pred"]


def _common_type(a: str, b: str) -> str:
    if dtypes.is_chip_dtype(a) and dtypes.is_chip_dtype(b):
        fa, fb = dtypes.info(a).is_float, dtypes.info(b).is_float
        if fa != fb:
            return a if fa else b
        if {a, b} == {"bf16", "f16"}:
            return "f32"
    for t in _RANK:
        if t in (a, b):
            return t
    return a


_NARROW_SOURCES = dtypes.LOW_PRECISION | {"s8", "u8"}


def _exact_narrow_source(v: Value) -> Value | None:
    """The int4/int8/fp8 source of `v` when `v` is a value-preserving convert of one, else None."""
    node = v.producer
    if node is None or node.op != "stablehlo.convert":
        return None
    src, dst = node.operands[0].type.dtype, v.type.dtype
    if src not in _NARROW_SOURCES or not dtypes.is_chip_dtype(dst) or dst in dtypes.LOW_PRECISION:
        return None
    s, d = dtypes.info(src), dtypes.info(dst)
    if d.is_float:  # every fp8, int8 and int4 value is exact in f32, bf16 and f16
        return node.operands[0] if d.bits >= 16 else None
    if s.is_float or not d.is_int or d.bits <= s.bits:
        return None
    # an integer to a wider one that holds every value (unsigned -> any; signed -> signed)
    return node.operands[0] if (s.is_unsigned or d.is_signed) else None


def _narrow_operands(node: Node) -> bool:
    """Reads exact converts' narrow sources; a floating dot keeps a floating operand."""
    changed = False
    for i in (0, 1):
        src = _exact_narrow_source(node.operands[i])
        if src is None:
            continue
        other = node.operands[1 - i].type.dtype
        if dtypes.info(node.operands[i].type.dtype).is_float and not dtypes.info(src.type.dtype).is_float \
                and not (dtypes.is_chip_dtype(other) and dtypes.info(other).is_float):
            continue
        ops = list(node.operands)
        ops[i] = src
        node.operands = ops
        changed = True
    return changed


def _convert(graph: Graph, v: Value, dtype: str, loc: str, new_nodes: list[Node]) -> Value:
    node = graph.make_node("stablehlo.convert", [v], [v.type.with_dtype(dtype)], {}, loc)
    new_nodes.append(node)
    return node.result


def fold_transpose(operand: Value, batch: tuple[int, ...], contracting: tuple[int, ...]
                   ) -> tuple[Value, tuple[int, ...], tuple[int, ...]] | None:
    """(source, batch', contracting') reading through a transpose operand, or None."""
    node = operand.producer
    if node is None or node.op != "stablehlo.transpose":
        return None
    perm = tuple(node.attrs["permutation"])
    used = set(batch) | set(contracting)
    free = [perm[d] for d in range(len(perm)) if d not in used]
    if free != sorted(free):
        return None
    return node.operands[0], tuple(perm[d] for d in batch), tuple(perm[d] for d in contracting)


def _fold_operand_transposes(node: Node) -> bool:
    a = node.attrs
    before = list(node.operands)
    while True:
        lhs = fold_transpose(node.operands[0], a["lhs_batch"], a["lhs_contracting"])
        if lhs is None:
            break
        node.operands = [lhs[0], node.operands[1]]
        a["lhs_batch"], a["lhs_contracting"] = lhs[1], lhs[2]
    while True:
        rhs = fold_transpose(node.operands[1], a["rhs_batch"], a["rhs_contracting"])
        if rhs is None:
            break
        node.operands = [node.operands[0], rhs[0]]
        a["rhs_batch"], a["rhs_contracting"] = rhs[1], rhs[2]
    return node.operands != before


def run(graph: Graph, ctx: PassContext) -> bool:
    out: list[Node] = []
    changed = False
    for node in graph.nodes:
        if node.op == "stablehlo.dot":
            changed = True
            lhs, rhs = node.operands
            node.op = "stablehlo.dot_general"
            node.attrs = {"lhs_batch": (), "rhs_batch": (),
                          "lhs_contracting": (lhs.type.rank - 1,), "rhs_contracting": (0,)}
        if node.op == "stablehlo.dot_general":
            changed |= _narrow_operands(node)
            lhs, rhs = node.operands
            narrow = _NARROW_SOURCES
            if lhs.type.dtype != rhs.type.dtype and not (lhs.type.dtype in narrow or rhs.type.dtype in narrow):
                t = _common_type(lhs.type.dtype, rhs.type.dtype)
                if lhs.type.dtype != t:
                    lhs = _convert(graph, lhs, t, node.loc, out)
                if rhs.type.dtype != t:
                    rhs = _convert(graph, rhs, t, node.loc, out)
                node.operands = [lhs, rhs]
                changed = True
            changed |= _fold_operand_transposes(node)
        out.append(node)
    graph.nodes = out
    return graph.remove_dead_nodes() > 0 or changed


PASS = Pass("dot_lowering", Scope.FUNCTION, run)
