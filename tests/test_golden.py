"""The golden suite (tools/golden.py): every program's chip output has the committed sha256
(tests/golden/hashes.json), under whichever plugin build runs the test: the default x86-64-v3
build, `--config=portable` or `--config=native` compute the same bits (docs/numerics.md,
"Golden hashes"). A mismatch means the chip's numerics changed: fix the kernel, or, when the
change is intended, regenerate with `tools/golden.py --update` and say why in the commit."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

from subproc import run_python

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
import golden  # noqa: E402

WANT = golden.load_hashes()


def test_every_program_has_a_committed_hash():
    assert sorted(WANT) == sorted(p.name for p in golden.PROGRAMS)


@pytest.mark.parametrize("program", golden.PROGRAMS, ids=lambda p: p.name)
def test_golden_hash(program):
    assert golden.run_program(program) == WANT[program.name], (
        f"{program.name}: the chip's output bits changed (tools/golden.py; docs/numerics.md)")


def test_hashes_do_not_depend_on_host_threads():
    """The GEMM and the reductions split work over host threads by output tile only: one thread
    and three threads give the committed bits."""
    names = [p.name for p in golden.PROGRAMS if p.name.startswith(("matmul f32 300", "matmul bf16 129",
                                                                   "sum f32 1000", "transformer"))]
    assert len(names) == 5
    for threads in ("1", "3"):
        out = run_python(f"""
            import json, sys
            sys.path.insert(0, {str(TOOLS)!r})
            import golden
            print(json.dumps({{p.name: golden.run_program(p) for p in golden.PROGRAMS if p.name in {names!r}}}))
            """, env={"CHIP_HOST_THREADS": threads, "JAX_PLATFORMS": "chip"})
        got = json.loads(out.strip().splitlines()[-1])
        assert got == {n: WANT[n] for n in names}, f"CHIP_HOST_THREADS={threads}"
