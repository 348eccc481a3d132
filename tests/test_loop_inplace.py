"""Loop-carried values updated in place on the chip (xla_passes/loop_carry_inplace.py): a KV
cache carried through a lax.scan decode loop and written with dynamic_update_slice each step is
not copied per iteration, so the bytes moved per step do not grow with the cache. Results match
the cpu backend, with the optimization and without it (CHIP_DISABLE_PASSES=loop_carry_inplace),
and in the cases where updating in place would be wrong."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jax_chip.profiler as chip_prof
from parity import assert_close, check_accuracy, check_parity, chip, random_array, run, cpu

RNG = np.random.default_rng(7)
LAYERS, HEADS, DIM, STEPS = 2, 4, 32, 6


def rand(*shape, dtype=np.float32, scale=1.0):
    return (random_array(RNG, shape, dtype) * scale).astype(dtype)


def make_decode(window: int | None = None) -> Callable[..., Any]:
    """A decode loop: each step computes every layer's key from the token, writes it at
    position pos of the cache [layers, max_len, heads, dim] and attends over the cache (all of
    it, or the `window` positions ending at pos). A fresh function per call, so every call
    compiles (with whatever CHIP_DISABLE_PASSES says then)."""
    def decode(cache, q, wk, xs, pos0):
        def step(carry, x):
            cache, pos = carry
            k = jnp.tanh(jnp.einsum("hd,lde->lhe", x, wk, preferred_element_type=jnp.float32))
            cache = lax.dynamic_update_slice(cache, k[:, None].astype(cache.dtype), (0, pos, 0, 0))
            if window is None:
                ctx = cache
            else:
                ctx = lax.dynamic_slice_in_dim(cache, jnp.maximum(pos - window + 1, 0), window, 1)
            s = jnp.einsum("hd,lthd->lht", q, ctx, preferred_element_type=jnp.float32)
            p = jax.nn.softmax(s / np.sqrt(DIM), axis=-1).astype(cache.dtype)
            o = jnp.einsum("lht,lthd->hd", p, ctx, preferred_element_type=jnp.float32)
            return (cache, pos + 1), o.astype(cache.dtype)
        (cache, pos), ys = lax.scan(step, (cache, pos0), xs)
        return cache, ys, pos
    return decode


def decode_args(max_len: int, dtype, steps: int = STEPS, pos0: int = 3):
    return (rand(LAYERS, max_len, HEADS, DIM, dtype=dtype), rand(HEADS, DIM, dtype=dtype),
            rand(LAYERS, DIM, DIM, dtype=dtype, scale=0.2), rand(steps, HEADS, DIM, dtype=dtype),
            np.int32(pos0))


def attention_atol(args) -> float | None:
    """The absolute error bound of the attention outputs in f32 (None: the dtype's default).

    Each output is a convex combination of cache rows, o = sum_t p_t ctx_t, so its rounding error
    is at most eps sum_t p_t |ctx_t| <= eps max|ctx| per accumulation, plus what the scores'
    error does to p: a score s = q.k / sqrt(DIM) over DIM products of |q||k| <= max|q| max|k|
    errs by up to DIM eps max|q| max|k| / sqrt(DIM), and p_t moves by that (relative) times 2
    (the softmax's normalization), the exponentials adding a few ulp. The cache's new rows are
    tanh values (|k| <= 1). Summed, with room for the order of accumulation on either backend:
    (2 sqrt(DIM) max|q| + 8) * 4 eps * max|ctx|. A flat rtol fails on outputs near zero, whose
    error is set by the magnitudes summed, not by the result."""
    cache, q = args[0], args[1]
    if cache.dtype != np.float32:
        return None
    eps = float(np.finfo(np.float32).eps)
    max_ctx = max(float(np.abs(cache).max()), 1.0)
    return (2 * np.sqrt(DIM) * float(np.abs(q).max()) + 8) * 4 * eps * max_ctx


@pytest.mark.parametrize("dtype", [np.float32, jnp.bfloat16])
@pytest.mark.parametrize("window", [None, 8])
def test_decode_loop_matches_cpu(dtype, window):
    args = decode_args(64, dtype)
    check_parity(make_decode(window), *args, atol=attention_atol(args))


def test_decode_loop_matches_cpu_without_the_optimization(monkeypatch):
    monkeypatch.setenv("CHIP_DISABLE_PASSES", "loop_carry_inplace")
    args = decode_args(64, np.float32)
    check_parity(make_decode(), *args, atol=attention_atol(args))


def test_donated_cache_decode_matches_cpu():
    args = decode_args(64, jnp.bfloat16)
    want = run(make_decode(), cpu(), *args)
    f = jax.jit(make_decode(), donate_argnums=0)
    placed = jax.device_put(args, chip())
    got = jax.tree_util.tree_map(np.asarray, f(*placed))
    assert_close(got, want)
    assert placed[0].is_deleted()


def _moved(e: dict[str, Any], *keys: str) -> float:
    """Bytes a trace event moved: HBM and, where the compiler placed temporaries in the on-chip
    SRAM, SRAM bytes too (keys: "read", "written")."""
    a = e["args"]
    return sum(float(a.get(f"{pre}bytes_{k}", 0)) for k in keys for pre in ("", "sram_"))


def _profile(f, args, donate: bool = False) -> dict[str, Any]:
    """Runs jit(f) once to compile, then once under the profiler: the modeled device time, the
    loop's per-iteration carry copies and the updates (dynamic_update_slice, scatter) that
    write at least a whole cache (i.e. copy their operand)."""
    g = jax.jit(f, donate_argnums=(0,) if donate else ())
    dev = chip()
    placed = jax.device_put(args, dev)
    if donate:
        placed = (g(*placed)[0],) + tuple(jax.device_put(args[1:], dev))
    else:
        jax.block_until_ready(g(*placed))
    jax.block_until_ready(placed)
    with chip_prof.trace() as prof:
        jax.block_until_ready(g(*placed))
    events = prof.profile.events
    cache_bytes = args[0].nbytes
    carry = [e for e in events if e.get("cat") == "copy" and e["name"].endswith(".carry")]
    moved = [e for e in events if e.get("cat") not in ("execution", "transfer")]
    return dict(
        time_us=prof.summary().device_time_us,
        carry_copies=len(carry),
        carry_bytes=sum(_moved(e, "read") for e in carry),
        bytes=sum(_moved(e, "read", "written") for e in moved),
        big_updates=sum(1 for e in events
                        if e["name"].startswith(("dynamic_update_slice", "scatter"))
                        and _moved(e, "written") >= cache_bytes),
    )


def _per_step(window, max_len, monkeypatch, disabled: bool) -> dict[str, float]:
    """Per-iteration figures: (run with 2*STEPS - run with STEPS) / STEPS, so the once-per-call
    work (initial copy, output) cancels."""
    if disabled:
        monkeypatch.setenv("CHIP_DISABLE_PASSES", "loop_carry_inplace")
    else:
        monkeypatch.delenv("CHIP_DISABLE_PASSES", raising=False)
    a = _profile(make_decode(window), decode_args(max_len, jnp.bfloat16, steps=STEPS))
    b = _profile(make_decode(window), decode_args(max_len, jnp.bfloat16, steps=2 * STEPS))
    out = {k: (b[k] - a[k]) / STEPS for k in ("time_us", "carry_bytes", "bytes")}
    out["carry_copies"] = b["carry_copies"]
    out["big_updates"] = b["big_updates"]
    return out


def test_no_per_iteration_copy_of_the_cache(monkeypatch):
    small, big = 256, 2048
    cache = {n: LAYERS * n * HEADS * DIM * 2 for n in (small, big)}
    inplace = {n: _per_step(8, n, monkeypatch, disabled=False) for n in (small, big)}
    copying = {n: _per_step(8, n, monkeypatch, disabled=True) for n in (small, big)}
    for n in (small, big):
        # in place: no carry copy of the cache, and the cache update writes one position
        assert inplace[n]["carry_bytes"] < 64, inplace[n]
        assert inplace[n]["big_updates"] == 0, inplace[n]
        # the copying version copies the cache into the loop-carried storage every iteration
        # and its update first copies the whole cache
        assert copying[n]["carry_copies"] == 2 * STEPS, copying[n]
        assert copying[n]["carry_bytes"] >= cache[n], copying[n]
        assert copying[n]["big_updates"] == 2 * STEPS, copying[n]
    # bytes moved per iteration do not depend on the cache size (a window of 8 positions is read)
    assert inplace[big]["bytes"] == inplace[small]["bytes"]
    assert copying[big]["bytes"] - copying[small]["bytes"] >= 4 * (cache[big] - cache[small])
    # modeled time per iteration: the same for both sizes in place; the copies grow with the cache
    grow_inplace = inplace[big]["time_us"] - inplace[small]["time_us"]
    grow_copying = copying[big]["time_us"] - copying[small]["time_us"]
    assert grow_copying > 0 and abs(grow_inplace) < 0.01 * grow_copying, (inplace, copying)
    assert inplace[big]["time_us"] < copying[big]["time_us"], (inplace, copying)


def test_full_attention_decode_is_faster_in_place(monkeypatch):
    n = 2048
    inplace = _per_step(None, n, monkeypatch, disabled=False)
    copying = _per_step(None, n, monkeypatch, disabled=True)
    cache_bytes = LAYERS * n * HEADS * DIM * 2
    # attention reads the cache twice either way; the copying loop moves 4 more caches' bytes
    # (the update's operand copy and the carry copy, each read and written)
    assert inplace["carry_copies"] == 0 and copying["carry_copies"] == 2 * STEPS
    assert copying["bytes"] - inplace["bytes"] >= 4 * cache_bytes
    assert inplace["time_us"] < copying["time_us"], (inplace, copying)


def test_donated_cache_is_never_copied():
    args = decode_args(512, jnp.bfloat16)
    p = _profile(make_decode(8), args, donate=True)
    assert p["carry_copies"] == 0 and p["big_updates"] == 0, p
    # the whole call moves fewer bytes than one cache: the initial copy into the loop-carried
    # storage has source == destination and no copy writes the output afterwards
    assert p["bytes"] < args[0].nbytes, p


# ---- where updating in place would be wrong: the copy stays and the results are right ---------

def test_old_cache_read_after_the_update():
    def f(cache, xs):
        def step(c, x):
            new = lax.dynamic_update_slice(c, x[None, None], (0, 2, 0))
            return new, jnp.sum(new * c, axis=(1, 2))          # old and new cache
        return lax.scan(step, cache, xs)
    check_parity(f, rand(LAYERS, 16, DIM), rand(STEPS, DIM))


def test_old_cache_carried_into_another_slot():
    def f(cache, xs):
        def step(c, x):
            cur, prev = c
            return (lax.dynamic_update_slice(cur, x[None, None], (1, 0, 0)), cur), cur.sum()
        return lax.scan(step, (cache, -cache), xs)
    check_parity(f, rand(LAYERS, 16, DIM), rand(STEPS, DIM))


def test_two_caches_updated_from_one():
    def f(a, b, xs):
        def step(c, x):
            p, _ = c
            return (lax.dynamic_update_slice(p, x[None, None], (0, 1, 0)),
                    lax.dynamic_update_slice(p, 2 * x[None, None], (1, 3, 0))), p.mean()
        return lax.scan(step, (a, b), xs)
    check_parity(f, rand(LAYERS, 16, DIM), rand(LAYERS, 16, DIM), rand(STEPS, DIM))


def test_scatter_update_in_a_loop():
    def f(table, idx, xs):
        def step(t, x):
            return t.at[idx].add(x), t.sum(axis=0)            # reads the old table first
        return lax.scan(step, table, xs)
    check_parity(f, rand(32, DIM), np.array([1, 30, 7, 1], np.int32), rand(STEPS, 4, DIM))


def test_nested_layer_loop_inside_the_decode_loop():
    def f(cache, wk, xs):
        def step(carry, x):
            c, pos = carry
            def layer(l, lc):
                c, h = lc
                k = jnp.tanh(h @ wk[l])
                c = lax.dynamic_update_slice(c, k[None, None], (l, pos, 0, 0))
                att = jax.nn.softmax(jnp.einsum("hd,thd->ht", k, c[l]) / np.sqrt(DIM), axis=-1)
                return c, jnp.einsum("ht,thd->hd", att, c[l])
            c, h = lax.fori_loop(0, LAYERS, layer, (c, x))
            return (c, pos + 1), h
        return lax.scan(step, (cache, np.int32(2)), xs)
    check_parity(f, rand(LAYERS, 32, HEADS, DIM), rand(LAYERS, DIM, DIM, scale=0.2),
                 rand(STEPS, HEADS, DIM))


def test_layer_by_layer_kv_caches_set_with_at():
    """k and v caches written layer by layer with .at[l, pos].set (scatter) in one decode step,
    each layer attending over its updated cache: both caches stay in place."""
    def f(kc, vc, wk, wv, xs):
        def step(carry, x):
            kc, vc, pos = carry
            h = x
            for layer in range(LAYERS):
                kc = kc.at[layer, pos].set(jnp.tanh(h @ wk[layer]))
                vc = vc.at[layer, pos].set(jnp.sin(h @ wv[layer]))
                s = jnp.einsum("hd,thd->ht", h, kc[layer]) / np.sqrt(DIM)
                h = jnp.einsum("ht,thd->hd", jax.nn.softmax(s, axis=-1), vc[layer])
            return (kc, vc, pos + 1), h
        return lax.scan(step, (kc, vc, np.int32(1)), xs)
    args = (rand(LAYERS, 64, HEADS, DIM), rand(LAYERS, 64, HEADS, DIM),
            rand(LAYERS, DIM, DIM, scale=0.2), rand(LAYERS, DIM, DIM, scale=0.2),
            rand(STEPS, HEADS, DIM))
    # two layers of dots, softmax and transcendentals per step, six steps: judged against the
    # exact (f64) result, not a flat tolerance against cpu (parity.check_accuracy)
    check_accuracy(f, *args)
    p = _profile(f, args)
    assert p["carry_copies"] == 0 and p["big_updates"] == 0, p
