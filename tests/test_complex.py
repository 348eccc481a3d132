"""complex64 on the chip (as f32 pairs: xla_passes/complex_lowering.py) and the Fft kernel,
against the cpu backend on fresh random inputs (docs/numerics.md's complex rules): transfers,
elementwise ops, comparisons, constructors, dot_general, reductions, indexing, sort, jnp.fft
against numpy, a complex RoPE, and complex128 rejected like every 64-bit type."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parity import check_accuracy, check_parity, chip, run

RNG = np.random.default_rng(10)
SHAPES = [(), (0,), (3, 0), (5, 7)]


def cx(shape, scale: float = 1.5) -> np.ndarray:
    """Fresh random complex64 values (never zero)."""
    return (RNG.uniform(-scale, scale, shape) + 1j * RNG.uniform(-scale, scale, shape)).astype(np.complex64)


def each_shape(op):
    """One program applying `op` to an input of every shape of SHAPES."""
    return lambda *xs: tuple(op(x) for x in xs)


def test_transfers_round_trip_bit_exact():
    for shape in SHAPES + [(2, 3, 4)]:
        x = cx(shape)
        back = np.asarray(jax.device_get(jax.device_put(x, chip())))
        assert back.dtype == np.complex64 and back.shape == x.shape
        np.testing.assert_array_equal(back.view(np.uint64), x.view(np.uint64))


UNARY = {
    "neg": jnp.negative, "conj": jnp.conj, "real": jnp.real, "imag": jnp.imag, "abs": jnp.abs,
    "sign": jnp.sign, "angle": jnp.angle, "exp": jnp.exp, "log": jnp.log, "sqrt": jnp.sqrt,
    "rsqrt": lax.rsqrt, "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan, "sinh": jnp.sinh,
    "cosh": jnp.cosh, "tanh": jnp.tanh, "expm1": jnp.expm1, "log1p": jnp.log1p,
    "square": jnp.square, "reciprocal": jnp.reciprocal, "arcsin": jnp.arcsin,
    "arctan": jnp.arctan, "arcsinh": jnp.arcsinh, "logistic": jax.nn.sigmoid,
    "iscomplex": jnp.iscomplex, "isfinite": jnp.isfinite, "copy": lambda z: z,
    "log10": jnp.log10, "exp2": jnp.exp2,
}


# a few ops per program (one compile each on chip, cpu and cpu-x64 keeps the file fast); outputs
# come op by op, each over SHAPES
UNARY_GROUPS = [sorted(UNARY)[i::5] for i in range(5)]


@pytest.mark.parametrize("names", UNARY_GROUPS, ids=["-".join(g) for g in UNARY_GROUPS])
def test_unary_ops_match_cpu(names):
    xs = [cx(s) for s in SHAPES]
    ops = [each_shape(UNARY[n]) for n in names]
    check_accuracy(lambda *xs: tuple(op(*xs) for op in ops), *xs,
                   what=f"{names} (output i: op i // {len(SHAPES)}, shape i % {len(SHAPES)})")


BINARY = {
    "add": jnp.add, "subtract": jnp.subtract, "multiply": jnp.multiply, "divide": jnp.divide,
    "power": jnp.power, "equal": jnp.equal, "not_equal": jnp.not_equal,
    "where": lambda a, b: jnp.where(jnp.real(a) > 0, a, b),
    "complex": lambda a, b: lax.complex(jnp.real(a), jnp.imag(b)),
    "mixed_real": lambda a, b: a * jnp.real(b) + 2.5,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_match_cpu(name):
    pairs = [(cx(s), cx(s)) for s in SHAPES]
    # a few exact equalities so == and != see both outcomes
    pairs[-1][1][0] = pairs[-1][0][0]
    flat = [v for p in pairs for v in p]
    f = lambda *vs: tuple(BINARY[name](vs[i], vs[i + 1]) for i in range(0, len(vs), 2))  # noqa: E731
    check_accuracy(f, *flat, what=name)


def test_division_by_zero_and_integer_power():
    a = cx((6,))
    b = np.array([0, 1j, -2, 3 + 4j, 0.5, 1e-3], np.complex64)
    check_parity(lambda x, y: (x / y, x ** 2, x ** 3, lax.integer_pow(x, 5)), a, b,
                 what="division and integer powers")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::numpy.exceptions.ComplexWarning")
def test_converts():
    x = RNG.uniform(-3, 3, (4, 5)).astype(np.float32)
    z = cx((4, 5))
    z[0, :3] = [0, 2j, 3]     # zero, purely imaginary, real: complex -> bool is "nonzero"
    check_parity(lambda x, z: (x.astype(jnp.complex64), z.astype(jnp.float32), z.real.astype(jnp.bfloat16),
                               x.astype(jnp.bfloat16).astype(jnp.complex64) * z,
                               lax.convert_element_type(z, jnp.bool_), lax.convert_element_type(z, jnp.int32),
                               jnp.maximum(z, z[::-1]), jnp.max(z, axis=0)),
                 x, z, what="converts")


def test_constants():
    c = np.array([[1 + 2j, -0.1 + 0.3j], [np.pi + 1j / 3, 7e-5 - 1e5j]], np.complex64)
    check_parity(lambda z: (z * c, z + jnp.complex64(0.1 - 0.7j), jnp.full((3,), 1j, jnp.complex64)),
                 cx((2, 2)), what="constants")


@pytest.mark.parametrize("shapes", [((4, 8), (8, 3)), ((2, 5, 6), (2, 6, 4)), ((0, 3), (3, 2)),
                                    ((3, 0), (0, 4))])
def test_dot_general(shapes):
    a, b = cx(shapes[0]), cx(shapes[1])
    check_accuracy(lambda a, b: (a @ b, jnp.einsum("...k,...k->...", a[..., :1], a[..., :1])), a, b,
                   what="dot_general")


def test_dot_with_real_operand():
    a, b = cx((4, 8)), RNG.uniform(-1, 1, (8, 3)).astype(np.float32)
    check_accuracy(lambda a, b: (a @ b.astype(jnp.complex64), jnp.dot(a, b)), a, b, what="dot real")


@pytest.mark.parametrize("shape", [(), (0,), (6, 0), (5, 7), (3, 4, 5)])
def test_reductions(shape):
    z = cx(shape, scale=1.0)
    check_accuracy(lambda z: (jnp.sum(z), jnp.sum(z, axis=-1) if z.ndim else z,
                              jnp.mean(z) if z.size else jnp.sum(z)), z, what=f"sums {shape}")
    # products: n complex multiplies in the chip's order; each rounds the running product by a
    # few eps, so |chip - exact| <= 4 n eps |exact| element-wise
    prods = run(lambda z: (jnp.prod(z), jnp.prod(z, axis=0) if z.ndim else z), chip(), z)
    exact = (np.prod(z.astype(np.complex128)), np.prod(z.astype(np.complex128), axis=0) if z.ndim else z)
    for got, want, n in zip(prods, exact, (max(z.size, 1), z.shape[0] if z.ndim else 1)):
        bound = 4 * n * np.finfo(np.float32).eps * np.abs(want) + 1e-38
        assert np.all(np.abs(got - want) <= bound), (shape, got, want)


def test_indexing_scatter_gather_and_movement():
    z = cx((6, 5))
    idx = np.array([4, 0, 2, 2], np.int32)
    upd = cx((4, 5))

    def f(z, idx, upd):
        return (z[idx], jnp.take(z, idx, axis=0), z.at[idx].set(upd), z.at[idx].add(upd),
                z.T, z[1:5:2, ::-1], jnp.concatenate([z, z * 1j]), jnp.pad(z, ((1, 0), (0, 2))),
                lax.dynamic_slice(z, (idx[0], 1), (2, 3)), z.reshape(5, 6),
                jnp.broadcast_to(z[:, :1], (6, 5)), lax.dynamic_update_slice(z, upd[:2], (idx[2], 0)))
    check_parity(f, z, idx, upd, what="indexing")


def test_donated_complex_buffer_updated_in_place():
    z = cx((3, 4))
    d = jax.device_put(z, chip())
    scaled, updated = jax.jit(lambda a: (a * 2j + 1, a.at[0].set(0)), donate_argnums=0)(d)
    assert d.is_deleted()
    want = z.copy()
    want[0] = 0
    np.testing.assert_array_equal(np.asarray(updated), want)
    np.testing.assert_allclose(np.asarray(scaled), z * 2j + 1, rtol=1e-6)


def test_sort_is_lexicographic_like_cpu():
    re = RNG.integers(-2, 3, (3, 9)).astype(np.float32)   # ties on the real part
    z = (re + 1j * RNG.uniform(-1, 1, (3, 9))).astype(np.complex64)
    check_parity(lambda z: (jnp.sort(z, axis=-1), jnp.sort(z, axis=0), jnp.argsort(z[0])), z, what="sort")


def test_control_flow_carrying_and_capturing_complex():
    z = cx((4, 6))

    def f(z):
        carried = lax.fori_loop(0, 3, lambda i, c: c * z + 1j, z)            # carried and captured
        scanned = lax.scan(lambda c, r: (c * r[0], jnp.conj(r)), jnp.ones((), z.dtype), z)
        branch = lax.cond(jnp.real(z[0, 0]) > 0, lambda: jnp.exp(z), lambda: z * 2)
        return carried, scanned, branch
    check_accuracy(f, z, what="complex control flow")


FFT_LENGTHS = [1, 2, 8, 12, 7, 64]


def _fft_close(got, want, n_points: int, what: str) -> None:
    """|chip - numpy(f64)| <= 8 eps log2(N) max|x| sqrt(N)-scaled: an FFT's f32 error grows with
    log N stages, relative to the transform's magnitude."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = float(np.abs(want).max(initial=0.0))
    bound = 8 * np.finfo(np.float32).eps * max(np.log2(max(n_points, 2)), 1.0) * max(scale, 1e-30) * 4
    err = float(np.abs(got.astype(np.complex128) - want).max(initial=0.0))
    assert err <= bound, f"{what}: error {err:.3g} > bound {bound:.3g}"


