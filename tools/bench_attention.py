#!/usr/bin/env python3
"""Attention benchmark: the chip's modeled time for a decode step (paged KV write + paged
attention, pools donated) and for a radix extend, with KV pools of 1k and 16k tokens
(sglang-jax's max_total_tokens) and several numbers of tokens in use. Prints a table and writes
it into docs/performance.md (section "attention-bench").

    .venv/bin/python tools/bench_attention.py [--iters 5] [--no-write]

The attention kernels compute their work at run time from the sequence lengths: the K/V rows of
the tokens in use are read, never the rest of the pool, so the modeled time follows the tokens
in use and not max_total_tokens. Wall times are the emulator's on this host.
"""

from __future__ import annotations

import argparse
import functools
import os
import pathlib
import platform
import statistics
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jax_chip.profiler as chip_prof  # noqa: E402
from doc_tables import replace_section  # noqa: E402
from jax_chip.ops import paged_attention_decode, paged_kv_write, radix_attention_extend  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "performance.md"
HEADS, KV_HEADS, HEAD_DIM, PAGE = 16, 4, 128, 16
DTYPE = jnp.bfloat16


@dataclass
class Row:
    case: str
    pool_tokens: int
    batch: int
    tokens_in_use: int
    attention_us: float       # the attention kernel's modeled time
    kv_read_mib: float        # bytes the attention kernel read (MiB)
    step_us: float            # the whole program's modeled time
    wall_ms: float            # emulator wall time per call (median)


def _profile(fn, args, iters: int) -> tuple[dict, float, float]:
    """(attention kernel event, modeled program time us, median wall ms)."""
    out = fn(*args)
    jax.block_until_ready(out)
    with chip_prof.trace() as prof:
        jax.block_until_ready(fn(*args))
    events = [e for e in prof.profile.events if e.get("args", {}).get("category") == "custom_call"
              and "attention" in e["name"]]
    walls = []
    for _ in range(iters):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        walls.append(time.perf_counter() - t0)
    return events[0], prof.summary().device_time_us, statistics.median(walls) * 1e3


def decode_step(pool_tokens: int, batch: int, seq_len: int, iters: int) -> Row:
    dev = jax.devices("chip")[0]
    rng = np.random.default_rng(0)
    pages = -(-seq_len // PAGE)
    table = jax.device_put(np.arange(batch * pages, dtype=np.int32).reshape(batch, pages), dev)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(kp, vp, q, k, v, slots, lens):
        kp, vp = paged_kv_write(kp, vp, k, v, slots)
        out = paged_attention_decode(q, kp, vp, table, lens, scale=HEAD_DIM ** -0.5,
                                     page_size=PAGE)
        return kp, vp, out

    def put(shape):
        return jax.device_put(jnp.asarray(rng.standard_normal(shape), DTYPE), dev)

    kp, vp = put((pool_tokens, KV_HEADS, HEAD_DIM)), put((pool_tokens, KV_HEADS, HEAD_DIM))
    q, k, v = put((batch, HEADS, HEAD_DIM)), put((batch, KV_HEADS, HEAD_DIM)), put(
        (batch, KV_HEADS, HEAD_DIM))
    slots = jax.device_put(np.arange(batch, dtype=np.int32) * pages * PAGE + seq_len - 1, dev)
    lens = jax.device_put(np.full(batch, seq_len, np.int32), dev)
    state = {"kp": kp, "vp": vp}

    def run(q, k, v, slots, lens):
        state["kp"], state["vp"], out = step(state["kp"], state["vp"], q, k, v, slots, lens)
        return out

    event, step_us, wall = _profile(run, (q, k, v, slots, lens), iters)
    return Row("decode step", pool_tokens, batch, batch * seq_len, event["dur"],
               float(event["args"]["bytes_read"]) / 2 ** 20, step_us, wall)


def extend(pool_tokens: int, batch: int, prefix: int, new: int, iters: int) -> Row:
    dev = jax.devices("chip")[0]
    rng = np.random.default_rng(1)
    pages = -(-(prefix + new) // PAGE)
    table = np.arange(batch * pages, dtype=np.int32).reshape(batch, pages)

    def put(shape):
        return jax.device_put(jnp.asarray(rng.standard_normal(shape), DTYPE), dev)

    kp, vp = put((pool_tokens, KV_HEADS, HEAD_DIM)), put((pool_tokens, KV_HEADS, HEAD_DIM))
    q = put((batch * new, HEADS, HEAD_DIM))
    fn = jax.jit(lambda q, kp, vp, t, p, e: radix_attention_extend(
        q, kp, vp, t, p, e, scale=HEAD_DIM ** -0.5, page_size=PAGE))
    args = (q, kp, vp, jax.device_put(table, dev),
            jax.device_put(np.full(batch, prefix, np.int32), dev),
            jax.device_put(np.full(batch, new, np.int32), dev))
    event, step_us, wall = _profile(fn, args, iters)
    return Row(f"extend (prefix {prefix} + {new} new)", pool_tokens, batch,
               batch * (prefix + new), event["dur"], float(event["args"]["bytes_read"]) / 2 ** 20,
               step_us, wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    rows = []
    for pool in (1024, 16384):
        for seq_len in (64, 256):
            rows.append(decode_step(pool, 4, seq_len, args.iters))
    rows.append(decode_step(16384, 4, 2048, args.iters))
    for pool in (1024, 16384):
        rows.append(extend(pool, 4, 128, 64, args.iters))

    header = ("| case | max_total_tokens | batch | tokens in use | attention kernel modeled (us) "
              "| attention bytes read (MiB) | program modeled (us) | emulator wall (ms) |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [header] + [
        f"| {r.case} | {r.pool_tokens:,} | {r.batch} | {r.tokens_in_use:,} | "
        f"{r.attention_us:,.2f} | {r.kv_read_mib:.3f} | {r.step_us:,.2f} | {r.wall_ms:,.2f} |"
        for r in rows]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        body = (f"Command: `.venv/bin/python tools/bench_attention.py` ({HEADS} query heads, "
                f"{KV_HEADS} KV heads, head_dim {HEAD_DIM}, bf16, page size {PAGE}; a decode step "
                f"is a paged KV write into donated pools plus paged attention; {platform.machine()}, "
                f"{os.cpu_count()} cores). The attention kernels read only the pages of the tokens "
                f"in use, so equal tokens in use give equal modeled time for a 1k and a 16k "
                f"pool.\n\n{table}")
        replace_section(DOC, "attention-bench", body)
        print(f"written to {DOC}")


if __name__ == "__main__":
    main()
