"""Writes docs/chip-model.md's table of the chip model's fields from the plugin's field table
(pjrt_plugin/runtime/chip_config_fields.h, read through jax_chip.native).

    .venv/bin/python tools/gen_chip_model_doc.py          # rewrites the table in docs/chip-model.md
    .venv/bin/python tools/gen_chip_model_doc.py --check  # exit 1 if the table is stale
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "chip-model.md"
SECTION = "chip-config-fields"

sys.path.insert(0, str(ROOT / "tools"))
from doc_tables import replace_section, section_body  # noqa: E402


def _number(v: float) -> str:
    return f"{v:g}"


def _default(f) -> str:
    text = _number(f.default)
    if f.unit == "bytes" and f.default >= 1 << 20:
        for shift, suffix in ((40, "TiB"), (30, "GiB"), (20, "MiB")):
            if f.default % (1 << shift) == 0:
                return f"{f.default >> shift} {suffix} ({f.default})"
    return text


def _range(f) -> str:
    lo = (">= " if f.min_inclusive else "> ") + _number(f.min)
    return f"{lo}, <= {_number(f.max)}"


def table() -> str:
    from jax_chip import native
    lines = [
        "| field | default | unit | valid values | what | what-if |",
        "|---|---|---|---|---|---|",
    ]
    # the fields the cost model reads re-time a recorded run; the others need a fresh run
    # (docs/what-if.md)
    retimed = set(native.cost_model_fields())
    for f in native.chip_config_fields():
        path = "re-time" if f.name in retimed else "re-run"
        lines.append(f"| `{f.name}` | {_default(f)} | {f.unit or '-'} | {_range(f)} | {f.doc} | {path} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/chip-model.md is stale")
    args = ap.parse_args()
    body = table()
    if args.check:
        if section_body(DOC, SECTION) != body:
            print(f"{DOC} is stale: run tools/gen_chip_model_doc.py", file=sys.stderr)
            return 1
        return 0
    replace_section(DOC, SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
