"""Indexing and data-movement ops on the chip against cpu: gather (x[idx], take, take_along_axis,
general dimension numbers), scatter (.at[].set/add/mul/max/min/apply, drop and clip modes,
duplicates), dynamic_slice / dynamic_update_slice (clamped starts, donation), pad, reverse (flip),
roll and iota variants, across dtypes and shapes (0-d, size 0, odd, large)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parity import ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, check_parity, chip, cpu, random_array, run

NUMERIC_DTYPES = INT_DTYPES + FLOAT_DTYPES
GD = lax.GatherDimensionNumbers
SD = lax.ScatterDimensionNumbers
PROMISE = lax.GatherScatterMode.PROMISE_IN_BOUNDS


def _name(dt) -> str:
    return np.dtype(dt).name


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _indices(rng, shape, n, oob: bool = False) -> np.ndarray:
    """Random int32 indices into a dim of n; with oob, also negative and past-the-end ones."""
    lo, hi = (-n - 3, 2 * n + 3) if oob else (0, n)
    return rng.integers(lo, hi, size=shape).astype(np.int32)


# ---- gather ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
def test_take_rows_and_columns(dtype):
    rng = _rng(10)
    x = random_array(rng, (9, 7), dtype)
    i = _indices(rng, (5,), 9)
    j = _indices(rng, (4, 3), 7)
    check_parity(lambda a, i, j: (a[i], a[:, j], a[i[:3], j[0]], jnp.take(a, j, axis=1)),
                 x, i, j, what="take")


@pytest.mark.parametrize("dtype", (jnp.float32, jnp.int8, jnp.bfloat16), ids=_name)
@pytest.mark.parametrize("mode", ["clip", "fill", "promise_in_bounds"])
def test_gather_out_of_range_indices(dtype, mode):
    rng = _rng(11)
    x = random_array(rng, (6, 5), dtype)
    i = _indices(rng, (12,), 6, oob=True)
    # promise_in_bounds lets XLA's clamping show: the chip must clamp the same way
    take_mode = "wrap" if mode == "promise_in_bounds" else mode
    check_parity(lambda a, i: (a.at[i].get(mode=mode), jnp.take(a, i, axis=1, mode=take_mode)),
                 x, i, what=f"gather mode={mode}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_take_along_axis(dtype, axis):
    rng = _rng(12)
    x = random_array(rng, (5, 6, 7), dtype)
    n = x.shape[axis]
    shape = list(x.shape)
    shape[axis] = 4
    i = _indices(rng, shape, n)
    check_parity(lambda a, i: jnp.take_along_axis(a, i, axis=axis), x, i, what="take_along_axis")


@pytest.mark.parametrize("dtype", (jnp.float32, jnp.uint16, jnp.bool_), ids=_name)
@pytest.mark.parametrize("case", [
    # operand shape, indices shape (index vectors last, as JAX emits), dimension numbers, sizes
    ((8, 9), (4, 2), GD(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0, 1)),
     (1, 3)),
    # start_index_map permuted, slices of size > 1 in two dims, offset dims around batch dims
    ((6, 7, 8), (3, 5, 2), GD(offset_dims=(0, 3), collapsed_slice_dims=(1,),
                              start_index_map=(2, 1)), (2, 1, 4)),
    # batching dims (the take_along_axis form) with an interleaved offset dim
    ((3, 5, 6), (3, 4, 1), GD(offset_dims=(2,), collapsed_slice_dims=(1,), start_index_map=(1,),
                              operand_batching_dims=(0,), start_indices_batching_dims=(0,)),
     (1, 1, 6)),
    # index vectors of length 0: every slice starts at 0
    ((5, 5), (3, 0), GD(offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=()),
     (2, 3)),
], ids=["rows", "permuted", "batching", "empty_vector"])
def test_gather_dimension_numbers(dtype, case):
    shape, ishape, dnums, sizes = case
    rng = _rng(13)
    x = random_array(rng, shape, dtype)
    i = rng.integers(-2, 12, size=ishape).astype(np.int32)   # includes out-of-range starts
    if dnums.operand_batching_dims:
        i = np.clip(i, 0, shape[1] - 1)
    check_parity(lambda a, idx: lax.gather(a, idx, dnums, sizes, mode=PROMISE), x, i,
                 what=f"gather {dnums}")


def test_gather_index_dtypes_and_sizes():
    rng = _rng(14)
    x = random_array(rng, (11, 3), jnp.float32)
    for idt in (np.int8, np.uint8, np.int16, np.uint16, np.uint32):
        i = rng.integers(0, 11, size=(6,)).astype(idt)
        check_parity(lambda a, i: a[i], x, i, what=f"index dtype {np.dtype(idt).name}")
    empty = np.zeros((0,), np.int32)
    check_parity(lambda a, i: a[i], x, empty, what="no indices")
    check_parity(lambda a, i: a[i], np.zeros((0, 3), np.float32), empty, what="empty operand")
    check_parity(lambda a, i: a[i[0]], x, _indices(rng, (2,), 11), what="0-d index")


def test_gather_large_embedding_lookup():
    rng = _rng(15)
    table = random_array(rng, (50000, 64), jnp.bfloat16)
    ids = _indices(rng, (4, 512), 50000)
    check_parity(lambda t, i: t[i], table, ids, what="embedding lookup")


# ---- scatter ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
def test_scatter_set(dtype):
    rng = _rng(20)
    x = random_array(rng, (8, 5), dtype)
    i = rng.permutation(8)[:3].astype(np.int32)        # unique: set has no duplicate ambiguity
    v = random_array(rng, (3, 5), dtype)
    check_parity(lambda a, i, v: (a.at[i].set(v), a.at[i, 2].set(v[:, 0]), a.at[:, 1].set(v[0, 0])),
                 x, i, v, what="scatter set")


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=_name)
@pytest.mark.parametrize("op", ["add", "mul", "max", "min"])
def test_scatter_combine_with_duplicates(dtype, op):
    rng = _rng(21)
    x = random_array(rng, (6, 4), dtype, low=-2, high=2)
    i = rng.integers(0, 6, size=(10,)).astype(np.int32)  # duplicates combine in order
    v = random_array(rng, (10, 4), dtype, low=-2, high=2)

    def f(a, i, v):
        ref = a.at[i]
        return getattr(ref, op)(v), getattr(a.at[i, i % 4], op)(v[:, 0])
    check_parity(f, x, i, v, what=f"scatter {op}")


@pytest.mark.parametrize("op", ["max", "min", "set"])
def test_scatter_pred(op):
    """On pred, max is logical or and min logical and (duplicates included)."""
    rng = _rng(22)
    x = random_array(rng, (7,), jnp.bool_)
    i = rng.integers(0, 7, size=(9,)).astype(np.int32)
    if op == "set":
        i = rng.permutation(7)[:4].astype(np.int32)
    v = random_array(rng, i.shape, jnp.bool_)
    check_parity(lambda a, i, v: getattr(a.at[i], op)(v), x, i, v, what=f"pred scatter {op}")


@pytest.mark.parametrize("dtype", (jnp.float32, jnp.int32, jnp.bfloat16, jnp.uint8), ids=_name)
def test_scatter_drop_and_clip_modes(dtype):
    rng = _rng(23)
    x = random_array(rng, (7, 6), dtype)
    i = _indices(rng, (9,), 7, oob=True)
    v = random_array(rng, (9, 6), dtype)
    check_parity(lambda a, i, v: (a.at[i].add(v, mode="drop"), a.at[i].set(v, mode="clip"),
                                  a.at[i, 4].set(v[:, 0], mode="drop"),
                                  a.at[i].max(v, mode="promise_in_bounds")),
                 x, i, v, what="scatter modes")


def test_scatter_windows_partly_outside_are_dropped_whole():
    rng = _rng(24)
    x = random_array(rng, (10, 8), jnp.float32)
    starts = np.array([[0, 0], [8, 2], [9, 0], [-1, 3], [3, 6], [5, 5]], np.int32)
    upd = random_array(rng, (6, 2, 3), jnp.float32)
    dn = SD(update_window_dims=(1, 2), inserted_window_dims=(), scatter_dims_to_operand_dims=(0, 1))
    check_parity(lambda a, s, u: lax.scatter_add(a, s, u, dn, mode=PROMISE), x, starts, upd,
                 what="partial windows")


def test_scatter_apply_is_a_region_program():
    rng = _rng(25)
    x = random_array(rng, (9, 4), jnp.float32)
    i = rng.integers(0, 9, size=(5,)).astype(np.int32)
    check_parity(lambda a, i: a.at[i].apply(lambda t: jnp.tanh(t) * 2 + 1), x, i,
                 what="scatter apply")
    xi = random_array(rng, (9,), jnp.int16)
    check_parity(lambda a, i: a.at[i].apply(lambda t: t * 3 - 1), xi, i, what="int scatter apply")


def test_scatter_batching_dims_and_sizes():
    rng = _rng(26)
    x = random_array(rng, (3, 8, 5), jnp.float32)
    i = rng.integers(0, 8, size=(3, 4, 1)).astype(np.int32)
    v = random_array(rng, (3, 4, 5), jnp.float32)
    dn = SD(update_window_dims=(2,), inserted_window_dims=(1,), scatter_dims_to_operand_dims=(1,),
            operand_batching_dims=(0,), scatter_indices_batching_dims=(0,))
    check_parity(lambda a, i, v: lax.scatter_add(a, i, v, dn), x, i, v, what="batched scatter")
    # no updates, 0-d operand, index dtypes
    check_parity(lambda a, i, v: a.at[i].add(v), x[0], np.zeros((0,), np.int32),
                 np.zeros((0, 5), np.float32), what="no updates")
    s = np.float32(2.5)
    check_parity(lambda a, v: a.at[()].add(v), s, np.float32(1.25), what="0-d scatter")
    for idt in (np.uint8, np.int16):
        j = rng.integers(0, 8, size=(6,)).astype(idt)
        check_parity(lambda a, j: a.at[j].add(1.0), x[1], j, what=f"index {np.dtype(idt).name}")


def test_scatter_large_duplicate_add():
    rng = _rng(27)
    x = random_array(rng, (1000, 64), jnp.float32)
    i = rng.integers(0, 1000, size=(20000,)).astype(np.int32)
    v = random_array(rng, (20000, 64), jnp.float32)
    check_parity(lambda a, i, v: a.at[i].add(v), x, i, v, rtol=1e-5, atol=1e-4,
                 what="large scatter add")
    ci = rng.integers(0, 1000, size=(5000,)).astype(np.int32)
    cv = rng.integers(-100, 100, size=(5000,)).astype(np.int32)
    counts = np.zeros((1000,), np.int32)
    check_parity(lambda c, i, v: c.at[i].add(v), counts, ci, cv, what="histogram")


# ---- dynamic slices ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
def test_dynamic_slice_clamps_starts(dtype):
    rng = _rng(30)
    x = random_array(rng, (7, 9), dtype)
    starts = np.array([[2, 3], [-4, 1], [6, 8], [100, -100], [0, 0]], np.int32)
    for s in starts:
        check_parity(lambda a, s: (lax.dynamic_slice(a, (s[0], s[1]), (3, 4)),
                                   lax.dynamic_slice_in_dim(a, s[1], 9, axis=1),
                                   lax.dynamic_index_in_dim(a, s[0], keepdims=False)),
                     x, s, what=f"dynamic_slice at {s}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
def test_dynamic_update_slice_clamps_starts(dtype):
    rng = _rng(31)
    x = random_array(rng, (6, 5, 4), dtype)
    u = random_array(rng, (2, 5, 3), dtype)
    for s in ([1, 0, 1], [5, 2, -3], [-7, 0, 9]):
        s = np.array(s, np.int32)
        check_parity(lambda a, u, s: lax.dynamic_update_slice(a, u, (s[0], s[1], s[2])), x, u, s,
                     what=f"dynamic_update_slice at {s}")


def test_dynamic_slices_odd_cases():
    rng = _rng(32)
    x = random_array(rng, (5, 6), jnp.float32)
    i = np.array([3, 2], np.int16)
    check_parity(lambda a, i: lax.dynamic_slice(a, (i[0], i[1]), (0, 2)), x, i, what="empty slice")
    check_parity(lambda a, i: lax.dynamic_slice(a, (i[0], i[1]), (5, 6)), x, i, what="full slice")
    check_parity(lambda a, i: lax.dynamic_update_slice(a, jnp.zeros((0, 2)), (i[0], i[1])), x, i,
                 what="empty update")
    # constant starts become a static slice (a view): still clamped like XLA
    check_parity(lambda a: (lax.dynamic_slice(a, (4, -2), (3, 3)),
                            lax.dynamic_update_slice(a, a[:2, :2] * 2, (9, 1))), x,
                 what="constant starts")
    big = random_array(rng, (64, 1024), jnp.bfloat16)
    check_parity(lambda a, i: lax.dynamic_slice(a, (i[0] * 7, i[1] * 0), (16, 1024)), big, i,
                 what="large dynamic slice")


def test_dynamic_update_slice_donated_in_place():
    """A donated KV-cache-like buffer is updated in place: its memory is reused for the result."""
    rng = _rng(33)
    cache = random_array(rng, (16, 4, 8), jnp.float32)
    new = random_array(rng, (1, 4, 8), jnp.float32)
    pos = np.int32(5)

    def step(c, n, p):
        return lax.dynamic_update_slice(c, n, (p, 0, 0))

    want = run(step, cpu(), cache, new, pos)
    f = jax.jit(step, donate_argnums=0)
    c = jax.device_put(cache, chip())
    ptr = c.unsafe_buffer_pointer()
    out = f(c, jax.device_put(new, chip()), jax.device_put(pos, chip()))
    assert c.is_deleted()
    assert out.unsafe_buffer_pointer() == ptr
    np.testing.assert_array_equal(np.asarray(out), want)
    # scatter into a donated buffer, twice in a row
    i = np.array([1, 7], np.int32)
    g = jax.jit(lambda c, v, i: c.at[i].add(v), donate_argnums=0)
    v = random_array(rng, (2, 4, 8), jnp.float32)
    want = run(lambda c, v, i: c.at[i].add(v).at[i].add(v), cpu(), cache, v, i)
    c = jax.device_put(cache, chip())
    ptr = c.unsafe_buffer_pointer()
    out = g(g(c, v, i), v, i)
    assert out.unsafe_buffer_pointer() == ptr
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-6)


# ---- pad, reverse, roll ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_jnp_pad_modes(dtype, mode):
    rng = _rng(40)
    x = random_array(rng, (5, 7), dtype)
    kw = {"constant_values": x.flat[3]} if mode == "constant" else {}
    check_parity(lambda a: jnp.pad(a, ((2, 1), (0, 3)), mode=mode, **kw), x, what=f"pad {mode}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
@pytest.mark.parametrize("config", [
    ((1, 2, 0), (0, 0, 0)),
    ((-1, 2, 1), (3, -2, 2)),      # cropping and interior padding
    ((0, 0, 3), (-2, -2, 0)),
    ((-2, -3, 0), (1, 1, 1)),
], ids=str)
def test_lax_pad_negative_and_interior(dtype, config):
    rng = _rng(41)
    x = random_array(rng, (6, 5), dtype)
    v = random_array(rng, (), dtype)
    check_parity(lambda a, v: lax.pad(a, v, config), x, v, what=f"pad {config}")


def test_pad_odd_shapes():
    rng = _rng(42)
    check_parity(lambda a: lax.pad(a, 7.0, ((2, 3, 0),)), np.zeros((0,), np.float32),
                 what="pad of an empty operand")
    check_parity(lambda a: lax.pad(a, 1.5, ()), np.float32(3.0), what="0-d pad")
    check_parity(lambda a: lax.pad(a, -1, ((1, 1, 2), (0, 0, 1))),
                 random_array(rng, (1, 1), jnp.int32), what="single element")
    big = random_array(rng, (300, 257), jnp.float32)
    check_parity(lambda a: jnp.pad(a, ((1, 1), (64, 63))), big, what="large pad")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
def test_flip(dtype):
    rng = _rng(43)
    x = random_array(rng, (4, 5, 6), dtype)
    check_parity(lambda a: (jnp.flip(a), jnp.flip(a, 1), jnp.flip(a, (0, 2)),
                            jnp.flip(jnp.flip(a, 2), 0)[1:3], a[::-1, :, ::-2]),
                 x, what="flip")


def test_flip_fuses_into_elementwise():
    rng = _rng(44)
    x = random_array(rng, (33, 17), jnp.float32)
    check_parity(lambda a: jnp.flip(a, 0) * a + jnp.flip(a.T, 1).T, x, what="flip fused")
    check_parity(lambda a: jnp.flip(a), np.float32(2.0), what="0-d flip")
    check_parity(lambda a: jnp.flip(a, 0), np.zeros((0, 3), np.float32), what="empty flip")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_name)
def test_roll(dtype):
    rng = _rng(45)
    x = random_array(rng, (5, 8), dtype)
    shift = np.int32(3)
    check_parity(lambda a, s: (jnp.roll(a, 2, axis=1), jnp.roll(a, -1), jnp.roll(a, s, axis=0),
                               jnp.roll(a, (1, -3), axis=(0, 1))), x, shift, what="roll")


# ---- iota --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", (jnp.int8, jnp.uint8, jnp.int16, jnp.uint32, jnp.float16,
                                   jnp.bfloat16, jnp.float32), ids=_name)
def test_iota_variants(dtype):
    """Iota along every dim of a rank-3 shape, long iotas past the exactly representable range
    of the narrow types (rounded or wrapped like XLA), and iota fused into arithmetic."""
    shape = (3, 300, 5)

    def f():
        outs = [lax.broadcasted_iota(dtype, shape, d) for d in range(3)]
        outs.append(lax.iota(dtype, 1000))
        outs.append(lax.iota(dtype, 7) * 2 + lax.iota(dtype, 7)[::-1])
        return outs

    check_parity(f, what=f"iota {np.dtype(dtype).name}")
