"""Reading the chip profile of sglang-jax's scheduler process (shared by tools/sglang_job.py and
tools/bench_sglang_chip.py).

The scheduler runs the model on the chip and is killed at shutdown, so it streams its trace
(CHIP_TRACE_STREAM=<dir>/chip-%p.jsonl). Each execution is classified by the attention kernel it
ran: radix_attention_extend -> prefill, paged_attention_decode -> decode, neither -> other
(sampling, cache bookkeeping and sglang-jax's eager ops).
"""

from __future__ import annotations

import glob
import pathlib
from collections import defaultdict
from typing import Any

import jax_chip.profiler as chip_prof

PHASES = ("prefill", "decode", "other")


def stream_pattern(trace_dir: pathlib.Path) -> str:
    return str(trace_dir / "chip-%p.jsonl")


def clear(trace_dir: pathlib.Path) -> None:
    trace_dir.mkdir(parents=True, exist_ok=True)
    for old in trace_dir.glob("chip-*.jsonl"):
        old.unlink()


def load_scheduler_profile(trace_dir: pathlib.Path) -> chip_prof.Profile | None:
    """The profile of the process that ran the most chip time (the scheduler)."""
    profiles = [chip_prof.load_stream(f) for f in sorted(glob.glob(str(trace_dir / "chip-*.jsonl")))]
    profiles = [p for p in profiles if p.summary().executions]
    return max(profiles, key=lambda p: p.summary().device_time_us) if profiles else None


def phase_of(kernel_names: list[str]) -> str:
    joined = " ".join(kernel_names)
    if "radix_attention_extend" in joined:
        return "prefill"
    if "paged_attention_decode" in joined:
        return "decode"
    return "other"


def execution_times_by_phase(profile: chip_prof.Profile) -> dict[str, list[float]]:
    """Modeled duration (us) of every execution, grouped by phase, in order."""
    kernels: dict[tuple[int, int], list[str]] = defaultdict(list)
    executions: list[dict[str, Any]] = []
    for e in profile.events:
        key = (e["pid"], e["args"].get("launch_id", -1))
        if e.get("cat") == "execution":
            executions.append(e)
        elif e.get("cat") != "transfer":
            kernels[key].append(e["name"])
    out: dict[str, list[float]] = {p: [] for p in PHASES}
    for e in executions:
        out[phase_of(kernels[(e["pid"], e["args"].get("launch_id", -1))])].append(e["dur"])
    return out
