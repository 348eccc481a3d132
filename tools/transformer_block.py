#!/usr/bin/env python3
"""A small transformer block in bf16, jitted on the chip, checked against cpu, with
the profile of where the chip's (modeled) time went.

    .venv/bin/python tools/transformer_block.py [--seq 128] [--hidden 512] [--trace /tmp/chip_trace.json]
"""

from __future__ import annotations

import argparse
import os
import time

if __name__ == "__main__":   # as a script: the chip first; as a module, the importer decides
    os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jax_chip.profiler as chip_prof  # noqa: E402

MAX_POSITION = 2048     # rows of the RoPE table (sglang-jax: max_position_embeddings)


def rms_norm(x: jax.Array, w: jax.Array, eps: float = 1e-6) -> jax.Array:
    xf = x.astype(jnp.float32)
    y = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + eps)
    return (y * w.astype(jnp.float32)).astype(x.dtype)


def rope_cache(rotary_dim: int, max_position: int = MAX_POSITION,
               base: float = 10000.0) -> jax.Array:
    """The cos/sin table [max_position, rotary_dim] (cos half | sin half) that sglang-jax's
    RotaryEmbedding and HF models build from constants. Computed inside the jitted block, it is a
    constant expression: the compiler folds it into a stored constant (without constant
    folding, kernels recompute and write the whole table on every call before the gather)."""
    inv = 1.0 / (base ** (jnp.arange(0, rotary_dim, 2, dtype=jnp.float32) / rotary_dim))
    t = jnp.arange(max_position, dtype=jnp.float32)
    freqs = jnp.outer(t, inv)
    return jnp.concatenate([jnp.cos(freqs), jnp.sin(freqs)], axis=-1)


def rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Neox-style rotary embedding of x [s, heads, d] with cos, sin [s, d/2]."""
    d = x.shape[-1]
    cos, sin = cos[:, None, :], sin[:, None, :]
    x1, x2 = x[..., : d // 2].astype(jnp.float32), x[..., d // 2:].astype(jnp.float32)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def block(params: dict[str, jax.Array], x: jax.Array, positions: jax.Array,
          n_heads: int, max_position: int = MAX_POSITION) -> jax.Array:
    """Pre-norm decoder block: RMSNorm, causal MHA with RoPE, RMSNorm, SwiGLU MLP. `positions`
    (int32 [seq], a runtime argument as in a serving engine) pick the rows of the RoPE table
    of `max_position` rows."""
    s, h = x.shape
    hd = h // n_heads
    y = rms_norm(x, params["ln1"])
    q = (y @ params["wq"]).reshape(s, n_heads, hd)
    k = (y @ params["wk"]).reshape(s, n_heads, hd)
    v = (y @ params["wv"]).reshape(s, n_heads, hd)
    cos, sin = jnp.split(rope_cache(hd, max_position).take(positions, axis=0), 2, axis=-1)
    q, k = rope(q, cos, sin), rope(k, cos, sin)
    scores = jnp.einsum("qhd,khd->hqk", q, k, preferred_element_type=jnp.float32) / np.sqrt(hd)
    mask = jnp.tril(jnp.ones((s, s), jnp.bool_))
    scores = jnp.where(mask[None], scores, -1e30)
    p = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
    attn = jnp.einsum("hqk,khd->qhd", p, v).reshape(s, h)
    x = x + attn @ params["wo"]
    y = rms_norm(x, params["ln2"])
    mlp = (jax.nn.silu(y @ params["w_gate"]) * (y @ params["w_up"])) @ params["w_down"]
    return x + mlp


def make_params(rng: np.random.Generator, h: int, ff: int) -> dict[str, np.ndarray]:
    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(jnp.bfloat16)

    return {
        "ln1": (1 + 0.1 * rng.standard_normal(h)).astype(jnp.bfloat16),
        "ln2": (1 + 0.1 * rng.standard_normal(h)).astype(jnp.bfloat16),
        "wq": w(h, h), "wk": w(h, h), "wv": w(h, h), "wo": w(h, h),
        "w_gate": w(h, ff), "w_up": w(h, ff), "w_down": w(ff, h),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=1408)
    ap.add_argument("--trace", default="/tmp/chip_transformer_block_trace.json")
    args = ap.parse_args()
    if args.seq > MAX_POSITION:
        raise SystemExit(f"--seq {args.seq}: at most {MAX_POSITION} positions (the RoPE table)")

    chip, cpu = jax.devices("chip")[0], jax.devices("cpu")[0]
    rng = np.random.default_rng(0)
    params = make_params(rng, args.hidden, args.ffn)
    x = rng.standard_normal((args.seq, args.hidden)).astype(jnp.bfloat16)
    positions = np.arange(args.seq, dtype=np.int32)
    f = jax.jit(block, static_argnums=3)

    print(f"chip: {chip} ({len(jax.devices('chip'))} device(s), "
          f"HBM {chip.memory_stats()['bytes_limit'] / 2**30:.0f} GiB)")
    print(f"transformer block: seq {args.seq}, hidden {args.hidden}, heads {args.heads}, "
          f"ffn {args.ffn}, bf16, RoPE table {MAX_POSITION} positions")

    on_chip = jax.device_put((params, x, positions), chip)
    t0 = time.perf_counter()
    out_chip = f(*on_chip, args.heads).block_until_ready()
    t_compile = time.perf_counter() - t0
    out_cpu = f(*jax.device_put((params, x, positions), cpu), args.heads).block_until_ready()

    with chip_prof.trace(args.trace) as prof:
        t0 = time.perf_counter()
        out_chip = f(*on_chip, args.heads).block_until_ready()
        t_run = time.perf_counter() - t0

    a = np.asarray(out_chip, np.float32)
    b = np.asarray(out_cpu, np.float32)
    err = float(np.max(np.abs(a - b)))
    rel = err / float(np.max(np.abs(b)))
    print(f"max |chip - cpu| = {err:.4g} (relative to max |cpu| = {rel:.3g}; bf16 policy 1e-2)")
    print(f"first call (compile + run) {t_compile:.2f} s; run {t_run * 1e3:.1f} ms emulator wall time")
    print()
    print(prof.summary().table(top=10))
    print(f"\ntrace: {args.trace} (open in https://ui.perfetto.dev)")
    if not np.isfinite(a).all() or rel > 2e-2:
        raise SystemExit("chip output does not match cpu")


if __name__ == "__main__":
    main()
