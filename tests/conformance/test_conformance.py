"""Generated jax.numpy and lax programs on the chip against the cpu backend (docs/numerics.md).

Every generated program must compile and match cpu within its error bound; an internal compiler
error, a rejection of a program jax runs on cpu (other than a documented fp8/int4 limit, rejected
with UNIMPLEMENTED naming the op and type), a crash or a mismatch fails the test, and the
report lists each failing program as code. The budget and seed come from the environment
(CHIP_CONFORMANCE_BUDGET, default 300; CHIP_CONFORMANCE_SEED, default 0), so CI runs a fixed,
reproducible set; `tools/conformance.py --budget 10000 --seed N` runs a longer one.
"""

from __future__ import annotations

import collections
import json
import os

import jax
from hypothesis import HealthCheck, Phase, assume, given, seed, settings

from .programs import Outcome, Program, check, low_precision_limit, programs

BUDGET = int(os.environ.get("CHIP_CONFORMANCE_BUDGET", "300"))
SEED = int(os.environ.get("CHIP_CONFORMANCE_SEED", "0"))
REPORT = os.environ.get("CHIP_CONFORMANCE_REPORT", "")
# where the program being run is written before it runs (tools/conformance.py reads it back when
# the process dies)
LAST = os.environ.get("CHIP_CONFORMANCE_LAST", "")
CLEAR_CACHES_EVERY = 200
# a documented fp8/int4 limit, rejected with UNIMPLEMENTED naming the op and type, is the chip
# working as specified; everything else that is not "ok" fails
PASSING = ("ok", "unsupported")


def _summary(outcomes: list[Outcome]) -> dict[str, object]:
    kinds = collections.Counter(o.kind for o in outcomes)
    ops = collections.Counter(s.text.split("(")[0] for o in outcomes for s in o.program.steps)
    return {
        "seed": SEED, "programs": len(outcomes), "outcomes": dict(kinds),
        "zero_size_programs": sum(o.program.zero_size for o in outcomes),
        "zero_d_inputs": sum(o.program.input.shape == () for o in outcomes),
        "input_dtypes": dict(collections.Counter(o.program.input.dtype.name for o in outcomes)),
        "ops": dict(ops.most_common()),
        "failures": [{"kind": o.kind, "program": repr(o.program), "detail": o.detail[:2000]}
                     for o in outcomes if o.kind not in PASSING],
        "unsupported": dict(collections.Counter(
            low_precision_limit(o.detail) for o in outcomes if o.kind == "unsupported")),
    }


def test_generated_programs_match_cpu() -> None:
    chip, cpu = jax.devices("chip")[0], jax.devices("cpu")[0]
    outcomes: list[Outcome] = []
    invalid: list[Outcome] = []

    @seed(SEED)
    @settings(max_examples=BUDGET, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def run(program: Program) -> None:
        if LAST:
            with open(LAST, "w") as f:
                f.write(repr(program) + "\n")
        outcome = check(program, chip, cpu)
        if outcome.kind == "invalid":
            invalid.append(outcome)
            assume(False)      # not a program: hypothesis draws another in its place
        outcomes.append(outcome)
        if len(outcomes) % CLEAR_CACHES_EVERY == 0:
            jax.clear_caches()     # every program is a new function: keep the caches bounded

    run()
    summary = _summary(outcomes)
    summary["invalid_drawn"] = len(invalid)
    if REPORT:
        with open(REPORT, "w") as f:
            json.dump(summary, f, indent=1)
    assert len(outcomes) >= BUDGET
    # the generator covers zero-size programs (a fifth of them) and 0-d inputs
    assert summary["zero_size_programs"] >= len(outcomes) // 6, summary["zero_size_programs"]
    failures = [o for o in outcomes if o.kind not in PASSING]
    report = "\n\n".join(f"[{o.kind}] {o.detail}\n{o.program!r}" for o in failures[:20])
    assert not failures, (f"{len(failures)} of {len(outcomes)} generated programs failed "
                          f"({summary['outcomes']}):\n\n{report}")
