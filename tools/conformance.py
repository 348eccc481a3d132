#!/usr/bin/env python3
"""The conformance suite (tests/conformance/) with a longer budget: generated jax.numpy and lax
programs on the chip against the cpu backend. Splits the budget over `--jobs` processes (seeds
seed, seed+1, ...), prints the outcome counts and every failing program, and with --write records
the run in docs/numerics.md (section "conformance").

    .venv/bin/python tools/conformance.py [--budget 10000] [--seed 0] [--jobs 2] [--write]

Exit status 1 if any program failed (internal compiler error, rejection, crash or mismatch).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "numerics.md"
sys.path.insert(0, str(ROOT / "tools"))

from doc_tables import replace_section  # noqa: E402


def run_shard(budget: int, seed: int, report: pathlib.Path) -> subprocess.Popen[bytes]:
    """One pytest process; its output goes to REPORT.log and the program it is running to
    REPORT.last (what a crash of the process leaves behind)."""
    env = dict(os.environ, CHIP_CONFORMANCE_BUDGET=str(budget), CHIP_CONFORMANCE_SEED=str(seed),
               CHIP_CONFORMANCE_REPORT=str(report),
               CHIP_CONFORMANCE_LAST=str(report.with_suffix(".last")))
    # -s: a crash message (glibc, a sanitizer, a C++ terminate) must reach the log
    cmd = [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "conformance" / "test_conformance.py")]
    with open(report.with_suffix(".log"), "wb") as log:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def crash_report(report: pathlib.Path, returncode: int) -> str:
    """What a shard that died without its report left: the program it was running, its output."""
    last = report.with_suffix(".last")
    log = report.with_suffix(".log")
    program = last.read_text() if last.exists() else "(none recorded)"
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    return (f"shard {report.stem}: the test process exited {returncode} without a report "
            f"(a crash is a failure of the chip: never expected)\nthe program it was running:\n"
            f"{program}\n--- its output (tail) ---\n{tail}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=10000, help="programs in all")
    ap.add_argument("--seed", type=int, default=0, help="seed of the first process")
    ap.add_argument("--jobs", type=int, default=2, help="processes (one seed each)")
    ap.add_argument("--write", action="store_true", help="record the run in docs/numerics.md")
    args = ap.parse_args()

    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        shards = []
        for j in range(args.jobs):
            budget = args.budget // args.jobs + (1 if j < args.budget % args.jobs else 0)
            report = pathlib.Path(tmp) / f"shard{j}.json"
            shards.append((report, run_shard(budget, args.seed + j, report)))
        summaries = []
        crashed = []
        for report, proc in shards:
            proc.wait()
            if not report.exists():
                crashed.append(crash_report(report, proc.returncode))
                continue
            summaries.append(json.loads(report.read_text()))
        if crashed:
            print("\n\n".join(crashed), file=sys.stderr)
            for s in summaries:   # what the other shards found
                print(f"seed {s['seed']}: {s['programs']} programs, {s['outcomes']}", file=sys.stderr)
                for f in s["failures"]:
                    print(f"[{f['kind']}] {f['detail']}\n{f['program']}\n", file=sys.stderr)
            return 2
    minutes = (time.time() - start) / 60

    outcomes: collections.Counter[str] = collections.Counter()
    ops: collections.Counter[str] = collections.Counter()
    limits: collections.Counter[str] = collections.Counter()
    for s in summaries:
        outcomes.update(s["outcomes"])
        ops.update(s["ops"])
        limits.update(s.get("unsupported", {}))
    programs = sum(s["programs"] for s in summaries)
    zero = sum(s["zero_size_programs"] for s in summaries)
    zero_d = sum(s["zero_d_inputs"] for s in summaries)
    invalid = sum(s.get("invalid_drawn", 0) for s in summaries)
    failures = [f for s in summaries for f in s["failures"]]
    for f in failures:
        print(f"[{f['kind']}] {f['detail']}\n{f['program']}\n")
    seeds = ", ".join(str(s["seed"]) for s in summaries)
    lines = [
        f"`tools/conformance.py --budget {args.budget} --seed {args.seed} --jobs {args.jobs}` "
        f"(seeds {seeds}): {programs} generated programs in {minutes:.0f} min, "
        f"{zero} of them zero-size ({100 * zero / max(programs, 1):.0f}%), {zero_d} with a 0-d input, "
        f"{len(ops)} distinct ops ({invalid} more drawn that jax itself cannot run on cpu were "
        f"discarded and replaced).",
        "",
        "| outcome | programs |",
        "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in sorted(outcomes.items())]
    if limits:
        lines += ["", "The unsupported programs, by the fp8/int4 limit that rejected them:", "",
                  "| rejected op and type | programs |", "|---|---|"]
        lines += [f"| `{k}` | {v} |" for k, v in limits.most_common()]
    table = "\n".join(lines)
    print(table)
    if args.write:
        replace_section(DOC, "conformance", table)
        print(f"wrote {DOC}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
