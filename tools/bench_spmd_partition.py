#!/usr/bin/env python3
"""Time of partitioning with XLA's SPMD partitioner behind a jaxlib cpu client
(python/jax_chip/compiler/frontend/spmd_partition.py), per program: jax's lowering, then
`partition` (the partitioner's passes only, the default) and, for comparison, with the cpu
backend's whole pipeline after the dump (LLVM at -O0). Prints a table and writes it into
docs/multichip.md.

    .venv/bin/python tools/bench_spmd_partition.py [--layers 28] [--no-write]

Programs: a row-parallel matmul (2 devices), shard_map with collectives (2x4 mesh), and a stack
of tools/transformer_block.py's decoder blocks at 0.6B shapes (hidden 1024, 16 heads, ffn 3072,
16 tokens, bf16) with a vocabulary-sharded embedding and lm head, tensor parallel over 2 and 8
devices (q/k/v/gate/up column parallel, o/down row parallel), GSPMD and Shardy annotations.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
import time

os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax._src.interpreters import mlir as jax_mlir  # noqa: E402
from jax.experimental.shard_map import shard_map  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

from doc_tables import replace_section  # noqa: E402
from jax_chip.compiler.frontend import parse, spmd_partition  # noqa: E402
from transformer_block import block  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "multichip.md"
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "collective_permute")
H, HEADS, FF, SEQ, VOCAB = 1024, 16, 3072, 16, 151936


def sds(*shape, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype)


def matmul(devices: int):
    mesh = jax.make_mesh((devices,), ("x",))
    f = jax.jit(lambda a, b: jnp.tanh(a @ b),
                in_shardings=(NamedSharding(mesh, P(None, "x")), NamedSharding(mesh, P("x", None))))
    return f.lower(sds(8, 16), sds(16, 4))


def collectives(devices: int):
    mesh = jax.make_mesh((2, devices // 2), ("a", "b"))

    def body(x):
        out = jax.lax.psum(x, "a").sum() + jax.lax.all_gather(x, "b", tiled=True).sum()
        out += jax.lax.psum_scatter(x, "b", scatter_dimension=1, tiled=True).sum()
        out += jax.lax.all_to_all(x, "b", 1, 1, tiled=True).sum()
        out += jax.lax.ppermute(x, "b", [(i, (i + 1) % (devices // 2)) for i in range(devices // 2)]).sum()
        return (out + jax.lax.axis_index("b"))[None, None]

    f = shard_map(body, mesh=mesh, in_specs=P("a", "b"), out_specs=P("a", "b"))
    return jax.jit(f).lower(sds(8, 16))


def decoder(devices: int, layers: int):
    mesh = jax.make_mesh((devices,), ("tp",))
    col, row, rep = (NamedSharding(mesh, P(None, "tp")), NamedSharding(mesh, P("tp", None)),
                     NamedSharding(mesh, P()))
    shapes = {"ln1": (H,), "ln2": (H,), "wq": (H, H), "wk": (H, H), "wv": (H, H), "wo": (H, H),
              "w_gate": (H, FF), "w_up": (H, FF), "w_down": (FF, H)}
    shard = {"ln1": rep, "ln2": rep, "wq": col, "wk": col, "wv": col, "wo": row,
             "w_gate": col, "w_up": col, "w_down": row}

    def model(tokens, positions, embed, params):
        x = embed[tokens]
        for p in params:
            x = block(p, x, positions, HEADS)
        return x @ embed.T

    params = [{k: sds(*s, dtype=jnp.bfloat16) for k, s in shapes.items()} for _ in range(layers)]
    f = jax.jit(model, in_shardings=(rep, rep, row, [shard] * layers))
    return f.lower(sds(SEQ, dtype=jnp.int32), sds(SEQ, dtype=jnp.int32),
                   sds(VOCAB, H, dtype=jnp.bfloat16), params)


def measure(name: str, devices: int, lower, shardy: bool, full: bool) -> list[str]:
    jax.config.update("jax_use_shardy_partitioner", shardy)
    t0 = time.perf_counter()
    code = jax_mlir.module_to_bytecode(lower().compiler_ir("stablehlo"))
    t1 = time.perf_counter()
    options = lambda: spmd_partition.compile_options(devices, shardy=shardy, propagate_to_output=True)
    result = spmd_partition.partition(code, options())
    t2 = time.perf_counter()
    full_s = "-"
    if full:
        spmd_partition.partition(code, options(), only_partitioner=False)
        full_s = f"{time.perf_counter() - t2:.2f}"
    text = parse.parse_program(result.stablehlo, "mlir").text()
    counts = ", ".join(f"{c} {n}" for c in COLLECTIVES
                       if (n := len(re.findall(rf'"?stablehlo\.{c}"?[ (]', text))))
    return [name, str(devices), "Shardy" if shardy else "GSPMD", f"{t1 - t0:.2f}",
            f"{t2 - t1:.2f}", full_s, counts or "none"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows = []
    for shardy in (False, True):
        rows.append(measure("row-parallel matmul", 2, lambda: matmul(2), shardy, False))
        rows.append(measure("shard_map collectives", 8, lambda: collectives(8), shardy, False))
        rows.append(measure("decoder x4", 2, lambda: decoder(2, 4), shardy, not shardy))
        for tp in (2, 8):
            rows.append(measure(f"decoder x{args.layers}", tp,
                                lambda tp=tp: decoder(tp, args.layers), shardy, tp == 2 and not shardy))
    head = ["program", "devices", "annotations", "jax lower (s)", "partition (s)",
            "with cpu backend (s)", "collectives in the per-device program"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        replace_section(DOC, "spmd-partition-timing",
                        f"`.venv/bin/python tools/bench_spmd_partition.py --layers {args.layers}` "
                        f"on this machine (2 shared cores):\n\n{table}")


if __name__ == "__main__":
    main()
