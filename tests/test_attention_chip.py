"""The attention ops on the chip: custom calls to native kernels, against the jnp references on
cpu and an independent dense float64 attention (tests/attention/attn_helpers.py).

Ragged batches with random page placement in a random-filled pool, GQA ratios 1/2/4/8, page
sizes 1/16/64, prefixes of 0 to several pages, f32 and bf16, padding sequences, padding query
rows and padding slots; out-of-range page ids (clamped, as the reference); the KV write in place
on donated pools; the kernels' modeled cost from the lengths in use.
"""

from __future__ import annotations

import functools
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent / "attention"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from attn_helpers import dense_attention, make_paged_batch  # noqa: E402

import jax_chip.profiler as chip_prof  # noqa: E402
from jax_chip.ops import (  # noqa: E402
    page_table_from_cache_loc,
    paged_attention_decode,
    paged_kv_write,
    radix_attention_extend,
)
from parity import chip, cpu  # noqa: E402

DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}
# Against the float64 dense attention (as tests/attention): f32 accumulation; bf16 adds the
# output rounding. Against the jnp reference on cpu: f32 differs only in summation order; bf16
# by at most one rounding step of an O(1) output.
DENSE_TOL = {"float32": 2e-5, "bfloat16": 2e-2}
REF_TOL = {"float32": 1e-5, "bfloat16": 1.6e-2}
KV_HEADS = 2
HEAD_DIM = 32


def _on(device: jax.Device, fn, *args):
    out = jax.jit(fn)(*[jax.device_put(a, device) for a in args])
    return jax.tree_util.tree_map(lambda x: np.asarray(x), out)


def _f64(x) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def _decode_fn(scale: float, page: int):
    return lambda q, k, v, t, n: paged_attention_decode(q, k, v, t, n, scale=scale,
                                                        page_size=page)


def _extend_fn(scale: float, page: int):
    return lambda q, k, v, t, p, e: radix_attention_extend(q, k, v, t, p, e, scale=scale,
                                                           page_size=page)


# ---- decode ----------------------------------------------------------------------------------

def _decode_case(seed: int, ratio: int, page: int, dtype_name: str):
    rng = np.random.default_rng(seed)
    dtype = DTYPES[dtype_name]
    # 1 token to several pages, exact page multiples, a padding sequence (length 0).
    seq_lens = [1, page + 1, 3 * page + 5, 2, 0, 2 * page]
    batch = make_paged_batch(rng, seq_lens, KV_HEADS, HEAD_DIM, page, dtype)
    q = rng.standard_normal((len(seq_lens), KV_HEADS * ratio, HEAD_DIM)).astype(dtype)
    return batch, q


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
@pytest.mark.parametrize("page", [1, 16, 64])
@pytest.mark.parametrize("ratio", [1, 2, 4, 8])
def test_decode_matches_reference_and_dense(ratio: int, page: int, dtype_name: str) -> None:
    batch, q = _decode_case(100 * ratio + page, ratio, page, dtype_name)
    scale = HEAD_DIM ** -0.5
    args = (q, batch.k_pool, batch.v_pool, batch.page_table, batch.seq_lens)
    got = _on(chip(), _decode_fn(scale, page), *args)
    ref = _on(cpu(), _decode_fn(scale, page), *args)
    assert got.dtype == q.dtype and got.shape == q.shape
    np.testing.assert_allclose(_f64(got), _f64(ref), atol=REF_TOL[dtype_name], rtol=0)
    for b, n in enumerate(batch.seq_lens):
        if n == 0:
            np.testing.assert_array_equal(_f64(got[b]), 0.0, err_msg="padding sequence")
            continue
        want = dense_attention(q[b: b + 1], batch.k_seqs[b], batch.v_seqs[b],
                               np.array([n - 1]), scale)[0]
        np.testing.assert_allclose(_f64(got[b]), want, atol=DENSE_TOL[dtype_name], rtol=0,
                                   err_msg=f"sequence {b} (len {n})")


# ---- extend ----------------------------------------------------------------------------------

def _extend_case(seed: int, ratio: int, page: int, dtype_name: str, pad_rows: int = 5):
    rng = np.random.default_rng(seed)
    dtype = DTYPES[dtype_name]
    # Prefixes from none to several pages (partial and exact), extends of 1 to many tokens, and
    # a padding sequence (0 + 0) at the end, as sglang-jax pads its batches.
    prefix = [0, page, 2 * page + 3, 0, 5, 0]
    extend = [7, 3, page + 2, 1, 2 * page, 0]
    batch = make_paged_batch(rng, [p + e for p, e in zip(prefix, extend)], KV_HEADS, HEAD_DIM,
                             page, dtype)
    q = rng.standard_normal((sum(extend) + pad_rows, KV_HEADS * ratio, HEAD_DIM)).astype(dtype)
    return batch, q, np.array(prefix, np.int32), np.array(extend, np.int32)


