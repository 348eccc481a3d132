"""Control flow: while / case / if import (explicit captures), the control_flow pass, memory
planning across regions, and compiled loops and branches in the reference interpreter against
jax on CPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from .helpers import check_against_jax, compiled_graph, import_graph, lower_text, randn
from jax_chip.compiler import driver
from .reference_interpreter import execute
from jax_chip.compiler.ir.context import CompileOptions
from jax_chip.compiler.kernels.control_flow import CaseOp, WhileOp
from jax_chip.compiler.ir.graph import Graph, Node


def _nodes(g: Graph, op: str) -> list[Node]:
    return [n for n in g.walk() if n.op == op]


def _counted_loop(x, w):
    def body(c):
        i, x = c
        return i + 1, jnp.tanh(x @ w) + x
    return lax.while_loop(lambda c: c[0] < 5, body, (0, x))


# ---- import ----------------------------------------------------------------------------------

IMPLICIT_CAPTURE = """
func.func @main(%x: tensor<4xf32>, %w: tensor<4xf32>) -> (tensor<i32>, tensor<4xf32>) {
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %c1 = stablehlo.constant dense<1> : tensor<i32>
  %c5 = stablehlo.constant dense<5> : tensor<i32>
  %r:2 = stablehlo.while(%i = %c0, %a = %x) : tensor<i32>, tensor<4xf32>
   cond {
    %p = stablehlo.compare LT, %i, %c5, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %p : tensor<i1>
  } do {
    %i1 = stablehlo.add %i, %c1 : tensor<i32>
    %m = stablehlo.multiply %a, %w : tensor<4xf32>
    stablehlo.return %i1, %m : tensor<i32>, tensor<4xf32>
  }
  return %r#0, %r#1 : tensor<i32>, tensor<4xf32>
}
"""


def test_while_import_makes_captures_explicit():
    g = import_graph(IMPLICIT_CAPTURE)
    (w,) = [n for n in g.nodes if n.op == "stablehlo.while"]
    cond, body = w.regions
    assert w.attrs["num_carried"] == 2
    # %w is read from outside the loop: an explicit capture operand, a param of both regions
    # after the two carried block arguments
    assert w.operands[2] is g.params[1].value and len(w.operands) == 3
    assert len(cond.params) == len(body.params) == 3
    assert [p.value.type for p in body.params] == [o.type for o in w.operands]
    assert len(cond.outputs) == 1 and cond.outputs[0].value.type.dtype == "pred"
    assert [o.value.type for o in body.outputs] == [r.type for r in w.results]
    # constants defined outside are cloned into the regions, not captured
    assert [n.op for n in cond.nodes] == ["stablehlo.constant", "stablehlo.compare"]
    g.verify()


def test_jax_closed_over_weights_are_carried_then_captured():
    args = (randn((4, 8)), randn((8, 8)))
    g = import_graph(lower_text(_counted_loop, *args))
    (w,) = [n for n in g.nodes if n.op == "stablehlo.while"]
    assert w.attrs["num_carried"] == 3          # jax carries the closed-over weight
    g = compiled_graph(_counted_loop, *args, stop_after="control_flow")
    (w,) = [n for n in g.nodes if n.op == "stablehlo.while"]
    assert w.attrs["num_carried"] == 2          # ... which is loop-invariant: now a capture
    assert w.operands[2:] == [g.params[1].value]


def test_case_and_if_import():
    def f(i, p, x):
        a = lax.switch(i, [lambda x: x + 1, lambda x: x * 2, jnp.sin], x)
        return lax.cond(p, lambda x: x - 1, lambda x: x * x, a)
    g = import_graph(lower_text(f, np.int32(1), True, randn((4,))))
    cases = [n for n in g.nodes if n.op == "stablehlo.case"]
    assert [len(c.regions) for c in cases] == [3, 2]
    for c in cases:
        assert c.operands[0].type.dtype == "s32" and c.operands[0].type.shape == ()
        for b in c.regions:
            assert len(b.params) == len(c.operands) - 1
            assert [o.value.type for o in b.outputs] == [r.type for r in c.results]


def test_nested_regions_capture_through_every_level():
    def f(x, y):
        def outer(i, acc):
            return lax.fori_loop(0, 3, lambda j, a: a + y * j, acc) + i
        return lax.fori_loop(0, 2, outer, x)
    g = import_graph(lower_text(f, randn((4,)), randn((4,))))
    g.verify()
    (outer,) = [n for n in g.nodes if n.op == "stablehlo.while"]
    inner = [n for n in outer.regions[1].walk() if n.op == "stablehlo.while"]
    assert len(inner) == 1
    # y reaches the inner loop as a capture of the outer loop, then of the inner loop
    assert g.params[1].value in outer.operands
    outer_body = outer.regions[1]
    assert any(o.producer is None and outer_body.param_index(o) >= 0
               for o in inner[0].operands)


def test_while_with_func_call_in_body_is_inlined():
    def f(x):
        step = jax.jit(lambda c: jnp.sin(c) * 2.0)    # a nested jit: func.call in the body
        return lax.fori_loop(0, 3, lambda i, c: step(c), x)
    g = import_graph(lower_text(f, randn((4,))))
    assert not _nodes(g, "func.call")
    check_against_jax(f, randn((4,)))


# ---- the control_flow pass -------------------------------------------------------------------

def test_loop_invariant_carried_values_become_captures():
    def f(x, w):
        def step(c, _):
            return jnp.tanh(c @ w), None
        return lax.scan(step, x, None, length=3)[0]
    g = compiled_graph(f, randn((4, 8)), randn((8, 8)), stop_after="control_flow")
    (w,) = [n for n in g.nodes if n.op == "stablehlo.while"]
    # scan's carried weights are never updated: read in place, not copied into the loop
    assert w.attrs["num_carried"] == 2                       # counter and carry
    assert g.params[1].value in w.operands[2:]
    assert len(w.regions[1].outputs) == 2


def test_unused_captures_are_dropped():
    def f(x, y):
        return lax.cond(x.sum() > 0, lambda: x * 2, lambda: x + 1)[0] + y[0]
    g = compiled_graph(f, randn((4,)), randn((4,)), stop_after="control_flow")
    (c,) = [n for n in g.nodes if n.op == "stablehlo.case"]
    assert len(c.operands) == 2          # index + x
    for b in c.regions:
        assert len(b.params) == 1


# ---- memory planning across regions ----------------------------------------------------------

def _intervals_ok(g: Graph) -> None:
    iv = g.attrs["temp_intervals"]
    for i, (o1, s1, a1, b1) in enumerate(iv):
        for o2, s2, a2, b2 in iv[i + 1:]:
            assert not (a1 <= b2 and a2 <= b1 and o1 < o2 + s2 and o2 < o1 + s1)


def test_loop_carried_and_captured_storage_outlives_the_loop_body():
    def f(x, w, b):
        h = jnp.tanh(x @ w)                     # a temp captured by the loop
        def body(c):
            i, acc = c
            t = jnp.sin(acc @ w) * h + b        # body temps
            return i + 1, t * 0.5 + acc
        _, acc = lax.while_loop(lambda c: c[0] < 4, body, (0, h * 2))
        return acc @ w + h
    args = (randn((8, 16)), randn((16, 16), scale=0.3), randn((16,)))
    g = compiled_graph(f, *args)
    _intervals_ok(g)
    st = g.attrs["storage"]
    (w,) = [n for n in g.nodes if n.op == "stablehlo.while"]
    cond, body = w.regions
    nc = w.attrs["num_carried"]
    for region in (cond, body):
        for i, p in enumerate(region.params):
            outer = w.results[i] if i < nc else w.operands[i]
            assert st[p.value] == st[outer]
    # nothing the body writes lands on captured storage, nor on carried storage except the
    # carried value a kernel updates in place (xla_passes/loop_carry_inplace.py: i + 1 and
    # t * 0.5 + acc read their carried value only at the element they write)
    carried = {st[v] for v in w.results if st[v][0] == "TEMP"}
    captured = {st[v] for v in w.operands[nc:] if st[v][0] == "TEMP"}
    for n in body.nodes:
        shared = dict(n.attrs.get("shares_storage", ()))
        for r in n.results:
            assert st[r] not in captured
            if st[r] in carried:
                assert r.index in shared and st[r] == st[n.operands[shared[r.index]]]
    assert [st[o.value] for o in body.outputs] == [st[r] for r in w.results]
    check_against_jax(f, *args)


def test_case_branches_share_memory():
    def f(i, x, w):
        big = lambda x: jnp.tanh(jnp.tanh(x @ w) @ w) @ w
        return lax.switch(i, [big, lambda x: jnp.sin(x @ w) @ w], x)
    args = (np.int32(0), randn((32, 32)), randn((32, 32), scale=0.2))
    g = compiled_graph(f, *args)
    _intervals_ok(g)
    assert g.attrs["arena_bytes"] < g.attrs["temp_bytes"]
    for i in (0, 1, 7):
        check_against_jax(f, np.int32(i), *args[1:])


def test_no_memory_reuse_gives_every_temp_its_own_slot():
    args = (randn((8, 16)), randn((16, 16), scale=0.3))
    g = compiled_graph(_counted_loop, *args, options=CompileOptions(memory_reuse=False))
    iv = g.attrs["temp_intervals"]
    assert g.attrs["arena_bytes"] == g.attrs["temp_bytes"] == sum(s for _, s, _, _ in iv)
    offsets = sorted(o for o, _, _, _ in iv)
    assert len(set(offsets)) == len(offsets)
    check_against_jax(_counted_loop, *args, options=CompileOptions(memory_reuse=False))


# ---- compiled programs against jax on CPU ------------------------------------------------------

def test_while_loop():
    exe = check_against_jax(_counted_loop, randn((4, 8)), randn((8, 8), scale=0.3))
    (k,) = [k for k in exe.kernels if isinstance(k.op, WhileOp)]
    assert k.op.num_carried == 2 and k.op.cond.kernels and k.op.body.kernels


def test_zero_trip_while_returns_the_initial_values():
    def f(x, n):
        return lax.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 3.0), (0, x))
    check_against_jax(f, randn((5,)), np.int32(0))
    check_against_jax(f, randn((5,)), np.int32(-3))
    check_against_jax(f, randn((5,)), np.int32(4))


def test_data_dependent_while():
    def f(x):
        def cond(c):
            return jnp.max(jnp.abs(c[1])) > 1e-2
        return lax.while_loop(cond, lambda c: (c[0] + 1, c[1] * 0.5), (0, x))
    check_against_jax(f, randn((6,), scale=10.0))


def test_fori_loop_parallel_assignment_of_carried_values():
    def f(a, b):
        return lax.fori_loop(0, 5, lambda i, c: (c[1], c[0] * 2.0 + i), (a, b))
    check_against_jax(f, randn((7,)), randn((7,)))


def test_scan_carry():
    def f(x, w):
        def step(c, _):
            return jnp.tanh(c @ w) + c, None
        return lax.scan(step, x, None, length=6)[0]
    check_against_jax(f, randn((8, 16)), randn((16, 16), scale=0.2))


def test_nested_loops_and_branches():
    def f(x, y, k):
        def outer(i, acc):
            inner = lax.fori_loop(0, 3, lambda j, a: a * 0.9 + y * j, acc)
            return lax.cond((i + k) % 2 == 0, lambda v: v + 1.0, lambda v: jnp.cos(v), inner)
        return lax.fori_loop(0, 4, outer, x)
    check_against_jax(f, randn((4, 4)), randn((4, 4)), np.int32(1))


@pytest.mark.parametrize("index", [-2, 0, 1, 2, 3, 100])
def test_switch_index_clamping(index):
    def f(i, x):
        return lax.switch(i, [lambda x: x + 1, lambda x: x * 2, jnp.sin], x)
    exe = check_against_jax(f, np.int32(index), randn((4,)))
    (k,) = [k for k in exe.kernels if isinstance(k.op, CaseOp)]
    assert len(k.op.branches) == 3


def test_case_branch_returning_its_capture_or_a_constant():
    def f(p, x):
        return lax.cond(p, lambda x: (x, jnp.float32(2.0)), lambda x: (x * 3, x.sum()), x)
    check_against_jax(f, True, randn((4,)))
    check_against_jax(f, False, randn((4,)))


def test_while_result_returned_twice_and_donated_input():
    def f(x):
        r = lax.fori_loop(0, 3, lambda i, c: c * 2.0 + 1.0, x)
        return r, r
    check_against_jax(f, randn((8,)))
    check_against_jax(f, randn((8,)), donate_argnums=(0,))


def test_optimization_barrier_is_identity():
    def f(x, y):
        a, b = lax.optimization_barrier((x * 2, y + 1))
        return a * b
    g = compiled_graph(f, randn((4,)), randn((4,)))
    assert not _nodes(g, "stablehlo.optimization_barrier")
    check_against_jax(f, randn((4,)), randn((4,)))


def test_optimization_barrier_inside_a_loop_body():
    def f(x):
        def body(i, c):
            return lax.optimization_barrier(jnp.sin(c)) + 1.0
        return lax.fori_loop(0, 3, body, x)
    check_against_jax(f, randn((4,)))


IF_TEXT = """
func.func @main(%p: tensor<i1>, %x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %r = "stablehlo.if"(%p) ({
    %a = stablehlo.add %x, %y : tensor<4xf32>
    stablehlo.return %a : tensor<4xf32>
  }, {
    %m = stablehlo.multiply %x, %y : tensor<4xf32>
    stablehlo.return %m : tensor<4xf32>
  }) : (tensor<i1>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
"""


def test_stablehlo_if_runs_as_a_two_branch_case():
    g = import_graph(IF_TEXT)
    (c,) = [n for n in g.nodes if n.op == "stablehlo.case"]
    assert len(c.regions) == 2 and c.operands[0].type.dtype == "s32"
    exe = driver.compile_program(IF_TEXT, "mlir")
    x, y = randn((4,)), randn((4,))
    np.testing.assert_allclose(execute(exe, [np.bool_(True), x, y])[0], x + y, rtol=1e-6)
    np.testing.assert_allclose(execute(exe, [np.bool_(False), x, y])[0], x * y, rtol=1e-6)


def test_implicit_capture_program_runs():
    exe = driver.compile_program(IMPLICIT_CAPTURE, "mlir")
    x, w = randn((4,)), randn((4,))
    i, r = execute(exe, [x, w])
    assert int(i) == 5
    np.testing.assert_allclose(r, x * w ** 5, rtol=1e-5)
