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
import jax, numpy as np
import jax_chip.profiler as chip_prof
from transformer_block import block, make_params

seq, hidden, heads, ffn = {seq}, {hidden}, {heads}, {ffn}
rng = np.random.default_rng(0)
params = make_params(rng, hidden, ffn)
x = rng.standard_normal((seq, hidden)).astype(jax.numpy.bfloat16)
dev = jax.devices("chip")[0]
args = jax.device_put((params, x), dev)
compiled = jax.jit(block, static_argnums=2).lower(*args, heads).compile()
mem = compiled.memory_analysis()
jax.block_until_ready(args)
before = dev.memory_stats()
with chip_prof.trace() as prof:
    out = compiled(*args)
    out.block_until_ready()
after = dev.memory_stats()
s = prof.summary()
ref = jax.jit(block, static_argnums=2, backend="cpu")(params, x, heads)
err = float(np.max(np.abs(np.asarray(out, np.float32) - np.asarray(ref, np.float32))))
print(json.dumps(dict(
    device_us=s.device_time_us,
    kernels=sum(k.calls for k in s.kernels),
    arena=int(mem.temp_size_in_bytes),
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
    lines = [
        f"Transformer block of tools/transformer_block.py (seq {seq}, hidden {hidden}, {heads} heads, "
        f"ffn {ffn}, bf16), one call on the chip; each row compiled with "
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
        "- Constant folding: RoPE's inverse frequencies (pow of constants), the causal mask "
        "(iota compare) and scalar constant expressions are computed at compile time instead of "
        "by kernels on every call: without fusion that removes kernels (compare the two rows "
        "without fusion). With fusion on, those constant expressions are already computed "
        "inside the consuming kernel's registers at no memory cost, so folding them changes "
        "the modeled time by less than 1% (reading a folded table costs about what computing "
        "it in registers does).",
        "- Memory planning (buffer liveness): temporaries share arena memory. The cost model "
        "charges HBM bytes moved, not bytes allocated, so reuse does not change the modeled "
        "time; it shows in the arena size and the device's peak memory (peak_bytes_in_use growth "
        "during the call: arena + output).",
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