@pytest.mark.parametrize("n", FFT_LENGTHS)
def test_fft_1d_against_numpy(n):
    z = cx((3, n))
    x = RNG.uniform(-1, 1, (3, n)).astype(np.float32)
    fns = (lambda z, x: (jnp.fft.fft(z), jnp.fft.ifft(z), jnp.fft.rfft(x),
                         jnp.fft.irfft(jnp.fft.rfft(x), n=n)))
    got = run(fns, chip(), z, x)
    z64, x64 = z.astype(np.complex128), x.astype(np.float64)
    want = (np.fft.fft(z64), np.fft.ifft(z64), np.fft.rfft(x64), x64)
    for g, w, what in zip(got, want, ("fft", "ifft", "rfft", "irfft(rfft)")):
        _fft_close(g, w, n, f"{what} n={n}")


def test_fft_nd_against_numpy():
    z = cx((2, 4, 6, 8))
    x = RNG.uniform(-1, 1, (2, 6, 10)).astype(np.float32)
    got = run(lambda z, x: (jnp.fft.fft2(z), jnp.fft.fftn(z, axes=(1, 2, 3)), jnp.fft.ifftn(z, axes=(2, 3)),
                            jnp.fft.rfftn(x, axes=(1, 2)), jnp.fft.irfftn(jnp.fft.rfftn(x, axes=(1, 2)),
                                                                           s=(6, 10), axes=(1, 2)),
                            jnp.fft.rfft2(x)), chip(), z, x)
    z64, x64 = z.astype(np.complex128), x.astype(np.float64)
    want = (np.fft.fft2(z64), np.fft.fftn(z64, axes=(1, 2, 3)), np.fft.ifftn(z64, axes=(2, 3)),
            np.fft.rfftn(x64, axes=(1, 2)), x64, np.fft.rfft2(x64))
    for i, (g, w) in enumerate(zip(got, want)):
        _fft_close(g, w, 4 * 6 * 8, f"fft nd output {i}")


