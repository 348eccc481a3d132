#!/usr/bin/env python3
"""The Fft kernel (jnp.fft on complex64, docs/compiler.md "Complex numbers"): modeled chip time of
the fft kernel for power-of-two lengths (radix-2) and other lengths (Bluestein), its vector flops
against the 5 N log2 N of a radix-2 transform, whether it is compute- or memory-bound, the host's
wall time for the emulator, and the max error against numpy's float64 FFT relative to the
spectrum's scale. Prints a table and writes it into docs/performance.md (section "fft-bench").

    .venv/bin/python tools/bench_fft.py [--no-write]
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jax_chip.profiler as chip_prof  # noqa: E402

TOOLS = pathlib.Path(__file__).resolve().parent
DOC = TOOLS.parent / "docs" / "performance.md"
SECTION = "fft-bench"
CASES = [((64, 256), 1), ((64, 1000), 1), ((16, 4096), 1), ((16, 4095), 1), ((256, 256), 2),
         ((8, 64, 64), 2)]


def measure(shape: tuple[int, ...], dims: int) -> dict[str, float]:
    rng = np.random.default_rng(sum(shape))
    z = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    axes = tuple(range(-dims, 0))
    f = jax.jit(lambda z: jnp.fft.fftn(z, axes=axes))
    placed = jax.device_put(z, jax.devices("chip")[0])
    got = np.asarray(f(placed))
    t0 = time.perf_counter()
    jax.block_until_ready(f(placed))
    wall = time.perf_counter() - t0
    with chip_prof.trace() as prof:
        jax.block_until_ready(f(placed))
    (fft,) = [k for k in prof.summary().kernels if k.category == "fft"]
    events = [e for e in prof.profile.events if e.get("cat") == "fft"]
    flops = float(events[0]["args"].get("vector_flops", 0)) if events else float("nan")
    want = np.fft.fftn(z.astype(np.complex128), axes=axes)
    points = math.prod(shape[-dims:])
    batch = math.prod(shape) // points
    return dict(us=fft.modeled_us, bound=fft.bound, flops=flops,
                radix2=5.0 * batch * points * math.log2(points), wall_ms=wall * 1e3,
                err=float(np.abs(got - want).max() / np.abs(want).max()))


def table(rows: list[tuple[tuple[int, ...], int, dict[str, float]]]) -> str:
    lines = ["Complex FFT on the chip (`tools/bench_fft.py`): `jnp.fft.fftn` over the last dims of a "
             "complex64 array, one Fft kernel on planar f32 parts. Modeled time of that kernel, "
             "its vector flops against 5 N log2 N (radix-2; other lengths run Bluestein's three "
             "power-of-two transforms of length >= 2n-1), the emulator's host wall time for the "
             "whole call, and the max error against numpy's float64 FFT relative to the "
             "spectrum's largest magnitude.", "",
             "| shape | transformed dims | modeled us | bound | vector flops | / 5 N log2 N | "
             "host ms | rel. error |", "|---|---:|---:|---|---:|---:|---:|---:|"]
    for shape, dims, r in rows:
        lines.append(f"| {list(shape)} | {dims} | {r['us']:,.2f} | {r['bound']} | {r['flops']:,.0f} | "
                     f"{r['flops'] / r['radix2']:.2f} | {r['wall_ms']:,.1f} | {r['err']:.1e} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    rows = [(shape, dims, measure(shape, dims)) for shape, dims in CASES]
    text = table(rows)
    print(text)
    if not args.no_write:
        sys.path.insert(0, str(TOOLS))
        from doc_tables import replace_section
        replace_section(DOC, SECTION, text)
        print(f"wrote {DOC} (section {SECTION})")


if __name__ == "__main__":
    main()
