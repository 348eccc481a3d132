#!/usr/bin/env python3
"""The golden suite: programs whose chip outputs must be the same bits on every host and build.

Each program runs on the chip with fixed-seed inputs; the sha256 of its output bytes (with dtype
and shape) is compared against tests/golden/hashes.json. tests/test_golden.py runs the same check
in the test suite, under whichever plugin build (default x86-64-v3, `--config=portable`,
`--config=native`) the test is given.

    .venv/bin/python tools/golden.py            # check: print a table, exit 1 on a mismatch
    .venv/bin/python tools/golden.py --update   # rewrite tests/golden/hashes.json

`--update` is legitimate only when the chip's numerics change on purpose (a kernel's
accumulation order, a compiler pass that changes rounding, the input generation here), never to
make a host or a build agree: see docs/numerics.md, "Golden hashes".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

if __name__ == "__main__":   # as a script: the chip only; as a module, the importer decides
    os.environ.setdefault("JAX_PLATFORMS", "chip")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import transformer_block  # noqa: E402

from jax_chip import ops  # noqa: E402

HASHES = pathlib.Path(__file__).resolve().parents[1] / "tests" / "golden" / "hashes.json"

BF16 = ml_dtypes.bfloat16


@dataclass(frozen=True)
class Program:
    name: str
    build: Callable[[np.random.Generator], tuple[Callable[..., Any], Sequence[Any]]]
    """From the program's own generator: the function to jit and its (numpy) arguments."""


