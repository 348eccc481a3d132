"""jax.random on the chip against the cpu backend.

jax's default PRNG (threefry, partitionable) is u32 bit arithmetic, plus a u64 block counter
that the compiler narrows to u32 (xla_passes/narrow_64bit.py): every function that maps the
bits to its result with integer ops or exactly rounded float ops is bit-identical to the cpu
backend. Transforms through log / erf_inv (normal, gumbel, truncated_normal) are as close as the
chip's transcendentals are to XLA:CPU's (a few ulp; see docs/numerics.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity import chip, cpu, run

W = jax.random.wrap_key_data

BIT_EXACT = {
    "bits": lambda k: jax.random.bits(W(k), (257,)),
    "bits_u8": lambda k: jax.random.bits(W(k), (33,), jnp.uint8),
    "uniform": lambda k: jax.random.uniform(W(k), (31, 17)),
    "uniform_bf16": lambda k: jax.random.uniform(W(k), (64,), jnp.bfloat16, -2.0, 5.0),
    "bernoulli": lambda k: jax.random.bernoulli(W(k), 0.3, (7, 9)),
    "randint": lambda k: jax.random.randint(W(k), (100,), -5, 1000),
    "categorical": lambda k: jax.random.categorical(W(k), jnp.linspace(-2, 2, 60).reshape(4, 15)),
    "split": lambda k: jax.random.key_data(jax.random.split(W(k), 5)),
    "fold_in": lambda k: jax.random.key_data(jax.random.fold_in(W(k), 1234)),
    "permutation": lambda k: jax.random.permutation(W(k), 20),
    "choice": lambda k: jax.random.choice(W(k), 50, (10,), replace=False),
    "normal_bf16": lambda k: jax.random.normal(W(k), (128,), jnp.bfloat16),
    "rademacher": lambda k: jax.random.rademacher(W(k), (40,)),
}

CLOSE = {
    "normal": (lambda k: jax.random.normal(W(k), (33, 50)), 1e-6, 1e-6),
    "gumbel": (lambda k: jax.random.gumbel(W(k), (500,)), 1e-5, 1e-5),
    "truncated_normal": (lambda k: jax.random.truncated_normal(W(k), -1.5, 2.0, (500,)), 1e-4,
                         1e-5),
}


def _keys():
    return [np.asarray(jax.random.key_data(jax.random.PRNGKey(s))) for s in (0, 7, 2**31 - 1)]


@pytest.mark.parametrize("name", sorted(BIT_EXACT))
def test_bit_identical_to_cpu(name):
    f = BIT_EXACT[name]
    for key in _keys():
        got, want = run(f, chip(), key), run(f, cpu(), key)
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.parametrize("name", sorted(CLOSE))
def test_float_transforms_close_to_cpu(name):
    f, rtol, atol = CLOSE[name]
    for key in _keys():
        got, want = run(f, chip(), key), run(f, cpu(), key)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)


def test_random_inside_a_scan():
    """Sampling inside a loop: the key is carried, split every step (the threefry counter's u64
    iota is narrowed inside the loop body too)."""
    def f(key, logits):
        def step(k, _):
            k, sub = jax.random.split(k)
            return k, jax.random.categorical(sub, logits)
        return jax.lax.scan(step, W(key), None, length=6)[1]
    key = _keys()[1]
    logits = np.random.default_rng(0).standard_normal((3, 11)).astype(np.float32)
    np.testing.assert_array_equal(run(f, chip(), key, logits), run(f, cpu(), key, logits))


def test_sixty_four_bit_counter_that_does_not_fit_is_still_rejected():
    """Only 64-bit values that provably fit in 32 bits are narrowed."""
    from jax_chip.compiler import driver
    from jax_chip.compiler.errors import CompileError
    text = """
    func.func @main(%x: tensor<4xui32>) -> tensor<4xui32> {
      %i = stablehlo.iota dim = 0 : tensor<4xui64>
      %c = stablehlo.constant dense<4294967296> : tensor<4xui64>
      %m = stablehlo.multiply %i, %c : tensor<4xui64>
      %h = stablehlo.convert %m : (tensor<4xui64>) -> tensor<4xui32>
      %r = stablehlo.add %h, %x : tensor<4xui32>
      return %r : tensor<4xui32>
    }"""
    with pytest.raises(CompileError, match="u64"):
        driver.compile_program(text, "mlir")


def test_rng_bit_generator_is_rejected_by_name():
    """jax's "rbg" PRNG implementations lower to stablehlo.rng_bit_generator, which the chip does
    not implement (yet): a compile error naming the op and the source line."""
    key = jax.random.key(0, impl="rbg")
    with pytest.raises(Exception, match=r"stablehlo.rng_bit_generator is not supported.*"
                                        r"test_random.py"):
        jax.jit(lambda k: jax.random.uniform(k, (4,))).lower(key).compile()
