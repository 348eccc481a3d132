#!/usr/bin/env python3
"""What the compiler's passes buy: tools/transformer_block.py's transformer block (bf16) compiled with
elementwise fusion, constant folding and memory planning each disabled in turn
(CHIP_DISABLE_PASSES), run on the chip under jax_chip.profiler. Prints a table and writes it
into docs/performance.md (section "passes-bench").

    .venv/bin/python tools/bench_passes.py [--seq 128] [--hidden 512] [--no-write]

Every configuration runs in a fresh process, so the device's peak memory is that call's.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

TOOLS = pathlib.Path(__file__).resolve().parent
DOC = TOOLS.parent / "docs" / "performance.md"
sys.path.insert(0, str(TOOLS))

CONFIGS = [
    ("all passes", ""),
    ("no elementwise fusion", "elementwise_fusion"),
    ("no constant folding", "constant_folding"),
    ("no memory planning", "memory_planning"),
    ("no fusion, no constant folding", "elementwise_fusion,constant_folding"),
    ("none of the three", "elementwise_fusion,constant_folding,memory_planning"),
]

CHILD = r"""
import json, os, sys
sys.path.insert(0, {tools!r})
os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")
import time
import jax, numpy as np
import jax_chip.profiler as chip_prof
from transformer_block import MAX_POSITION, block, make_params

seq, hidden, heads, ffn = {seq}, {hidden}, {heads}, {ffn}
rng = np.random.default_rng(0)
params = make_params(rng, hidden, ffn)
x = rng.standard_normal((seq, hidden)).astype(jax.numpy.bfloat16)
positions = np.arange(seq, dtype=np.int32)
dev = jax.devices("chip")[0]
args = jax.device_put((params, x, positions), dev)
t0 = time.perf_counter()
compiled = jax.jit(block, static_argnums=3).lower(*args, heads).compile()
compile_s = time.perf_counter() - t0
mem = compiled.memory_analysis()
jax.block_until_ready(args)
before = dev.memory_stats()
with chip_prof.trace() as prof:
    out = compiled(*args)
    out.block_until_ready()
after = dev.memory_stats()
s = prof.summary()
ref = jax.jit(block, static_argnums=3, backend="cpu")(params, x, positions, heads)
err = float(np.max(np.abs(np.asarray(out, np.float32) - np.asarray(ref, np.float32))))
print(json.dumps(dict(
    device_us=s.device_time_us,
    kernels=sum(k.calls for k in s.kernels),
    arena=int(mem.temp_size_in_bytes),
    executable=int(mem.generated_code_size_in_bytes),
    compile_s=compile_s,
    max_position=MAX_POSITION,
    peak_growth=int(after["peak_bytes_in_use"] - before["bytes_in_use"]),
    max_err=err)))
"""


def measure(disable: str, seq: int, hidden: int, heads: int, ffn: int) -> dict:
    env = dict(os.environ)
    env["CHIP_DISABLE_PASSES"] = disable
    code = CHILD.format(tools=str(TOOLS), seq=seq, hidden=hidden, heads=heads, ffn=ffn)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"configuration {disable or 'all passes'} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[tuple[str, str, dict]], seq: int, hidden: int, heads: int, ffn: int) -> str:
    base = rows[0][2]
    by_name = {name: m for name, _, m in rows}
    nofold = by_name["no constant folding"]
    noplan = by_name["no memory planning"]
    hd = hidden // heads
    max_position = base["max_position"]
    table_kib = max_position * hd * 4 / 1024
    lines = [
        f"Transformer block of tools/transformer_block.py (seq {seq}, hidden {hidden}, {heads} heads, "
        f"ffn {ffn}, bf16, RoPE rows gathered by runtime positions from a {max_position} x {hd} "
        f"cos/sin table), one call on the chip; each row compiled with "
        f"`CHIP_DISABLE_PASSES` set as shown (`tools/bench_passes.py`).",
        "",
        "| configuration | CHIP_DISABLE_PASSES | modeled device time (us) | vs all passes | "
        "kernels | arena (KiB) | peak memory growth (KiB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, disable, m in rows:
        ratio = m["device_us"] / base["device_us"]
        lines.append(f"| {name} | {disable or '-'} | {m['device_us']:,.1f} | {ratio:.2f}x | "
                     f"{m['kernels']} | {m['arena'] / 1024:,.0f} | "
                     f"{m['peak_growth'] / 1024:,.0f} |")
    lines += [
        "",
        "- Elementwise fusion: the elementwise chains (norms, RoPE, softmax, SwiGLU) run as a few "
        "Elementwise kernels instead of one per op, saving a launch and an HBM round trip per op.",
        f"- Constant folding: the block builds its RoPE cos/sin table ({max_position} x {hd} f32, "
        f"{table_kib:,.0f} KiB) from constants inside the jitted function, as sglang-jax's "
        f"RotaryEmbedding builds its cache (inverse frequencies, outer product with "
        f"`arange(max_position)`, cos, sin, concatenate), and gathers the rows of the runtime "
        f"positions. A gather reads memory, so the table is materialized either way: without "
        f"folding, kernels recompute it (transcendentals, the cos and sin halves written, "
        f"concatenated and written again) on every call; with folding it is one stored constant "
        f"and the gather reads only the {seq} rows it needs "
        f"({nofold['device_us'] - base['device_us']:.1f} us, "
        f"{nofold['kernels'] - base['kernels']} kernels more without folding). Compiling took "
        f"{base['compile_s']:.2f} s instead of {nofold['compile_s']:.2f} s (jit lower + compile) "
        f"and the executable is {base['executable'] / 1024:,.0f} KiB instead of "
        f"{nofold['executable'] / 1024:,.0f} KiB. Folding pays only "
        f"where a constant expression reaches a kernel that reads memory (gather, dot, "
        f"concatenate, reduce, ...): read by fused elementwise kernels only, it is computed in "
        f"registers, which costs about what reading a folded table does. With the earlier "
        f"in-register RoPE (positions from `jnp.arange` inside the block, angles and cos/sin "
        f"computed in the consuming fusions) folding changed the modeled time by less than 1% "
        f"(56.8 vs 56.7 us). Hence constant folding makes constants of up to 16 Mi elements only "
        f"for such materialized values and keeps a 4096-element limit otherwise "
        f"(docs/compiler.md).",
        f"- Memory planning (buffer liveness): temporaries share arena memory "
        f"({base['arena'] / 1024:,.0f} KiB instead of {noplan['arena'] / 1024:,.0f} KiB). The cost "
        f"model charges HBM bytes moved, not bytes allocated, so reuse does not change the "
        f"modeled time; it shows in the arena size and the device's peak memory "
        f"(peak_bytes_in_use growth during the call: arena + output).",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=1408)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    rows = []
    for name, disable in CONFIGS:
        m = measure(disable, args.seq, args.hidden, args.heads, args.ffn)
        if not m["max_err"] < 0.25:
            raise SystemExit(f"{name}: chip output differs from cpu by {m['max_err']}")
        rows.append((name, disable, m))
        print(f"{name:24s} {m}", flush=True)
    text = table(rows, args.seq, args.hidden, args.heads, args.ffn)
    print()
    print(text)
    if not args.no_write:
        from doc_tables import replace_section
        replace_section(DOC, "passes-bench", text)
        print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
