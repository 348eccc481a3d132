"""algebraic_simplify: XLA's rounding-changing rewrites, so the chip rounds like jax's cpu
backend. Each rewrite is checked two ways: the graph has the rewritten form, and the compiled
program (reference interpreter, chip numerics) is bit-identical to jax on CPU."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

from .helpers import compile_fn, compiled_graph, on_cpu, randn
from .reference_interpreter import execute

R = np.random.default_rng(7)
X = R.standard_normal(4096).astype(np.float32)
Y = R.uniform(0.5, 2.0, 4096).astype(np.float32)
Z = R.uniform(0.5, 2.0, 4096).astype(np.float32)
E = R.uniform(-2.0, 2.0, 4096).astype(np.float32)


def _ops(f, *args) -> list[str]:
    g = compiled_graph(f, *args, stop_after="algebraic_simplify")
    return [n.op.split(".")[-1] for n in g.nodes if n.op != "stablehlo.constant"]


def _bit_exact(f, *args):
    with on_cpu():
        want = [np.asarray(w) for w in jax.tree_util.tree_leaves(jax.jit(f)(*args))]
    got = execute(compile_fn(f, *args), [np.asarray(a) for a in args])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


CASES = {
    "div_const": (lambda x: x / 3.0, (X,), "multiply"),
    "div_const_f16": (lambda x: x / 3.0, (X.astype(np.float16),), "multiply"),
    "div_sqrt": (lambda x, y: x / jnp.sqrt(y), (X, Y), "rsqrt"),
    "div_rsqrt": (lambda x, y: x / lax.rsqrt(y), (X, Y), "sqrt"),
    "div_pow": (lambda x, y, e: x / y ** e, (X, Y, E), "power"),
    "div_div_left": (lambda x, y, z: (x / y) / z, (X, Y, Z), "divide"),
    "div_div_right": (lambda x, y, z: x / (y / z), (X, Y, Z), "divide"),
    "div_div_both": (lambda x, y, z, e: (x / y) / (z / (e + 3.0)), (X, Y, Z, E), "divide"),
    "pow_small_ints": (lambda y: (y ** 2.0, y ** 3.0, y ** 0.5, y ** -1.0, y ** 1.0), (Y,), None),
    "log_exp": (lambda x: jnp.log(jnp.exp(x)), (X,), None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewrite_rounds_like_the_cpu_backend(name):
    f, args, op = CASES[name]
    ops = _ops(f, *args)
    if op is not None:
        assert op in ops, ops
    if name != "div_sqrt":   # the interpreter's rsqrt is exact, the chip's is XLA's (e2e test)
        _bit_exact(f, *args)


def test_division_by_a_constant_becomes_a_multiplication():
    ops = _ops(lambda x: x / 3.0, X)
    assert "divide" not in ops and "multiply" in ops
    # bf16 divides are left alone: the cpu backend divides bf16 in f32
    assert "divide" in _ops(lambda x: x / 3.0, X.astype(ml_dtypes.bfloat16))
    _bit_exact(lambda x: x / 3.0, X.astype(ml_dtypes.bfloat16))
    # constant / constant is folded as a true division, like XLA's constant folding
    _bit_exact(lambda: jnp.arange(1, 9, dtype=jnp.float32) / 3.0)


def test_small_integer_powers():
    ops = _ops(lambda y: (y ** 2.0, y ** 3.0, y ** 0.5), Y)
    assert "power" not in ops and "sqrt" in ops and ops.count("multiply") == 3


def test_rope_inverse_frequencies_match_bit_for_bit():
    """1 / base ** (2i / d) is folded at compile time as base ** (-2i / d): an ulp off here grows
    with the position (cos(pos * inv_freq) at pos ~ 4000 would differ by ~1e-5)."""
    def inv_freq():
        return 1.0 / (10000.0 ** (jnp.arange(0, 128, 2, dtype=jnp.float32) / 128))
    _bit_exact(inv_freq)

    def angles(pos):
        return pos.astype(jnp.float32)[:, None] * inv_freq()[None, :]
    _bit_exact(angles, np.arange(0, 8192, 97, dtype=np.int32))


def test_integer_division_is_untouched():
    ops = _ops(lambda a: a // 3, np.arange(1, 50, dtype=np.int32))
    assert "multiply" not in ops
    _bit_exact(lambda a: a // 3, randn((64,), np.int32))
