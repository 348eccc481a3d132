#!/usr/bin/env python3
"""Renders the compiler's op registry (python/jax_chip/compiler/ir/ops.py) into docs/ops.md.

    .venv/bin/python tools/gen_ops_doc.py          # writes docs/ops.md
    .venv/bin/python tools/gen_ops_doc.py --check  # exit 1 if docs/ops.md is stale
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT))

from jax_chip.compiler.ir import dtypes  # noqa: E402
from jax_chip.compiler.ir import ops as op_registry  # noqa: E402
from jax_chip.compiler.kernels import registry as kernel_registry  # noqa: E402
from jax_chip.compiler.lowering import complex_ops  # noqa: E402



def _low_precision(types: frozenset[str]) -> str:
    """The op's fp8 / int4 support (docs/numerics.md has their rules)."""
    kinds = [k for k, group in (("fp8", dtypes.FP8), ("int4", dtypes.INT4)) if group <= types]
    return ", ".join(kinds) or "-"


def _types(types: frozenset[str]) -> str:
    types = types - dtypes.LOW_PRECISION
    if types == dtypes.ALL_TYPES:
        return "all"
    if types == dtypes.ALL_TYPES | dtypes.ALL_COMPLEX:
        return "all, c64"
    if types == dtypes.ALL_FLOAT:
        return "float (f16, bf16, f32)"
    order = list(dtypes.CHIP_DTYPES)
    return ", ".join(t for t in order if t in types)


def render() -> str:
    lines = [
        "# Ops supported by the chip compiler",
        "",
        "Generated from `python/jax_chip/compiler/ir/ops.py` by `tools/gen_ops_doc.py`; "
        "do not edit by hand.",
        "",
        "Element types: " + ", ".join(dtypes.CHIP_DTYPES) + ". 64-bit types are rejected at "
        "compile time (keep `jax_enable_x64` off). Floating elementwise ops compute in f32 and "
        "round to the result type after every op; integers wrap. Any op not listed is rejected "
        "with an UNIMPLEMENTED error naming the op, its types and the JAX source line.",
        "",
        "fp8 (" + ", ".join(sorted(dtypes.FP8)) + ") and int4 (" + ", ".join(sorted(dtypes.INT4))
        + ", packed two to a byte on the device) are taken only by the ops whose `fp8 / int4` "
        "column names them: converts (XLA's rounding, bit-identical to XLA:CPU), bitcasts, "
        "compare, select, data movement, constants, dot_general (fp8 inputs, int4 weights) and "
        "the elementwise ops that match XLA:CPU bit for bit; see docs/numerics.md. Other ops on "
        "them are rejected naming the op and type.",
        "complex64 (c64) computations are lowered to f32 ops on (real, imaginary) parts by "
        "`xla_passes/complex_lowering.py` before any kernel sees them; the complex64 column says "
        "how each op does it (empty: not defined on complex, or not supported; complex128 is "
        "rejected like every 64-bit type).",
        "",
    ]
    for kind, title in op_registry.KIND_TITLES.items():
        specs = sorted((s for s in op_registry.REGISTRY.values() if s.kind == kind),
                       key=lambda s: s.name)
        if not specs:
            continue
        lines += [f"## {title}", "",
                  "| op | element types | fp8 / int4 | complex64 | kernel / EwOp | status | notes |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for s in specs:
            how = s.ewop or kernel_registry.doc_kernel(s)
            lines.append(f"| `{s.name}` | {_types(s.dtypes)} | {_low_precision(s.dtypes)} | "
                         f"{complex_ops.note(s.name)} | {how} | {s.status} | {s.notes} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="fail if docs/ops.md is out of date")
    ap.add_argument("--out", default=str(ROOT / "docs" / "ops.md"))
    args = ap.parse_args()
    text = render()
    out = pathlib.Path(args.out)
    if args.check:
        if not out.is_file() or out.read_text() != text:
            print(f"{out} is stale: run tools/gen_ops_doc.py", file=sys.stderr)
            return 1
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
