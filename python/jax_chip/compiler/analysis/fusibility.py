"""Which ops an Elementwise kernel can compute (elementwise fusion, constant folding)."""

from __future__ import annotations

from jax_chip.compiler.ir import ew_semantics
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.ir.graph import Node

FUSIBLE_KINDS = frozenset({"elementwise", "movement", "iota", "constant"})


def is_splat_constant(node: Node) -> bool:
    return node.op == "stablehlo.constant" and (
        bool(node.attrs.get("splat")) or node.result.type.num_elements == 1)


def is_reinterpreting(node: Node) -> bool:
    """A reshape between c64[S] and f32[S, 2] (complex_lowering): an alias of the same bytes
    that an Elementwise kernel cannot read through."""
    return (node.op == "stablehlo.reshape" and bool(node.operands)
            and node.operands[0].type.dtype != node.result.type.dtype)


def is_fusible(node: Node) -> bool:
    spec = op_registry.lookup(node.op)
    if is_reinterpreting(node):
        return False
    if spec is None or spec.kind not in FUSIBLE_KINDS or len(node.results) != 1:
        return False
    if node.op == "stablehlo.constant":
        return is_splat_constant(node)
    return True


def is_duplicable(node: Node) -> bool:
    spec = op_registry.lookup(node.op)
    return not is_reinterpreting(node) and spec is not None and (spec.kind in ("movement", "iota") or is_splat_constant(node))


def is_expensive(node: Node) -> bool:
    spec = op_registry.lookup(node.op)
    return spec is not None and (spec.ewop in ew_semantics.TRANSCENDENTAL or spec.ewop == "ERF")
