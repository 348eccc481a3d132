#!/usr/bin/env python3
"""Renders the sglang-jax patches (python/jax_chip/sglang/patches/) into docs/sglang.md's
patch tables, one per category.

    .venv/bin/python tools/gen_sglang_doc.py          # rewrites the tables in docs/sglang.md
    .venv/bin/python tools/gen_sglang_doc.py --check  # exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tools"))

from doc_tables import replace_section  # noqa: E402
from jax_chip.sglang.patches import ALIASES, PATCHES  # noqa: E402
from jax_chip.sglang.patching import Category, ModuleAlias, Patch  # noqa: E402

DOC = ROOT / "docs" / "sglang.md"
SECTION = "sglang-patches"
PREFIX = "sgl_jax."


def _source_file(patches: list[Patch]) -> str:
    modules = {p.make.__module__ for p in patches}
    assert len(modules) == 1, modules
    return "python/" + modules.pop().replace(".", "/") + ".py"


def _row(p: Patch) -> str:
    module = p.module[len(PREFIX):] if p.module.startswith(PREFIX) else p.module
    how = f"replaces it: {p.replaces}" if p.replaces else "wraps it"
    aliases = "".join(f"; also `{a[len(PREFIX):]}`'s import of it" for a in p.aliases)
    return (f"| `{p.name}` | `{module}`: `{p.qualname}`{aliases} | {p.why} | {how} | "
            f"`{p.sha256[:12]}` |")


def _alias_row(a: ModuleAlias) -> str:
    module = a.importer[len(PREFIX):] if a.importer.startswith(PREFIX) else a.importer
    provides = a.provides[len(PREFIX):] if a.provides.startswith(PREFIX) else a.provides
    return (f"| `{a.name}` | `{module}`: its `import {a.missing}` | {a.why} | provides it: "
            f"`sys.modules` maps that name to `{provides}` (module alias) | "
            f"`{a.sha256[:12]}` (the file) |")


def render() -> str:
    lines = [f"Generated from the `Patch` declarations by `tools/gen_sglang_doc.py`; "
             f"{len(PATCHES)} patches and {len(ALIASES)} module alias of `sgl_jax` (module paths "
             "below are relative to it, except those of `jax`)."]
    for category in Category:
        patches = [p for p in PATCHES.values() if p.category is category]
        src = _source_file(patches)
        lines += ["", f"**{category.value.capitalize()}** ([`{src}`](../{src})):", "",
                  "| patch | target | why | how | pinned source (sha256) |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [_row(p) for p in patches]
        lines += [_alias_row(a) for a in ALIASES.values() if a.category is category]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/sglang.md is stale")
    args = ap.parse_args(argv)
    if args.check:
        begin, end = f"<!-- {SECTION}:begin -->", f"<!-- {SECTION}:end -->"
        text = DOC.read_text()
        current = text.split(begin, 1)[1].split(end, 1)[0].strip() if begin in text else None
        if current != render().strip():
            print(f"{DOC} is stale: run tools/gen_sglang_doc.py", file=sys.stderr)
            return 1
        return 0
    replace_section(DOC, SECTION, render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