def _check_extend_dense(out: np.ndarray, batch, q, prefix, extend, scale: float,
                        tol: float) -> None:
    start = 0
    for b, (p, e) in enumerate(zip(prefix, extend)):
        if e:
            want = dense_attention(q[start: start + e], batch.k_seqs[b], batch.v_seqs[b],
                                   np.arange(p, p + e), scale)
            np.testing.assert_allclose(_f64(out[start: start + e]), want, atol=tol, rtol=0,
                                       err_msg=f"sequence {b} (prefix {p}, extend {e})")
        start += e
    np.testing.assert_array_equal(_f64(out[start:]), 0.0, err_msg="padding query rows")


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
@pytest.mark.parametrize("page", [1, 16, 64])
@pytest.mark.parametrize("ratio", [1, 2, 4, 8])
def test_extend_matches_reference_and_dense(ratio: int, page: int, dtype_name: str) -> None:
    batch, q, prefix, extend = _extend_case(7 * ratio + page, ratio, page, dtype_name)
    scale = 0.7 * HEAD_DIM ** -0.5
    args = (q, batch.k_pool, batch.v_pool, batch.page_table, prefix, extend)
    got = _on(chip(), _extend_fn(scale, page), *args)
    ref = _on(cpu(), _extend_fn(scale, page), *args)
    assert got.dtype == q.dtype and got.shape == q.shape
    np.testing.assert_allclose(_f64(got), _f64(ref), atol=REF_TOL[dtype_name], rtol=0)
    _check_extend_dense(got, batch, q, prefix, extend, scale, DENSE_TOL[dtype_name])


def test_extend_from_sglang_cache_loc_head_dim_128() -> None:
    """The page table sglang-jax's flat cache_loc gives, head_dim 128 (sglang-jax's), GQA 4."""
    page = 16
    rng = np.random.default_rng(5)
    prefix = np.array([page + 1, 0, 2], np.int32)
    extend = np.array([4, page + 3, 1], np.int32)
    batch = make_paged_batch(rng, list(prefix + extend), 1, 128, page, np.float32)
    q = rng.standard_normal((int(extend.sum()) + 2, 4, 128)).astype(np.float32)
    table = page_table_from_cache_loc(batch.cache_loc(), batch.seq_lens, page, max_pages=8)
    got = _on(chip(), _extend_fn(128 ** -0.5, page), q, batch.k_pool, batch.v_pool, table,
              prefix, extend)
    _check_extend_dense(got, batch, q, prefix, extend, 128 ** -0.5, 2e-5)


def test_decode_equals_last_row_of_extend_on_chip() -> None:
    batch, q = _decode_case(5, 4, 16, "float32")
    real = batch.seq_lens > 0
    dec = _on(chip(), _decode_fn(0.2, 16), q, batch.k_pool, batch.v_pool, batch.page_table,
              batch.seq_lens)
    ext = _on(chip(), _extend_fn(0.2, 16), q[real], batch.k_pool, batch.v_pool,
              batch.page_table[real], batch.seq_lens[real] - 1,
              np.ones(int(real.sum()), np.int32))
    np.testing.assert_allclose(dec[real], ext, atol=1e-6)


# ---- page-table edge cases -------------------------------------------------------------------

def test_out_of_range_page_ids_are_clamped_like_the_reference() -> None:
    """Page ids < 0 or >= num_pages inside a sequence's pages read page 0 / the last page (the
    documented clamp): same result as the reference and as the clamped table, nothing read out
    of bounds, other sequences unaffected."""
    batch, q = _decode_case(11, 2, 16, "float32")
    num_pages = batch.k_pool.shape[0] // 16
    bad = batch.page_table.copy()
    bad[2, 1] = num_pages + 7
    bad[1, 0] = -3
    bad[5, 1] = 2 ** 31 - 1
    clamped = batch.page_table.copy()
    clamped[2, 1] = num_pages - 1
    clamped[1, 0] = 0
    clamped[5, 1] = num_pages - 1
    fn = _decode_fn(0.3, 16)
    args = lambda t: (q, batch.k_pool, batch.v_pool, t, batch.seq_lens)  # noqa: E731
    got = _on(chip(), fn, *args(bad))
    np.testing.assert_array_equal(got, _on(chip(), fn, *args(clamped)))
    np.testing.assert_allclose(got, _on(cpu(), fn, *args(bad)), atol=1e-5, rtol=0)
    assert np.isfinite(got).all()
    good = _on(chip(), fn, *args(batch.page_table))
    np.testing.assert_array_equal(got[[0, 3, 4]], good[[0, 3, 4]])

    # extend: same rule
    b2, qe, prefix, extend = _extend_case(12, 2, 16, "float32")
    bad = b2.page_table.copy()
    bad[2, 0] = -100
    bad[4, 1] = num_pages + 1000
    efn = _extend_fn(0.3, 16)
    eargs = (qe, b2.k_pool, b2.v_pool, bad, prefix, extend)
    got = _on(chip(), efn, *eargs)
    np.testing.assert_allclose(got, _on(cpu(), efn, *eargs), atol=1e-5, rtol=0)
    assert np.isfinite(got).all()