def test_fft_round_trip_and_zero_size():
    z = cx((5, 16))
    back = run(lambda z: jnp.fft.ifft(jnp.fft.fft(z)), chip(), z)
    _fft_close(back, z.astype(np.complex128), 16, "ifft(fft(z))")
    empty = cx((0, 8))
    got = run(lambda z: (jnp.fft.fft(z), jnp.fft.rfft(jnp.real(z))), chip(), empty)
    assert got[0].shape == (0, 8) and got[1].shape == (0, 5)


def test_fft_matches_cpu_backend():
    z = cx((4, 24))
    check_parity(lambda z: jnp.fft.fft(z), z, rtol=1e-4, atol=1e-5, what="fft vs cpu")


def test_complex_rope():
    """RoPE as complex rotation: pairs of features viewed as complex numbers times exp(i theta)."""
    seq, heads, dim = 16, 4, 32
    x = RNG.standard_normal((seq, heads, dim)).astype(np.float32)
    pos = np.arange(seq, dtype=np.float32)

    def rope(x, pos):
        inv = 1.0 / (10000.0 ** (jnp.arange(0, dim, 2, dtype=jnp.float32) / dim))
        theta = pos[:, None] * inv[None, :]
        xc = lax.complex(x[..., 0::2], x[..., 1::2])
        rot = xc * jnp.exp(1j * theta)[:, None, :]
        return jnp.stack([jnp.real(rot), jnp.imag(rot)], axis=-1).reshape(x.shape)
    check_accuracy(rope, x, pos, what="complex rope")


def test_complex128_is_a_64bit_error():
    from jax.experimental import enable_x64
    z = np.ones((3,), np.complex128)
    with enable_x64():
        with pytest.raises(Exception, match="complex128|c128"):   # the transfer
            jax.device_put(z, chip()).block_until_ready()
        with pytest.raises(Exception, match="use complex64; the chip has no 64-bit types"):
            jax.jit(lambda z: z * 2).lower(z).compile()   # the compiler (default device: chip)