def _normal(rng: np.random.Generator, shape: Sequence[int], dtype: Any, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _matmul(m: int, k: int, n: int, dtype: Any, batch: int = 0, transpose: str = "",
            out: Any = None) -> Callable[[np.random.Generator], tuple[Callable[..., Any], list[np.ndarray]]]:
    """A [batch,] m x k by k x n product; transpose "a"/"b"/"ab" stores that operand transposed."""
    def build(rng: np.random.Generator) -> tuple[Callable[..., Any], list[np.ndarray]]:
        lead = (batch,) if batch else ()
        a_shape = lead + ((k, m) if "a" in transpose else (m, k))
        b_shape = lead + ((n, k) if "b" in transpose else (k, n))
        if np.dtype(dtype) == np.int8:
            a = rng.integers(-128, 128, a_shape).astype(np.int8)
            b = rng.integers(-128, 128, b_shape).astype(np.int8)
        else:
            a, b = _normal(rng, a_shape, dtype), _normal(rng, b_shape, dtype)

        def f(a: jax.Array, b: jax.Array) -> jax.Array:
            if "a" in transpose:
                a = jnp.swapaxes(a, -1, -2)
            if "b" in transpose:
                b = jnp.swapaxes(b, -1, -2)
            return jnp.matmul(a, b, preferred_element_type=out)
        return f, [a, b]
    return build


def _unary(fn: Callable[[jax.Array], jax.Array], shape: Sequence[int], dtype: Any,
           scale: float = 3.0) -> Callable[[np.random.Generator], tuple[Callable[..., Any], list[np.ndarray]]]:
    def build(rng: np.random.Generator) -> tuple[Callable[..., Any], list[np.ndarray]]:
        return fn, [_normal(rng, shape, dtype, scale)]
    return build


def _paged(rng: np.random.Generator, num_pages: int, page_size: int, kv_heads: int, head_dim: int,
           dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = num_pages * page_size
    return (_normal(rng, (rows, kv_heads, head_dim), dtype), _normal(rng, (rows, kv_heads, head_dim), dtype))


def _page_table(rng: np.random.Generator, lens: Sequence[int], page_size: int, num_pages: int,
                max_pages: int) -> np.ndarray:
    """Each sequence's pages drawn without replacement from 1..num_pages-1 (page 0: padding)."""
    free = rng.permutation(np.arange(1, num_pages))
    table = np.zeros((len(lens), max_pages), np.int32)
    cursor = 0
    for b, n in enumerate(lens):
        pages = -(-n // page_size)
        table[b, :pages] = free[cursor: cursor + pages]
        cursor += pages
    return table


def _decode_attention(rng: np.random.Generator) -> tuple[Callable[..., Any], list[np.ndarray]]:
    page_size, heads, kv_heads, d = 4, 8, 2, 64
    lens = [1, 17, 64, 33]
    k_pool, v_pool = _paged(rng, 64, page_size, kv_heads, d, BF16)
    table = _page_table(rng, lens, page_size, 64, 20)
    q = _normal(rng, (len(lens), heads, d), BF16)

    def f(q: jax.Array, k: jax.Array, v: jax.Array, t: jax.Array, s: jax.Array) -> jax.Array:
        return ops.paged_attention_decode(q, k, v, t, s, scale=d ** -0.5, page_size=page_size)
    return f, [q, k_pool, v_pool, table, np.array(lens, np.int32)]


def _extend_attention(rng: np.random.Generator) -> tuple[Callable[..., Any], list[np.ndarray]]:
    page_size, heads, kv_heads, d = 2, 4, 4, 32
    prefix, extend = [0, 5, 12], [7, 3, 9]
    k_pool, v_pool = _paged(rng, 32, page_size, kv_heads, d, np.float32)
    table = _page_table(rng, [p + e for p, e in zip(prefix, extend)], page_size, 32, 12)
    q = _normal(rng, (sum(extend) + 5, heads, d), np.float32)

    def f(q: jax.Array, k: jax.Array, v: jax.Array, t: jax.Array, p: jax.Array, e: jax.Array) -> jax.Array:
        return ops.radix_attention_extend(q, k, v, t, p, e, scale=d ** -0.5, page_size=page_size)
    return f, [q, k_pool, v_pool, table, np.array(prefix, np.int32), np.array(extend, np.int32)]


def _kv_write(rng: np.random.Generator) -> tuple[Callable[..., Any], list[np.ndarray]]:
    k_pool, v_pool = _paged(rng, 16, 4, 2, 32, BF16)
    k_new, v_new = _normal(rng, (9, 2, 32), np.float32), _normal(rng, (9, 2, 32), np.float32)
    slots = rng.permutation(64)[:9].astype(np.int32)
    slots[3] = -1   # padding: dropped
    return ops.paged_kv_write, [k_pool, v_pool, k_new, v_new, slots]


def _transformer_block(rng: np.random.Generator) -> tuple[Callable[..., Any], list[Any]]:
    params = transformer_block.make_params(rng, 128, 256)
    x = _normal(rng, (32, 128), BF16)
    positions = np.arange(32, dtype=np.int32)
    return (lambda p, x, pos: transformer_block.block(p, x, pos, 4, 256)), [params, x, positions]


def _decode_step(rng: np.random.Generator) -> tuple[Callable[..., Any], list[Any]]:
    """One sglang-style decode step for a batch of 4: embed, RMSNorm, QKV, RoPE, KV write into the
    paged pool, paged attention, output projection, SwiGLU MLP, final norm, logits, greedy token."""
    vocab, h, heads, kv_heads, ff, page_size = 512, 128, 4, 2, 256, 4
    d = h // heads
    lens = [5, 12, 1, 30]
    params = transformer_block.make_params(rng, h, ff)
    params["wk"] = params["wk"][:, : kv_heads * d]
    params["wv"] = params["wv"][:, : kv_heads * d]
    params["embed"] = _normal(rng, (vocab, h), BF16)
    params["lm_head"] = _normal(rng, (h, vocab), BF16, h ** -0.5)
    params["ln_f"] = (1 + 0.1 * rng.standard_normal(h)).astype(BF16)
    k_pool, v_pool = _paged(rng, 24, page_size, kv_heads, d, BF16)
    table = _page_table(rng, lens, page_size, 24, 8)
    seq_lens = np.array(lens, np.int32)
    positions = seq_lens - 1
    slots = (table[np.arange(4), positions // page_size] * page_size + positions % page_size).astype(np.int32)
    tokens = rng.integers(0, vocab, 4).astype(np.int32)

    def step(p: dict[str, jax.Array], tokens: jax.Array, positions: jax.Array, k_pool: jax.Array,
             v_pool: jax.Array, table: jax.Array, seq_lens: jax.Array, slots: jax.Array) -> tuple[jax.Array, ...]:
        x = p["embed"][tokens]                                            # [B, h]
        y = transformer_block.rms_norm(x, p["ln1"])
        q = (y @ p["wq"]).reshape(-1, heads, d)
        k = (y @ p["wk"]).reshape(-1, kv_heads, d)
        v = (y @ p["wv"]).reshape(-1, kv_heads, d)
        cos, sin = jnp.split(transformer_block.rope_cache(d, 64).take(positions, axis=0), 2, axis=-1)
        q, k = transformer_block.rope(q, cos, sin), transformer_block.rope(k, cos, sin)
        k_pool, v_pool = ops.paged_kv_write(k_pool, v_pool, k, v, slots)
        attn = ops.paged_attention_decode(q, k_pool, v_pool, table, seq_lens, scale=d ** -0.5,
                                          page_size=page_size)
        x = x + attn.reshape(-1, h) @ p["wo"]
        y = transformer_block.rms_norm(x, p["ln2"])
        x = x + (jax.nn.silu(y @ p["w_gate"]) * (y @ p["w_up"])) @ p["w_down"]
        logits = transformer_block.rms_norm(x, p["ln_f"]).astype(jnp.float32) @ p["lm_head"].astype(jnp.float32)
        return logits, jnp.argmax(logits, axis=-1).astype(jnp.int32), k_pool, v_pool
    return step, [params, tokens, positions, k_pool, v_pool, table, seq_lens, slots]


PROGRAMS: tuple[Program, ...] = (
    # Matmuls: odd sizes, every operand layout, the small-M streaming path, batched.
    Program("matmul f32 1x1x1", _matmul(1, 1, 1, np.float32)),
    Program("matmul f32 7x13x5", _matmul(7, 13, 5, np.float32)),
    Program("matmul f32 64x64x64", _matmul(64, 64, 64, np.float32)),
    Program("matmul f32 33x300x65", _matmul(33, 300, 65, np.float32)),
    Program("matmul f32 130x517x47 a^T", _matmul(130, 517, 47, np.float32, transpose="a")),
    Program("matmul f32 96x1000x130 b^T", _matmul(96, 1000, 130, np.float32, transpose="b")),
    Program("matmul f32 3x70x200x90 batched a^T b^T", _matmul(70, 200, 90, np.float32, batch=3, transpose="ab")),
    Program("matmul f32 300x2048x257", _matmul(300, 2048, 257, np.float32)),
    Program("matmul bf16 1x512x384", _matmul(1, 512, 384, BF16)),
    Program("matmul bf16 8x384x1000 b^T", _matmul(8, 384, 1000, BF16, transpose="b")),
    Program("matmul bf16 129x256x200", _matmul(129, 256, 200, BF16)),
    Program("matmul bf16->f32 64x777x96", _matmul(64, 777, 96, BF16, out=np.float32)),
    Program("matmul bf16 4x33x64x48 batched", _matmul(33, 64, 48, BF16, batch=4)),
    Program("matmul int8->int32 45x300x70", _matmul(45, 300, 70, np.int8, out=np.int32)),
    Program("matmul int8->int32 2x16x64x33 batched b^T", _matmul(16, 64, 33, np.int8, batch=2, transpose="b", out=np.int32)),
    # Reductions.
    Program("sum f32 100003", _unary(jnp.sum, (100003,), np.float32)),
    Program("sum f32 37x4099 axis 1", _unary(lambda x: jnp.sum(x, axis=1), (37, 4099), np.float32)),
    Program("sum f32 1000x300 axis 0", _unary(lambda x: jnp.sum(x, axis=0), (1000, 300), np.float32)),
    Program("mean bf16 64x1000 axis 1", _unary(lambda x: jnp.mean(x, axis=1), (64, 1000), BF16)),
    Program("max f32 3x500x7 axis 1", _unary(lambda x: jnp.max(x, axis=1), (3, 500, 7), np.float32)),
    Program("logsumexp f32 16x3000", _unary(lambda x: jax.nn.logsumexp(x, axis=-1), (16, 3000), np.float32)),
    # Softmax and the chip's own transcendentals.
    Program("softmax f32 16x1000", _unary(lambda x: jax.nn.softmax(x, axis=-1), (16, 1000), np.float32)),
    Program("softmax bf16 8x4x257", _unary(lambda x: jax.nn.softmax(x, axis=-1), (8, 4, 257), BF16)),
    Program("exp log tanh logistic erf f32", _unary(
        lambda x: (jnp.exp(x), jnp.log(jnp.abs(x) + 1e-3), jnp.tanh(x), jax.nn.sigmoid(x),
                   jax.lax.erf(x)), (4099,), np.float32)),
    Program("gelu silu bf16 33x130", _unary(lambda x: (jax.nn.gelu(x), jax.nn.silu(x)), (33, 130), BF16)),
    # The attention custom calls.
    Program("paged_kv_write bf16", _kv_write),
    Program("paged_attention_decode bf16 gqa", _decode_attention),
    Program("radix_attention_extend f32", _extend_attention),
    # Whole models.
    Program("transformer block bf16", _transformer_block),
    Program("sglang decode step bf16", _decode_step),
)


def output_hash(out: Any) -> str:
    """sha256 over every output leaf's dtype, shape and bytes, in tree order."""
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(out):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def run_program(program: Program, device: jax.Device | None = None) -> str:
    """The program's output hash on `device` (default: the first chip)."""
    rng = np.random.default_rng(zlib.crc32(program.name.encode()))
    f, args = program.build(rng)
    device = device or jax.devices("chip")[0]
    out = jax.jit(f)(*jax.device_put(args, device))
    return output_hash(jax.device_get(out))


def load_hashes(path: pathlib.Path = HASHES) -> dict[str, str]:
    return json.loads(path.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", action="store_true", help=f"rewrite {HASHES.name} with this build's hashes")
    ap.add_argument("--file", type=pathlib.Path, default=HASHES)
    args = ap.parse_args()
    got = {p.name: run_program(p) for p in PROGRAMS}
    if args.update:
        args.file.parent.mkdir(parents=True, exist_ok=True)
        args.file.write_text(json.dumps(got, indent=1) + "\n")
        print(f"wrote {len(got)} hashes to {args.file}")
        return 0
    want = load_hashes(args.file)
    bad = 0
    for name, digest in got.items():
        status = "ok" if want.get(name) == digest else ("NEW" if name not in want else "MISMATCH")
        bad += status != "ok"
        print(f"{status:8} {digest[:16]}  {name}")
    for name in sorted(set(want) - set(got)):
        print(f"STALE    {'':16}  {name} (in {args.file.name}, not a program)")
        bad += 1
    print(f"{len(got) - bad if bad <= len(got) else 0} of {len(got)} programs match {args.file}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
