#!/usr/bin/env python3
"""Dispatch benchmark: latency of a trivial jitted op and of a 1024x1024 f32 matmul, on the chip
and on cpu in the same process. Prints a table and writes it into docs/performance.md.

    .venv/bin/python tools/bench_dispatch.py [--iters 200] [--no-write]

Wall-clock numbers are the emulator's host time (what a user waits for on this machine); the
chip's modeled time for the same work is reported beside them.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jax_chip.profiler as chip_prof  # noqa: E402
from doc_tables import replace_section  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def time_calls(f, args, iters: int) -> float:
    """Median seconds per call, each call waited for (dispatch + execution + sync)."""
    f(*args).block_until_ready()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        f(*args).block_until_ready()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def modeled_us(f, args) -> float:
    with chip_prof.trace() as prof:
        f(*args).block_until_ready()
    return prof.summary().device_time_us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    cases = {
        "trivial (x + 1, f32[8])": (lambda x: x + 1, [np.ones(8, np.float32)], args.iters),
        "matmul f32 1024x1024": (lambda a, b: a @ b,
                                 [rng.standard_normal((1024, 1024), dtype=np.float32)] * 2,
                                 max(10, args.iters // 10)),
        "matmul bf16 1024x1024": (lambda a, b: a @ b,
                                  [rng.standard_normal((1024, 1024)).astype(jnp.bfloat16)] * 2,
                                  max(10, args.iters // 10)),
    }
    rows = []
    for name, (fn, host_args, iters) in cases.items():
        f = jax.jit(fn)
        res = {}
        for dev in (jax.devices("chip")[0], jax.devices("cpu")[0]):
            placed = [jax.device_put(a, dev) for a in host_args]
            res[dev.platform] = time_calls(f, placed, iters)
        chip_args = [jax.device_put(a, jax.devices("chip")[0]) for a in host_args]
        rows.append((name, res["chip"] * 1e6, res["cpu"] * 1e6, res["chip"] / res["cpu"],
                     modeled_us(f, chip_args)))

    header = ("| case | chip emulator wall (us) | cpu wall (us) | chip / cpu | chip modeled time (us) |\n"
              "|---|---:|---:|---:|---:|")
    lines = [header] + [f"| {n} | {c:,.1f} | {p:,.1f} | {r:.2f}x | {m:,.2f} |" for n, c, p, r, m in rows]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        body = (f"Command: `.venv/bin/python tools/bench_dispatch.py` (median of timed calls, each "
                f"waited for; {platform.machine()}, {os.cpu_count()} cores, same process for both "
                f"backends).\n\n{table}")
        replace_section(DOC, "dispatch-bench", body)
        print(f"written to {DOC}")


if __name__ == "__main__":
    main()
