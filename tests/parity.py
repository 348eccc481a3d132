"""Parity against the cpu backend: random inputs, tolerances by dtype (docs/numerics.md)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

FLOAT_DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)
INT_DTYPES = (jnp.int8, jnp.uint8, jnp.int16, jnp.uint16, jnp.int32, jnp.uint32)
ALL_DTYPES = (jnp.bool_,) + INT_DTYPES + FLOAT_DTYPES

# (rtol, atol) per result dtype: the numerics policy in docs/numerics.md.
TOLERANCE: dict[Any, tuple[float, float]] = {
    np.dtype(np.float32): (1e-5, 1e-6),
    np.dtype(ml_dtypes.bfloat16): (1e-2, 1e-2),
    np.dtype(np.float16): (1e-3, 1e-3),
    np.dtype(np.complex64): (1e-5, 1e-6),   # |chip - cpu| <= atol + rtol |cpu|
}


def chip() -> jax.Device:
    return jax.devices("chip")[0]


def cpu() -> jax.Device:
    return jax.devices("cpu")[0]


def random_array(rng: np.random.Generator, shape: Sequence[int], dtype: Any,
                 low: float = -3.0, high: float = 3.0) -> np.ndarray:
    """Fresh random values of `dtype` (never all zeros), as a numpy array."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        lo, hi = max(info.min, int(low * 40)), min(info.max, int(high * 40))
        if info.min == 0:
            lo = 0
        return rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(dt)
    return rng.uniform(low, high, size=shape).astype(dt)


def run(f: Callable[..., Any], device: jax.Device, *args: Any) -> Any:
    placed = [jax.device_put(a, device) for a in args]
    out = jax.jit(f)(*placed)
    return jax.tree_util.tree_map(lambda x: np.asarray(jax.device_get(x)), out)


def assert_close(got: Any, want: Any, rtol: float | None = None, atol: float | None = None,
                 what: str = "") -> None:
    g_leaves, g_tree = jax.tree_util.tree_flatten(got)
    w_leaves, w_tree = jax.tree_util.tree_flatten(want)
    assert g_tree == w_tree, f"{what}: output structure {g_tree} != {w_tree}"
    for i, (g, w) in enumerate(zip(g_leaves, w_leaves)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype, f"{what} output {i}: dtype {g.dtype} != {w.dtype}"
        assert g.shape == w.shape, f"{what} output {i}: shape {g.shape} != {w.shape}"
        if g.dtype in TOLERANCE:
            rt, at = TOLERANCE[g.dtype]
            rt, at = rtol if rtol is not None else rt, atol if atol is not None else at
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rt, atol=at,
                                       equal_nan=True, err_msg=f"{what} output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{what} output {i} (must be bit-exact)")


def check_parity(f: Callable[..., Any], *args: Any, rtol: float | None = None,
                 atol: float | None = None, what: str = "") -> Any:
    """Runs jit(f) on the chip and on cpu with the same inputs and compares the outputs."""
    got = run(f, chip(), *args)
    want = run(f, cpu(), *args)
    assert_close(got, want, rtol, atol, what)
    return got


# f32 results (and complex64 ones, by the modulus of the error) are judged against f64 (complex128)
_WIDE = {np.dtype(np.float32): np.float64, np.dtype(np.complex64): np.complex128}


def check_accuracy(f: Callable[..., Any], *args: Any, factor: float = 2.0, what: str = "") -> Any:
    """The chip's f32 results are about as accurate as XLA:CPU's, measured against the exact result.

    For long f32 computations (layers of dots, softmax, transcendentals) a flat tolerance against
    cpu fails wherever rounding happens to differ near a small result, and an a-priori bound is
    loose; instead jit(f) also runs on cpu in float64 (the exact result, to f64 rounding), and per
    float output max|chip - exact| <= factor * max|cpu - exact| + eps_f32 * max|exact|: the chip
    may round differently (another summation order, its own transcendentals) but not worse.
    Integer and bool outputs must equal cpu's bit for bit."""
    from jax.experimental import enable_x64

    got = run(f, chip(), *args)
    want = run(f, cpu(), *args)
    with enable_x64():
        wide = [np.asarray(a, _WIDE[np.asarray(a).dtype]) if np.asarray(a).dtype in _WIDE else a
                for a in args]
        exact = run(f, cpu(), *wide)
    g_leaves, g_tree = jax.tree_util.tree_flatten(got)
    w_leaves, w_tree = jax.tree_util.tree_flatten(want)
    e_leaves = jax.tree_util.tree_leaves(exact)
    assert g_tree == w_tree, f"{what}: output structure {g_tree} != {w_tree}"
    for i, (g, w, e) in enumerate(zip(g_leaves, w_leaves, e_leaves)):
        g, w, e = np.asarray(g), np.asarray(w), np.asarray(e)
        assert g.dtype == w.dtype and g.shape == w.shape, f"{what} output {i}: {g.dtype}{g.shape}"
        if g.dtype not in _WIDE:
            np.testing.assert_array_equal(g, w, err_msg=f"{what} output {i} (must be bit-exact)")
            continue
        e = e.astype(_WIDE[g.dtype])
        chip_err = float(np.abs(g - e).max(initial=0.0))
        cpu_err = float(np.abs(w - e).max(initial=0.0))
        floor = float(np.finfo(np.float32).eps) * float(np.abs(e).max(initial=0.0))
        assert chip_err <= factor * cpu_err + floor, (
            f"{what} output {i}: chip error {chip_err:.3g} against the f64 result exceeds "
            f"{factor} x cpu's {cpu_err:.3g} + {floor:.3g}")
    return got
