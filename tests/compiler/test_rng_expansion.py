"""stablehlo.rng_bit_generator's expansion (xla_passes/rng_bit_generator_expansion.py): the
chip's MUL_HI instruction, the shape of the expanded program, and the reference interpreter /
constant folding computing the same bits as XLA:CPU. The device's results against cpu are in
tests/test_random.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from .helpers import compile_fn, compiled_graph, on_cpu

from jax_chip.compiler.kernels.elementwise import ElementwiseOp
from jax_chip.compiler.lowering.ew_codegen import InstrSpec, ViewSpec
from .reference_interpreter import eval_elementwise, execute
from xla_passes.cost_annotation import total

ALGORITHMS = {"threefry": jax.lax.RandomAlgorithm.RNG_THREE_FRY,
              "philox": jax.lax.RandomAlgorithm.RNG_PHILOX}


@pytest.mark.parametrize("dtype", ["s8", "u8", "s16", "u16", "s32", "u32"])
def test_mul_hi_is_the_high_half_of_the_exact_product(dtype):
    info = np.iinfo(getattr(np, {"s": "int", "u": "uint"}[dtype[0]] + dtype[1:]))
    rng = np.random.default_rng(len(dtype))
    a = rng.integers(info.min, info.max, 500, endpoint=True)
    b = rng.integers(info.min, info.max, 500, endpoint=True)
    a[:4], b[:4] = [info.min, info.max, info.max, info.min], [info.min, info.max, -1 if
                                                              info.min else 0, 1]
    # one MUL_HI instruction, run by the chip's Elementwise kernel
    op = ElementwiseOp((a.size,), [ViewSpec(0, 0, (1,)), ViewSpec(1, 0, (1,))],
                       [InstrSpec("LOAD", dtype, 0), InstrSpec("LOAD", dtype, 1),
                        InstrSpec("MUL_HI", dtype, 0, 1)], [(2, 0)])
    (got,) = eval_elementwise(op, [a.astype(info.dtype), b.astype(info.dtype)], [dtype, dtype])
    got = got.astype(np.int64)
    bits = np.iinfo(info.dtype).bits
    want = [(int(x) * int(y)) >> bits for x, y in zip(a, b)]     # Python ints: exact, floor shift
    np.testing.assert_array_equal(got, np.asarray(want, np.int64))


def _bits(algorithm: str, shape: tuple[int, ...]):
    def f(state):
        return jax.lax.rng_bit_generator(state, shape, jnp.uint32, algorithm=ALGORITHMS[algorithm])
    return f


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_expansion_is_one_fused_kernel_without_64_bit_values(algorithm):
    """Each generator becomes one Elementwise kernel: every element computes its block and keeps
    its word (no concatenate); Philox uses MUL_HI (about a hundred vector instructions per
    element, not the ~450 of a 16-bit-halves multiply). No 64-bit type survives."""
    state = np.arange(4, dtype=np.uint32)
    g = compiled_graph(lambda s: _bits(algorithm, (256, 1024))(s)[1], state)
    assert [n.op for n in g.nodes] == ["chip.fusion"]
    assert not [n for n in g.walk() if any(r.type.dtype in ("u64", "s64") for r in n.results)]
    per_element = total(g).vector_flops / (256 * 1024)
    assert per_element < 150, per_element


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_reference_interpreter_matches_cpu(algorithm):
    """The executable (its Elementwise kernels run by the chip's kernel in the reference
    interpreter, as constant folding runs them) computes XLA:CPU's bits."""
    f = _bits(algorithm, (5, 33))
    state = np.random.default_rng(9).integers(0, 2**32, 4, dtype=np.uint32)
    got = execute(compile_fn(f, state), [state])
    with on_cpu():
        want = jax.jit(f)(state)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, np.asarray(w))


def test_constant_state_folds_to_cpu_bits():
    """A state known at compile time: constant folding evaluates the whole generator."""
    state = np.array([7, 2**32 - 1, 2**32 - 1, 3], np.uint32)
    f = lambda: jax.lax.rng_bit_generator(jnp.asarray(state), (9, 7), jnp.uint8)  # noqa: E731
    g = compiled_graph(f)
    assert not [n for n in g.nodes if n.op == "chip.fusion"], "not folded"
    got = execute(compile_fn(f), [])
    with on_cpu():
        want = jax.jit(f)()
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_u64_constant_state_reads_its_words():
    """A state written as a u64 constant (hand-written StableHLO; jax bitcasts u32 words)
    gives the same bits as those words."""
    from jax_chip.compiler import driver
    words = np.array([0x89ABCDEF, 0x01234567, 0xFFFFFFFE, 0x7], np.uint32)
    u64 = [int(words[0]) | int(words[1]) << 32, int(words[2]) | int(words[3]) << 32]
    text = f"""
    func.func public @main() -> tensor<6x5xui32> {{
      %s = stablehlo.constant dense<[{u64[0]}, {u64[1]}]> : tensor<2xui64>
      %ns, %bits = stablehlo.rng_bit_generator %s, algorithm = PHILOX : (tensor<2xui64>) -> (tensor<2xui64>, tensor<6x5xui32>)
      return %bits : tensor<6x5xui32>
    }}"""
    (got,) = execute(driver.compile_program(text, "mlir"), [])
    with on_cpu():
        want = jax.jit(_bits("philox", (6, 5)))(words)[1]
    np.testing.assert_array_equal(got, np.asarray(want))
