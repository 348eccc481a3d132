#!/usr/bin/env python3
"""What the compiler's passes buy: tools/transformer_block.py's transformer block (bf16) compiled with
elementwise fusion, constant folding and memory planning each disabled in turn
(CHIP_DISABLE_PASSES), run on the chip under jax_chip.profiler. Prints a table and writes it
into docs/performance.md (section "passes-bench").

    .venv/bin/python tools/bench_passes.py [--seq 128,1024] [--hidden 512] [--no-write]

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


def _kib(n: float) -> str:
    return f"{n / 1024:,.0f}"


def table(results: dict[int, list[tuple[str, str, dict]]], hidden: int, heads: int, ffn: int,
          sram_bytes: int) -> str:
    seqs = sorted(results)
    first = results[seqs[0]][0][2]
    hd = hidden // heads
    max_position = first["max_position"]
    table_kib = max_position * hd * 4 / 1024
    lines = [
        f"Transformer block of tools/transformer_block.py (seq {' and '.join(map(str, seqs))}, "
        f"hidden {hidden}, {heads} heads, ffn {ffn}, bf16, RoPE rows gathered by runtime "
        f"positions from a {max_position} x {hd} cos/sin table), one call on the chip; each row "
        f"compiled with `CHIP_DISABLE_PASSES` set as shown (`tools/bench_passes.py`).",
        "",
        "| seq | configuration | CHIP_DISABLE_PASSES | modeled device time (us) | vs all passes | "
        "kernels | arena (KiB) | peak memory growth (KiB) |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for seq in seqs:
        base = results[seq][0][2]
        for name, disable, m in results[seq]:
            ratio = m["device_us"] / base["device_us"]
            lines.append(f"| {seq} | {name} | {disable or '-'} | {m['device_us']:,.1f} | "
                         f"{ratio:.2f}x | {m['kernels']} | {_kib(m['arena'])} | "
                         f"{_kib(m['peak_growth'])} |")

    def per_seq(key: str, fmt) -> str:
        parts = []
        for seq in seqs:
            by_name = {name: m for name, _, m in results[seq]}
            parts.append(fmt(seq, results[seq][0][2], by_name[key]))
        return "; ".join(parts)

    fusion = per_seq("no elementwise fusion", lambda q, b, m: (
        f"{m['device_us'] / b['device_us']:.2f}x at seq {q}"))
    folding = per_seq("no constant folding", lambda q, b, m: (
        f"seq {q}: {m['device_us']:,.1f} vs {b['device_us']:,.1f} us, "
        f"{m['kernels'] - b['kernels']} kernels more without folding"))
    planning = per_seq("no memory planning", lambda q, b, m: (
        f"seq {q}: arena {_kib(b['arena'])} KiB instead of {_kib(m['arena'])} KiB, "
        f"{m['device_us'] / b['device_us']:.2f}x modeled time without planning"))
    base = results[seqs[0]][0][2]
    nofold = {name: m for name, _, m in results[seqs[0]]}["no constant folding"]
    lines += [
        "",
        f"- Elementwise fusion ({fusion}): the elementwise chains (norms, RoPE, softmax, SwiGLU) "
        "run as a few Elementwise kernels instead of one per op, saving a launch and a memory "
        "round trip per op.",
        f"- Constant folding ({folding}): the block builds its RoPE cos/sin table "
        f"({max_position} x {hd} f32, {table_kib:,.0f} KiB) from constants inside the jitted "
        f"function, as sglang-jax's RotaryEmbedding builds its cache (inverse frequencies, outer "
        f"product with `arange(max_position)`, cos, sin, concatenate), and gathers the rows of "
        f"the runtime positions. A gather reads memory, so the table is materialized either way: "
        f"without folding, kernels recompute it (transcendentals, the cos and sin halves written, "
        f"concatenated and written again) on every call; with folding it is one stored constant "
        f"and the gather reads only the rows it needs. At seq {seqs[0]} compiling took "
        f"{base['compile_s']:.2f} s instead of {nofold['compile_s']:.2f} s (jit lower + compile) "
        f"and the executable is {_kib(base['executable'])} KiB instead of "
        f"{_kib(nofold['executable'])} KiB. Folding pays only where a constant expression reaches "
        f"a kernel that reads memory (gather, dot, concatenate, reduce, ...): read by fused "
        f"elementwise kernels only, it is computed in registers, which costs about what reading "
        f"a folded table does. With the earlier in-register RoPE (positions from `jnp.arange` "
        f"inside the block, angles and cos/sin computed in the consuming fusions) folding changed "
        f"the modeled time by less than 1% (56.8 vs 56.7 us). Hence constant folding makes "
        f"constants of up to 16 Mi elements only for such materialized values and keeps a "
        f"4096-element limit otherwise (docs/compiler.md).",
        f"- Memory planning, buffer liveness ({planning}): temporaries share arena memory. The "
        f"arena's first {sram_bytes >> 20} MiB are the chip's on-chip SRAM "
        f"(xla_passes/sram_placement.py, docs/chip-model.md); temporaries placed there move at "
        f"the SRAM's bandwidth instead of HBM's. While both arenas fit in the SRAM, planning "
        f"shows only in the arena size and the device's peak memory (peak_bytes_in_use growth "
        f"during the call: arena + output); once the temporaries outgrow it, the planned arena "
        f"keeps more of them on chip and the modeled time drops.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq", default="128,1024",
                    help="comma-separated sequence lengths (default 128,1024)")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=1408)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    from jax_chip.compiler.ir.context import DEFAULT_CHIP_CONFIG
    results: dict[int, list[tuple[str, str, dict]]] = {}
    for seq in (int(q) for q in args.seq.split(",")):
        rows = results.setdefault(seq, [])
        for name, disable in CONFIGS:
            m = measure(disable, seq, args.hidden, args.heads, args.ffn)
            if not m["max_err"] < 0.25:
                raise SystemExit(f"{name}: chip output differs from cpu by {m['max_err']}")
            rows.append((name, disable, m))
            print(f"seq {seq} {name:24s} {m}", flush=True)
    text = table(results, args.hidden, args.heads, args.ffn,
                 int(DEFAULT_CHIP_CONFIG["sram_bytes"]))
    print()
    print(text)
    if not args.no_write:
        from doc_tables import replace_section
        replace_section(DOC, "passes-bench", text)
        print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
