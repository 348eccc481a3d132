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
    from jax_chip.compiler.ir.errors import CompileError
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


# ---- stablehlo.rng_bit_generator (xla_passes/rng_bit_generator_expansion.py) ----------------

ALGORITHMS = {
    "default": jax.lax.RandomAlgorithm.RNG_DEFAULT,
    "threefry": jax.lax.RandomAlgorithm.RNG_THREE_FRY,
    "philox": jax.lax.RandomAlgorithm.RNG_PHILOX,
}
# 0-d, size 0, odd sizes (Threefry splits along the largest dimension, Philox pads to blocks of
# four), even dimensions in different places, and one large shape
SHAPES = [(), (1,), (7,), (0, 3), (3, 5), (4, 3), (3, 4), (2, 3, 5), (5, 1, 9), (513, 259)]


def _fresh_state(rng: np.random.Generator) -> np.ndarray:
    """A random u32[4] state, with counter words near 2**32 so the carries are exercised."""
    s = rng.integers(0, 2**32, 4, dtype=np.uint32)
    if rng.random() < 0.5:
        s[2] = np.uint32(2**32 - 1 - rng.integers(0, 3))
    return s


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rng_bit_generator_bit_identical_to_cpu(algorithm, shape):
    """Bits and new state equal XLA:CPU's for every algorithm, on fresh random states."""
    rng = np.random.default_rng(abs(hash((algorithm, shape))) % 2**32)
    for dtype in (jnp.uint32, jnp.uint8, jnp.uint16):
        def f(state):
            return jax.lax.rng_bit_generator(state, shape, dtype, algorithm=ALGORITHMS[algorithm])
        state = _fresh_state(rng)
        got, want = run(f, chip(), state), run(f, cpu(), state)
        for g, w, what in zip(got, want, ("new state", "bits")):
            assert g.dtype == w.dtype and g.shape == w.shape, (what, g.dtype, g.shape)
            np.testing.assert_array_equal(g, w, err_msg=f"{algorithm} {shape} {dtype} {what}")


def test_rng_bit_generator_counter_carries_across_calls():
    """Feeding the new state back in continues the stream exactly as on cpu (the 64- and
    128-bit counter additions carry between words)."""
    def stream(state):
        outs = []
        for _ in range(3):
            state, bits = jax.lax.rng_bit_generator(state, (5, 7), jnp.uint32)
            outs.append(bits)
        return state, jnp.stack(outs)
    state = np.array([12345, 678, 2**32 - 2, 2**32 - 1], np.uint32)   # counter about to wrap
    got, want = run(stream, chip(), state), run(stream, cpu(), state)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


RBG_FUNCTIONS = {
    "bits": lambda k: jax.random.bits(k, (33, 9)),
    "bits_u8": lambda k: jax.random.bits(k, (101,), jnp.uint8),
    "uniform": lambda k: jax.random.uniform(k, (31, 17)),
    "randint": lambda k: jax.random.randint(k, (100,), -5, 1000),
    "bernoulli": lambda k: jax.random.bernoulli(k, 0.3, (7, 9)),
    "categorical": lambda k: jax.random.categorical(k, jnp.linspace(-2, 2, 60).reshape(4, 15)),
    "split": lambda k: jax.random.key_data(jax.random.split(k, 5)),
    "fold_in": lambda k: jax.random.key_data(jax.random.fold_in(k, 99)),
    "permutation": lambda k: jax.random.permutation(k, 20),
}


@pytest.mark.parametrize("impl", ["rbg", "unsafe_rbg"])
@pytest.mark.parametrize("name", sorted(RBG_FUNCTIONS))
def test_rbg_prng_bit_identical_to_cpu(impl, name):
    """jax's "rbg" and "unsafe_rbg" PRNG implementations (stablehlo.rng_bit_generator)."""
    f = RBG_FUNCTIONS[name]
    rng = np.random.default_rng(len(name) + 100 * len(impl))
    for _ in range(2):
        data = rng.integers(0, 2**32, 4, dtype=np.uint32)
        g = lambda d: f(jax.random.wrap_key_data(d, impl=impl))  # noqa: E731
        np.testing.assert_array_equal(run(g, chip(), data), run(g, cpu(), data),
                                      err_msg=f"{impl} {name}")


def test_rbg_sampling_inside_a_scan():
    """The rbg key carried through a loop: the expansion runs inside the loop body."""
    def f(data, logits):
        def step(k, _):
            k, sub = jax.random.split(k)
            return k, jax.random.categorical(sub, logits)
        key = jax.random.wrap_key_data(data, impl="rbg")
        return jax.lax.scan(step, key, None, length=5)[1]
    data = np.random.default_rng(3).integers(0, 2**32, 4, dtype=np.uint32)
    logits = np.random.default_rng(4).standard_normal((3, 11)).astype(np.float32)
    np.testing.assert_array_equal(run(f, chip(), data, logits), run(f, cpu(), data, logits))


RNG_TEXT = """
    func.func public @main(%s: tensor<{state}>) -> (tensor<{state}>, tensor<{out}>) {{
      %ns, %bits = stablehlo.rng_bit_generator %s, algorithm = {alg} : (tensor<{state}>) -> (tensor<{state}>, tensor<{out}>)
      return %ns, %bits : tensor<{state}>, tensor<{out}>
    }}"""


@pytest.mark.parametrize("state,out,alg,message", [
    # a u64 state that is not made of u32 words (jax_enable_x64 programs)
    ("2xui64", "4xui32", "PHILOX", r"rng_bit_generator with state tensor<2xui64>.*u32 words"),
    # 64-bit results
    ("2xui64", "4xui64", "THREE_FRY", r"rng_bit_generator producing tensor<4xui64>.*64-bit"),
    # a state size the algorithm does not take
    ("3xui64", "4xui32", "THREE_FRY", r"THREE_FRY needs a state of u64\[2\]"),
])
def test_rng_bit_generator_unsupported_forms_are_named(state, out, alg, message):
    from jax_chip.compiler import driver
    from jax_chip.compiler.ir.errors import CompileError
    text = RNG_TEXT.format(state=state, out=out, alg=alg)
    with pytest.raises(CompileError, match=message):
        driver.compile_program(text, "mlir")
