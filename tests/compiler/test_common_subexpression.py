"""Common subexpression elimination (xla_passes/common_subexpression.py) and the concatenate
cleanup of xla_passes/simplify.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from .helpers import check_against_jax, compiled_graph, randn

from jax_chip.compiler.ir.graph import Graph, Output, TensorType
from jax_chip.compiler.ir.context import PassContext
from xla_passes import common_subexpression


def _count(g: Graph, op: str) -> int:
    return sum(1 for n in g.walk() if n.op == op)


@jax.jit
def _normalize(p):
    return jnp.where(p < 0, p + 16, p)      # a private func.call in the lowered module


def two_layers(p, a, b):
    """The same index computation in two 'layers' (jax emits each call of a jitted helper as a
    func.call, which MLIR's cse cannot merge; the importer inlines them)."""
    return a * _normalize(p)[:, None] + b * _normalize(p)[:, None].astype(jnp.float32)


ARGS = (np.array([3, -1, 7, -16], np.int32), randn((4, 8)), randn((4, 8)))


def test_inlined_duplicates_are_merged():
    before = compiled_graph(two_layers, *ARGS, stop_after="simplify")
    after = compiled_graph(two_layers, *ARGS, stop_after="common_subexpression")
    assert _count(before, "stablehlo.compare") == 2
    assert _count(after, "stablehlo.compare") == 1
    assert _count(after, "stablehlo.multiply") == 2    # different operands: both stay
    check_against_jax(two_layers, *ARGS)


def test_constants_merge_by_value_and_different_ones_stay():
    g = Graph()
    x = g.add_param(TensorType("f32", (4,)))
    t = TensorType("f32", (4,))
    c1 = g.add_node("stablehlo.constant", [], [t], {"value": np.arange(4, dtype=np.float32),
                                                    "splat": False})
    c2 = g.add_node("stablehlo.constant", [], [t], {"value": np.arange(4, dtype=np.float32),
                                                    "splat": False})
    c3 = g.add_node("stablehlo.constant", [], [t], {"value": np.arange(4, dtype=np.float32) + 1,
                                                    "splat": False})
    a1 = g.add_node("stablehlo.add", [x, c1.result], [t])
    a2 = g.add_node("stablehlo.add", [x, c2.result], [t])
    a3 = g.add_node("stablehlo.add", [x, c3.result], [t])
    side = g.add_node("stablehlo.custom_call", [a1.result], [t], {"call_target_name": "f"})
    side2 = g.add_node("stablehlo.custom_call", [a1.result], [t], {"call_target_name": "f"})
    g.outputs = [Output(a2.result), Output(a3.result), Output(side.result), Output(side2.result)]
    common_subexpression.run(g, PassContext())
    g.verify()
    assert [n.op for n in g.nodes].count("stablehlo.constant") == 2
    assert g.outputs[0].value is a1.result            # a2 merged into a1
    assert g.outputs[1].value is a3.result            # a different constant: kept
    assert g.outputs[2].value is not g.outputs[3].value   # custom calls are never merged


def test_concatenate_with_an_empty_operand_is_no_kernel():
    """sglang-jax's RoPE: concatenate((rotated, x[..., rotary_dim:])) with rotary_dim ==
    head_dim concatenates an empty part."""
    def f(q):
        rot, rest = q[..., :8] * 2.0, q[..., 8:]
        return jnp.concatenate((rot, rest), axis=-1) + 1.0
    q = randn((4, 2, 8))
    g = compiled_graph(f, q)
    assert _count(g, "stablehlo.concatenate") == 0
    check_against_jax(f, q)