def test_lengths_past_the_page_table_are_capped() -> None:
    """seq_lens beyond max_pages * page_size see only the table's pages (as the reference)."""
    batch, q = _decode_case(13, 1, 16, "float32")
    lens = batch.seq_lens.copy()
    lens[2] = 10_000
    lens[3] = -4        # negative: nothing visible, zeros
    fn = _decode_fn(0.3, 16)
    args = (q, batch.k_pool, batch.v_pool, batch.page_table, lens)
    got = _on(chip(), fn, *args)
    np.testing.assert_allclose(got, _on(cpu(), fn, *args), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(got[3], 0.0)


def test_unused_page_table_entries_are_never_read() -> None:
    batch, q = _decode_case(12, 2, 16, "float32")
    other = batch.page_table.copy()
    for b, n in enumerate(batch.seq_lens):
        other[b, -(-int(n) // 16):] = 10 ** 6
    fn = _decode_fn(0.3, 16)
    got = _on(chip(), fn, q, batch.k_pool, batch.v_pool, other, batch.seq_lens)
    np.testing.assert_array_equal(
        got, _on(chip(), fn, q, batch.k_pool, batch.v_pool, batch.page_table, batch.seq_lens))


# ---- KV write --------------------------------------------------------------------------------

def _expected_write(pool: np.ndarray, new: np.ndarray, slots: np.ndarray) -> np.ndarray:
    out = pool.copy()
    for t, s in enumerate(slots):
        if 0 <= s < pool.shape[0]:
            out[s] = new[t].astype(pool.dtype)
    return out


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
@pytest.mark.parametrize("page", [1, 16, 64])
def test_kv_write_drops_padding_and_out_of_range_slots(dtype, page: int) -> None:
    rng = np.random.default_rng(page)
    rows = max(4 * page, 32) + page
    k_pool = rng.standard_normal((rows, 2, 32)).astype(dtype)
    v_pool = rng.standard_normal((rows, 2, 32)).astype(dtype)
    tokens = 24
    slots = rng.choice(np.arange(rows - 1), size=tokens, replace=False).astype(np.int32)
    slots[[3, 9, 20]] = -1          # padding
    slots[5] = rows                 # one past the end
    slots[7] = rows + 1000
    slots[11] = -5                  # negative but not -1: dropped too, never wrapped
    k_new = rng.standard_normal((tokens, 2, 32)).astype(np.float32)   # cast to the pool dtype
    v_new = rng.standard_normal((tokens, 2, 32)).astype(np.float32)
    dev = chip()
    fn = jax.jit(paged_kv_write, donate_argnums=(0, 1))
    k_out, v_out = fn(*[jax.device_put(a, dev) for a in (k_pool, v_pool, k_new, v_new, slots)])
    assert k_out.dtype == k_pool.dtype and k_out.shape == k_pool.shape
    np.testing.assert_array_equal(np.asarray(k_out), _expected_write(k_pool, k_new, slots))
    np.testing.assert_array_equal(np.asarray(v_out), _expected_write(v_pool, v_new, slots))


def test_kv_write_without_donation_leaves_the_input_pool() -> None:
    rng = np.random.default_rng(3)
    pool = rng.standard_normal((64, 2, 8)).astype(np.float32)
    new = rng.standard_normal((3, 2, 8)).astype(np.float32)
    slots = np.array([4, -1, 60], np.int32)
    dev = chip()
    k = jax.device_put(pool, dev)
    k_out, v_out = jax.jit(paged_kv_write)(k, k, new, new, slots)   # not donated: a copy
    np.testing.assert_array_equal(np.asarray(k), pool)
    np.testing.assert_array_equal(np.asarray(k_out), _expected_write(pool, new, slots))
    np.testing.assert_array_equal(np.asarray(v_out), _expected_write(pool, new, slots))
    # eager (op by op) too
    k_out, _ = paged_kv_write(k, k, new, new, slots)
    np.testing.assert_array_equal(np.asarray(k_out), _expected_write(pool, new, slots))


def test_decode_steps_update_donated_pools_in_place() -> None:
    """50 decode steps (KV write + paged attention) on donated pools: the pools stay where they
    are, device memory stays flat, and the result matches a numpy replay."""
    dev = chip()
    rows, page, h, d = 256, 16, 8, 32
    rng = np.random.default_rng(7)
    k_np = rng.standard_normal((rows, KV_HEADS, d)).astype(np.float32)
    v_np = rng.standard_normal((rows, KV_HEADS, d)).astype(np.float32)
    table = np.array([[3, 7, 1, 12], [9, 2, 14, 5]], np.int32)
    table_dev = jax.device_put(table, dev)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(kp, vp, q, k, v, slots, lens):
        kp, vp = paged_kv_write(kp, vp, k, v, slots)
        return kp, vp, paged_attention_decode(q, kp, vp, table_dev, lens, scale=d ** -0.5,
                                              page_size=page)

    kp, vp = jax.device_put(k_np, dev), jax.device_put(v_np, dev)
    pointers, in_use = set(), []
    for t in range(50):
        q = rng.standard_normal((2, h, d)).astype(np.float32)
        k = rng.standard_normal((2, KV_HEADS, d)).astype(np.float32)
        v = rng.standard_normal((2, KV_HEADS, d)).astype(np.float32)
        slots = np.array([table[0, t // page] * page + t % page,
                          table[1, t // page] * page + t % page if t % 5 else -1], np.int32)
        lens = np.array([t + 1, t + 1], np.int32)
        old = kp
        kp, vp, out = step(kp, vp, *[jax.device_put(a, dev) for a in (q, k, v, slots, lens)])
        out.block_until_ready()
        assert old.is_deleted()
        pointers.add(kp.unsafe_buffer_pointer())
        in_use.append(dev.memory_stats()["bytes_in_use"])
        k_np = _expected_write(k_np, k, slots)
        v_np = _expected_write(v_np, v, slots)
        del old, out
    assert len(pointers) == 1, "the K pool moved: it was copied, not updated in place"
    assert len(set(in_use)) == 1, f"device memory grew over the steps: {in_use[:3]}...{in_use[-3:]}"
    np.testing.assert_array_equal(np.asarray(kp), k_np)
    np.testing.assert_array_equal(np.asarray(vp), v_np)


# ---- what reaches the compiler ---------------------------------------------------------------

def test_ops_lower_to_custom_calls_on_chip_only() -> None:
    pool = jnp.zeros((32, 2, 8), jnp.float32)

    def f(kp, vp, q, new, slots, table, lens):
        kp, vp = paged_kv_write(kp, vp, new, new, slots)
        o = paged_attention_decode(q, kp, vp, table, lens, scale=0.5, page_size=16)
        e = radix_attention_extend(q, kp, vp, table, lens, lens, scale=0.5, page_size=16)
        return kp, vp, o, e

    args = (pool, pool, jnp.ones((3, 4, 8)), jnp.ones((3, 2, 8)), jnp.arange(3, dtype=jnp.int32),
            jnp.zeros((3, 2), jnp.int32), jnp.ones(3, jnp.int32))
    text = jax.jit(f, donate_argnums=(0, 1)).lower(
        *[jax.device_put(a, chip()) for a in args]).as_text()
    for target in ("chip.paged_kv_write", "chip.paged_attention_decode",
                   "chip.radix_attention_extend"):
        assert f"stablehlo.custom_call @{target}(" in text
    assert "output_operand_aliases" in text and "tf.aliasing_output = 0" in text
    assert "page_size = 16 : i64" in text and "scale = 5.000000e-01 : f32" in text
    cpu_text = jax.jit(f).lower(*[jax.device_put(a, cpu()) for a in args]).as_text()
    assert "custom_call" not in cpu_text


def test_unknown_chip_target_is_unimplemented_naming_it() -> None:
    x = jax.device_put(np.ones((4,), np.float32), chip())
    call = jax.ffi.ffi_call("chip.no_such_kernel", jax.ShapeDtypeStruct((4,), jnp.float32))
    with pytest.raises(Exception, match=r"UNIMPLEMENTED.*custom_call @chip\.no_such_kernel.*"
                                        r"chip\.paged_attention_decode"):
        jax.jit(call)(x)


def test_malformed_chip_call_is_a_clear_compile_error() -> None:
    """A raw custom call with the wrong operand types names the operand and the expectation."""
    q = jax.device_put(np.ones((2, 4, 8), np.float32), chip())
    pool = np.ones((32, 2, 8), np.float32)
    bad_table = np.zeros((2, 2), np.float32)       # page_table must be s32
    call = jax.ffi.ffi_call("chip.paged_attention_decode",
                            jax.ShapeDtypeStruct((2, 4, 8), jnp.float32))
    with pytest.raises(Exception, match=r"custom call @chip\.paged_attention_decode: operand 3 "
                                        r"\(page_table\) must be \[batch, max_pages\] of s32"):
        jax.jit(lambda *a: call(*a, scale=np.float32(1), page_size=np.int64(16)))(
            q, pool, pool, bad_table, np.ones(2, np.int32))
    with pytest.raises(Exception, match=r"pool rows 32 is not a multiple of page_size 64"):
        jax.jit(lambda *a: call(*a, scale=np.float32(1), page_size=np.int64(64)))(
            q, pool, pool, np.zeros((2, 2), np.int32), np.ones(2, np.int32))


# ---- modeled cost ----------------------------------------------------------------------------

def _decode_events(pool_tokens: int, seq_len: int, batch: int = 4, page: int = 16) -> dict:
    dev = chip()
    h, d = 8, 64
    rng = np.random.default_rng(0)
    pool = jax.device_put(jnp.asarray(rng.standard_normal((pool_tokens, KV_HEADS, d)),
                                      jnp.bfloat16), dev)
    pages = -(-seq_len // page)
    table = jax.device_put(np.arange(batch * pages, dtype=np.int32).reshape(batch, pages), dev)
    q = jax.device_put(jnp.asarray(rng.standard_normal((batch, h, d)), jnp.bfloat16), dev)
    lens = jax.device_put(np.full(batch, seq_len, np.int32), dev)
    fn = jax.jit(_decode_fn(0.125, page))
    jax.block_until_ready(fn(q, pool, pool, table, lens))
    with chip_prof.trace() as prof:
        jax.block_until_ready(fn(q, pool, pool, table, lens))
    (event,) = [e for e in prof.profile.events
                if e.get("args", {}).get("category") == "custom_call"]
    return event


def test_decode_modeled_cost_grows_with_tokens_not_pool_size() -> None:
    small_pool = _decode_events(1024, 128)
    big_pool = _decode_events(16384, 128)
    more_tokens = _decode_events(16384, 512)
    # same tokens in use: same work and time whatever the pool size
    for key in ("bytes_read", "bytes_written", "vector_flops"):
        assert small_pool["args"][key] == big_pool["args"][key], key
    assert small_pool["dur"] == pytest.approx(big_pool["dur"])
    # K and V rows of the tokens in use (bf16), plus q, the page-table entries and lengths
    tokens = 4 * 128
    kv = tokens * KV_HEADS * 64 * 2 * 2
    q_bytes = 4 * 8 * 64 * 2
    assert float(big_pool["args"]["bytes_read"]) == kv + q_bytes + 4 * (4 * 128 // 16) + 4 * 4
    assert float(big_pool["args"]["vector_flops"]) == 4 * tokens * 8 * 64
    assert more_tokens["dur"] > 3 * (big_pool["dur"] - 1.0)   # 4x the tokens, minus launch


def test_in_place_kv_write_models_only_the_rows_written() -> None:
    dev = chip()
    rows, d = 16384, 64
    pool = jax.device_put(jnp.zeros((rows, KV_HEADS, d), jnp.bfloat16), dev)
    pool2 = jax.device_put(jnp.zeros((rows, KV_HEADS, d), jnp.bfloat16), dev)
    new = jax.device_put(jnp.ones((4, KV_HEADS, d), jnp.bfloat16), dev)
    slots = jax.device_put(np.array([1, -1, 7, 9], np.int32), dev)
    fn = jax.jit(paged_kv_write, donate_argnums=(0, 1))
    pool, pool2 = fn(pool, pool2, new, new, slots)
    jax.block_until_ready((pool, pool2))   # the warm-up call must not end inside the trace
    with chip_prof.trace() as prof:
        pool, pool2 = fn(pool, pool2, new, new, slots)
        jax.block_until_ready((pool, pool2))
    (event,) = [e for e in prof.profile.events
                if e.get("args", {}).get("category") == "custom_call"]
    row = KV_HEADS * d * 2
    assert float(event["args"]["bytes_written"]) == 2 * 3 * row   # 3 kept tokens, K and V
    assert float(event["args"]["bytes_read"]) == 2 * 3 * row + 4 * 4
    assert event["name"].startswith("paged_kv_write")
