#!/usr/bin/env python3
"""What the RMSNorm kernels of a Qwen3 prefill read and write (issue 8: "a RMSNorm kernel reads
330 MB at 4k tokens"), from the compiler alone: no execution.

The program is the prefill of the Qwen3 0.6B shape (hidden 1024, 16/8 heads, head_dim 128,
intermediate 3072, vocab 151936; bf16) built from sglang-jax's own pieces (`rmsnorm_forward` with
its residual form, `rotary_embedding_forward`, `jnp.take` for the embedding, `x @ w` for the
projections), with attention stood in for by `q + v` (the chip's attention custom call is not
what is measured). It is compiled by the chip compiler; each kernel's static cost (bytes read
and written, HBM and on-chip SRAM; what the trace reports for these kernels) is priced by the
plugin's cost model (jax_chip.native.model_work), so the times are the chip's modeled times.
Prints a table and writes it into docs/performance.md (section "norm-bytes-bench").

    .venv/bin/python tools/bench_norm_bytes.py [--tokens 512,4096] [--layers 28] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")      # lowering only; the chip compiler compiles

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax._src.interpreters import mlir as jax_mlir  # noqa: E402

TOOLS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
from doc_tables import replace_section  # noqa: E402

from jax_chip import native, what_if  # noqa: E402
from jax_chip.compiler import driver  # noqa: E402
from jax_chip.compiler.backend.inspect_executable import read_executable  # noqa: E402

DOC = TOOLS.parent / "docs" / "performance.md"
HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB = 1024, 16, 8, 128, 3072, 151936
EPS = 1e-6


def prefill(tokens: int, layers: int):
    """The jitted prefill and its abstract arguments."""
    from sgl_jax.srt.layers.embeddings import RotaryEmbedding, rotary_embedding_forward
    from sgl_jax.srt.layers.layernorm import rmsnorm_forward

    with jax.default_device(jax.devices("cpu")[0]):
        cache = RotaryEmbedding(HEAD_DIM, HEAD_DIM, 40960, 1000000, False, jnp.bfloat16).cos_sin_cache

    def layer(p, positions, h, residual):
        if residual is None:
            residual, h = h, rmsnorm_forward(h, None, p["ln1"], EPS)
        else:
            h, residual = rmsnorm_forward(h, residual, p["ln1"], EPS)
        q, k, v = h @ p["wq"], h @ p["wk"], h @ p["wv"]
        q = rmsnorm_forward(q.reshape(-1, HEAD_DIM), None, p["qn"], EPS).reshape(q.shape)
        k = rmsnorm_forward(k.reshape(-1, HEAD_DIM), None, p["kn"], EPS).reshape(k.shape)
        q, k = rotary_embedding_forward(positions, q, k, cache, HEAD_DIM, HEAD_DIM, False)
        attn = q + jnp.tile(v, (1, HEADS // KV_HEADS))     # attention's stand-in
        h, residual = rmsnorm_forward(attn @ p["wo"], residual, p["ln2"], EPS)
        h = (h @ p["wu"] * jax.nn.silu(h @ p["wg"])) @ p["wd"]
        return h, residual, k, v

    def model(params, ids, positions):
        h, residual, kv = jnp.take(params["emb"], ids, axis=0), None, []
        for p in params["layers"]:
            h, residual, k, v = layer(p, positions, h, residual)
            kv += [k, v]
        h, _ = rmsnorm_forward(h, residual, params["norm"], EPS)
        return h, kv

    def bf16(*shape):
        return jax.ShapeDtypeStruct(shape, jnp.bfloat16)
    lp = dict(ln1=bf16(HIDDEN), ln2=bf16(HIDDEN), qn=bf16(HEAD_DIM), kn=bf16(HEAD_DIM),
              wq=bf16(HIDDEN, HEADS * HEAD_DIM), wk=bf16(HIDDEN, KV_HEADS * HEAD_DIM),
              wv=bf16(HIDDEN, KV_HEADS * HEAD_DIM), wo=bf16(HEADS * HEAD_DIM, HIDDEN),
              wg=bf16(HIDDEN, FFN), wu=bf16(HIDDEN, FFN), wd=bf16(FFN, HIDDEN))
    params = dict(emb=bf16(VOCAB, HIDDEN), norm=bf16(HIDDEN), layers=[lp] * layers)
    ids = jax.ShapeDtypeStruct((tokens,), jnp.int32)
    return jax.jit(model), (params, ids, ids)


def measure(tokens: int, layers: int) -> dict:
    fn, args = prefill(tokens, layers)
    code = jax_mlir.module_to_bytecode(fn.lower(*args).compiler_ir("stablehlo"))
    t0 = time.perf_counter()
    exe = read_executable(driver.compile_program(code, "mlir"))
    compile_s = time.perf_counter() - t0
    fields = native.KERNEL_WORK_FIELDS
    work = np.array([[float(getattr(k.cost, f) if k.cost else 0.0) for f in fields]
                     for k in exe.kernels])
    times = native.model_work(what_if.full_config(), work,
                              [k.cost.matrix_dtype if k.cost else "bf16" for k in exe.kernels])
    us = times.kernel_times[:, 0] * 1e6
    col = {f: i for i, f in enumerate(fields)}
    read = work[:, col["bytes_read"]] + work[:, col["sram_bytes_read"]]
    written = work[:, col["bytes_written"]] + work[:, col["sram_bytes_written"]]
    # the hidden-size norms (input, post-attention, final): the sum of squares [tokens] and the
    # normalize kernel [tokens, hidden] (not the per-head q/k norms; the rsqrt of the [tokens, 1]
    # column, where it is a kernel of its own, reads and writes 16 KB)
    hidden = [i for i, k in enumerate(exe.kernels) if "layernorm.py" in k.source
              and exe.values[k.outputs[0]].type.shape in ((tokens,), (tokens, HIDDEN))]
    return dict(tokens=tokens, layers=layers, kernels=len(exe.kernels), norm_kernels=len(hidden),
                max_read=float(read[hidden].max()), mean_read=float(read[hidden].mean()),
                mean_written=float(written[hidden].mean()), norm_us=float(us[hidden].sum()),
                total_us=float(us.sum()), arena=exe.arena_bytes, compile_s=compile_s)


def table(rows: list[dict]) -> str:
    lines = [
        "Command: `.venv/bin/python tools/bench_norm_bytes.py` (compile only: the chip compiler's "
        "static kernel costs priced by the plugin's cost model; the Qwen3 0.6B shape's prefill "
        "from sglang-jax's rmsnorm_forward / rotary_embedding_forward, attention stood in for by "
        "`q + v`). Hidden-size RMSNorm kernels: the sum of squares (Reduce) and the normalize "
        "(Elementwise) kernel of the input, post-attention and final norms.",
        "",
        "| tokens | layers | kernels | RMSNorm kernels | max MB read / kernel | mean MB read "
        "/ kernel | mean MB written / kernel | RMSNorm modeled ms | program modeled ms | arena MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tokens']:,} | {r['layers']} | {r['kernels']} | {r['norm_kernels']} | "
            f"{r['max_read'] / 1e6:,.1f} | {r['mean_read'] / 1e6:,.1f} | "
            f"{r['mean_written'] / 1e6:,.1f} | {r['norm_us'] / 1e3:,.2f} | "
            f"{r['total_us'] / 1e3:,.2f} | {r['arena'] / 2**20:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", default="512,4096")
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    rows = []
    for t in [int(x) for x in a.tokens.split(",")]:
        rows.append(measure(t, a.layers))
        print(f"tokens {t}: compiled in {rows[-1]['compile_s']:.1f} s", file=sys.stderr)
    text = table(rows)
    print(text)
    if not a.no_write:
        replace_section(DOC, "norm-bytes-bench", text)


if __name__ == "__main__":
    main()
