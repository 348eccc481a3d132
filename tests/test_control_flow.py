"""Control flow on the chip against the cpu backend: while loops (fori_loop, while_loop, scan),
switch / cond (stablehlo.case), nesting, loop-carried values, captured values, donation, and the
modeled time of loops (every iteration's kernels are counted)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jax_chip.profiler as chip_prof
from parity import check_parity, chip, random_array

RNG = np.random.default_rng(31)


def rand(*shape, dtype=np.float32, scale=1.0):
    return (random_array(RNG, shape, dtype) * scale).astype(dtype)


def test_while_loop_counter_and_carry():
    def f(x, w):
        def body(c):
            i, x = c
            return i + 1, jnp.tanh(x @ w) + x
        return lax.while_loop(lambda c: c[0] < 5, body, (0, x))
    check_parity(f, rand(8, 16), rand(16, 16, scale=0.2))


@pytest.mark.parametrize("n", [-1, 0, 1, 7])
def test_data_dependent_trip_count(n):
    def f(x, n):
        return lax.fori_loop(0, n, lambda i, c: c * 1.5 + i.astype(jnp.float32), x)
    check_parity(f, rand(5), np.int32(n))


def test_while_until_converged():
    def f(x):
        def cond(c):
            return jnp.max(jnp.abs(c[1] - jnp.cos(c[1]))) > 1e-6
        return lax.while_loop(cond, lambda c: (c[0] + 1, jnp.cos(c[1])), (0, x))
    check_parity(f, rand(6))


def test_parallel_assignment_of_carried_values():
    def f(a, b, c):
        return lax.fori_loop(0, 5, lambda i, s: (s[1], s[2] * 2.0, s[0] - 1.0), (a, b, c))
    check_parity(f, rand(7), rand(7), rand(7))


def test_scan_carry_over_stacked_weights():
    def f(x, ws):
        def layer(h, w):
            return jax.nn.gelu(h @ w) + h, None
        return lax.scan(layer, x, ws)[0]
    check_parity(f, rand(4, 32), rand(3, 32, 32, scale=0.15))


def test_scan_with_outputs():
    def f(x, w):
        def step(c, _):
            c = jnp.tanh(c @ w)
            return c, c.sum()
        return lax.scan(step, x, None, length=5)
    check_parity(f, rand(4, 8), rand(8, 8, scale=0.3))


@pytest.mark.parametrize("index", [-3, 0, 1, 2, 9])
def test_switch(index):
    branches = [lambda x, w: x @ w, lambda x, w: jnp.sin(x) * 2.0, lambda x, w: jnp.exp(-x * x)]
    f = lambda i, x, w: lax.switch(i, branches, x, w)
    check_parity(f, np.int32(index), rand(4, 4), rand(4, 4))


@pytest.mark.parametrize("pred", [True, False])
def test_cond_with_several_results(pred):
    def f(p, x, y):
        return lax.cond(p, lambda a, b: (a + b, a.sum()), lambda a, b: (a * b, b.max()), x, y)
    check_parity(f, pred, rand(3, 5), rand(3, 5))


def test_cond_inside_loop_inside_cond():
    def f(x, k):
        def inner(i, acc):
            return lax.cond((i + k) % 3 == 0, lambda v: v * 0.5, lambda v: jnp.sin(v) + 1.0, acc)
        return lax.cond(k > 0, lambda v: lax.fori_loop(0, 6, inner, v), lambda v: -v, x)
    for k in (2, -1):
        check_parity(f, rand(4, 4), np.int32(k))


def test_nested_loops():
    def f(x, y):
        def outer(i, acc):
            return lax.fori_loop(0, 3, lambda j, a: a * 0.9 + y * (i + j), acc)
        return lax.fori_loop(0, 4, outer, x)
    check_parity(f, rand(8), rand(8))


def test_bf16_and_integer_carries():
    def f(x, n):
        def body(i, c):
            a, b = c
            return (a * jnp.bfloat16(1.25) - jnp.bfloat16(0.5)), (b * 3 + i) % 1000
        return lax.fori_loop(0, 4, body, (x, n))
    check_parity(f, rand(16, dtype=jnp.bfloat16), rand(16, dtype=np.int32))


def test_loop_result_donated_in_place():
    dev = chip()
    f = jax.jit(lambda x: lax.fori_loop(0, 3, lambda i, c: c * 2.0 + 1.0, x), donate_argnums=0)
    x = rand(64)
    want = x.copy()
    for _ in range(3):
        want = want * 2.0 + 1.0
    got = f(jax.device_put(x, dev))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_loop_kernels_are_modeled_every_iteration():
    dev = chip()
    w = jax.device_put(rand(64, 64, scale=0.1), dev)
    x = jax.device_put(rand(8, 64), dev)

    def run(n):
        f = jax.jit(lambda x, w: lax.fori_loop(0, n, lambda i, c: jnp.tanh(c @ w), x))
        f(x, w).block_until_ready()
        with chip_prof.trace() as prof:
            f(x, w).block_until_ready()
        s = prof.summary()
        dots = sum(k.calls for k in s.kernels if k.category == "dot_general")
        return s.device_time_us, dots

    t2, d2 = run(2)
    t8, d8 = run(8)
    assert (d2, d8) == (2, 8)
    assert t8 > t2 * 2.5        # six more iterations of a matmul + tanh + loop control
