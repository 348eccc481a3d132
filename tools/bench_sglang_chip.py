#!/usr/bin/env python3
"""sglang-jax serving on the chip: what the radix cache saves in prefill, and what a decode step
costs against the KV pool size. Runs sglang-jax's own Engine on the chip (device="chip",
attention_backend="chip") with a small Qwen3 model, reads the scheduler's chip trace, prints two
tables and writes them into docs/performance.md.

    .venv/bin/python tools/bench_sglang_chip.py [--no-write]

1. Radix cache: a batch of prompts sharing a long prefix, generated twice. The second round's
   prefill computes only what the radix cache did not supply; its modeled prefill time should
   drop in proportion.
2. Decode step vs pool size: the same batch with 1k-token and 16k-token KV pools, and with longer
   prompts. A decode step's modeled time should follow the tokens in use, not the pool size.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from doc_tables import replace_section  # noqa: E402
from sglang_chip_profile import (  # noqa: E402
    clear,
    execution_times_by_phase,
    load_scheduler_profile,
    stream_pattern,
)
from sglang_job import DEFAULT_MODEL, ensure_model  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
TRACE_DIR = ROOT / "build" / "bench_sglang_trace"
PREFIX = " ".join(f"Rule {i}: the chip reads only the pages a sequence uses and reports modeled "
                  f"time for every kernel." for i in range(12))
QUESTIONS = ["What is paged attention?", "Why does the radix cache help?",
             "How fast is decode?", "Where does the time go?"]


# sglang-jax pads a prefill step's tokens up to a bucket (default 64, 128, 256, 512): the chip
# computes the padding too. The radix bench uses 32-token buckets so that the computed tokens,
# not the bucket, decide the time.
FINE_PREFILL_BUCKETS = list(range(32, 1025, 32))


def engine(max_total_tokens: int, page_size: int = 16, **kwargs: Any) -> Any:
    from sgl_jax.srt.entrypoints.engine import Engine

    return Engine(model_path=str(ensure_model(DEFAULT_MODEL)), device="chip",
                  attention_backend="chip", page_size=page_size,
                  max_total_tokens=max_total_tokens, mem_fraction_static=0.5,
                  disable_jax_precompile=True, log_level="error", random_seed=0,
                  max_running_requests=16, **kwargs)


def generate(eng: Any, prompts: list[str], new_tokens: int) -> list[dict[str, Any]]:
    params = {"temperature": 0.0, "max_new_tokens": new_tokens, "ignore_eos": True}
    return [o["meta_info"] for o in eng.generate(prompt=prompts, sampling_params=params)]


def prefill_us() -> float:
    profile = load_scheduler_profile(TRACE_DIR)
    return sum(execution_times_by_phase(profile)["prefill"]) if profile else 0.0


def radix_table() -> str:
    """One prompt per round, so that nothing is shared inside a round: a cold prompt, then one
    that shares the whole prefix with it, then one that shares half of it. If the prefill time
    drops in proportion to the tokens the radix cache supplied, the saving per cached token is
    the same for both warm rounds."""
    clear(TRACE_DIR)
    half = PREFIX[: len(PREFIX) // 2]
    other_half = " ".join(f"Note {i}: each kernel of the chip has a modeled cost that the "
                          f"profiler shows." for i in range(12))[: len(PREFIX) - len(half)]
    rounds = [("cold", PREFIX + " " + QUESTIONS[0]),
              ("whole prefix cached", PREFIX + " " + QUESTIONS[1]),
              ("first half cached", half + other_half + " " + QUESTIONS[2])]
    eng = engine(max_total_tokens=8192, jax_precompile_prefill_token_paddings=FINE_PREFILL_BUCKETS)
    rows = []
    try:
        before = 0.0
        for label, prompt in rounds:
            (meta,) = generate(eng, [prompt], new_tokens=4)
            total = prefill_us()
            rows.append((label, meta["prompt_tokens"], meta.get("cached_tokens", 0), total - before))
            before = total
    finally:
        eng.shutdown()
    # prefill time = fixed + k * computed tokens: fit on the cold and whole-prefix rounds, then
    # predict the half-prefix round (the saving is proportional to the cached tokens if it holds)
    (_, n0, c0, t0), (_, n1, c1, t1), (_, n2, c2, t2) = rows
    k = (t0 - t1) / ((n0 - c0) - (n1 - c1))
    fixed = t0 - k * (n0 - c0)
    predicted = fixed + k * (n2 - c2)
    lines = ["| round | prompt tokens | from radix cache | computed | modeled prefill (us) | fixed + k x computed (us) |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, n, cached, t in rows:
        lines.append(f"| {label} | {n} | {cached} | {n - cached} | {t:,.1f} | {fixed + k * (n - cached):,.1f} |")
    lines.append("")
    lines.append(f"Fit on the first two rounds: k = {k:.3f} us per computed token, fixed = {fixed:,.1f} us "
                 f"per prefill (weights, sampling, the partial last page). The third round, not used "
                 f"in the fit, is predicted at {predicted:,.1f} us and measured at {t2:,.1f} us "
                 f"({100 * (t2 - predicted) / predicted:+.1f}%): the modeled prefill time drops by k "
                 f"for every token the radix cache supplies.")
    return "\n".join(lines)


def decode_step_table() -> str:
    short = [q for q in QUESTIONS]
    long = [PREFIX + " " + PREFIX + " " + q for q in QUESTIONS]
    cases = [("short prompts", short, 1024), ("short prompts", short, 16384),
             ("long prompts", long, 16384)]
    lines = ["| prompts | KV pool (tokens) | batch tokens (prompts + generated) | decode steps | modeled us per decode step (median) |",
             "|---|---:|---:|---:|---:|"]
    for label, prompts, pool in cases:
        clear(TRACE_DIR)
        eng = engine(max_total_tokens=pool)
        try:
            metas = generate(eng, prompts, new_tokens=8)
        finally:
            eng.shutdown()
        profile = load_scheduler_profile(TRACE_DIR)
        steps = execution_times_by_phase(profile)["decode"] if profile else []
        in_use = sum(m["prompt_tokens"] + m["completion_tokens"] for m in metas)
        med = statistics.median(steps) if steps else float("nan")
        lines.append(f"| {label} | {pool:,} | {in_use:,} | {len(steps)} | {med:,.2f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    os.environ["CHIP_TRACE_STREAM"] = stream_pattern(TRACE_DIR)
    os.environ.pop("JAX_PLATFORMS", None)

    radix = radix_table()
    print(radix)
    decode = decode_step_table()
    print(decode)
    if not args.no_write:
        cmd = "Command: `.venv/bin/python tools/bench_sglang_chip.py` (sglang-jax Engine on the chip, " \
              "Qwen3 hidden 256 / 3 layers / 8 q heads / 2 kv heads, page size 16; modeled chip " \
              "time from the scheduler's trace)."
        replace_section(DOC, "sglang-radix-bench", f"{cmd}\n\n{radix}")
        replace_section(DOC, "sglang-decode-bench", f"{cmd}\n\n{decode}")
        print(f"written to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
