"""The same recorded run on another chip design: re-timing a chip trace under another config.

    import jax_chip.profiler as chip_prof
    from jax_chip import what_if
    with chip_prof.trace() as prof:
        f(x).block_until_ready()
    faster = what_if.retime(prof.profile, {"hbm_bandwidth": 2 * 819e9})
    print(faster.summary().table())

A trace (jax_chip.profiler.trace(), or a CHIP_TRACE_STREAM file read with
jax_chip.profiler.load_stream) keeps every kernel's work: HBM and SRAM bytes, matrix flops and
their dtype, vector ops, transcendentals; and every transfer's bytes. `retime` prices that work
with the plugin's own cost model under another config (jax_chip.native.model_work, the formula of
pjrt_plugin/runtime/cost_model.cc that a run uses) and re-lays each device's timeline as its
modeled clock does (runtime/chip_device.cc): executions and transfers one after another, the
kernels of an execution back to back, and a host transfer that the recording shows issued while an
execution ran overlapping that execution again. Totals, starts and everything derived from them
(time to first token, time per token) therefore move together, and under the recorded config the
re-timed trace is the recorded one.

Only the fields the cost model reads can be re-timed (`native.cost_model_fields()`: the HBM, SRAM,
matrix and vector rates, the launch cost, the host and chip link bandwidths). The others change
what is compiled or run (sram_bytes: SRAM placement; matrix_tile: the padded matrix flops;
hbm_bytes: what fits; num_devices, chip_links): `rerun_fields` names them and `retime` refuses
them, since the recorded work is not the work such a chip would do. tools/what_if.py re-runs those.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

import numpy as np

from jax_chip import native
from jax_chip.profiler import Profile

Config = Mapping[str, int | float]

# The sub-microsecond slack for matching a transfer's recorded start against the end of the
# execution it followed (both are printed in microseconds with 17 digits).
_EPS_US = 1e-6
_KERNEL_TIME_ARGS = ("modeled_us", "launch_us", "matrix_us", "vector_us", "memory_us", "sram_us")
BOUNDS = ("launch", "matrix", "vector", "memory", "sram")


class NeedsRerun(ValueError):
    """The config changes fields the cost model does not read: the recorded work is not what
    such a chip would run, so the what-if is a fresh run, not a re-timing."""


def full_config(overrides: Config | None = None) -> dict[str, int | float]:
    """Every chip config field: the plugin's defaults with `overrides`."""
    values: dict[str, int | float] = {f.name: f.default for f in native.chip_config_fields()}
    for k, v in dict(overrides or {}).items():
        if k not in values:
            raise ValueError(f"unknown chip config field {k!r}; known: {', '.join(values)}")
        values[k] = v
    return values


def rerun_fields(config: Config, recorded: Config | None = None) -> list[str]:
    """The fields in which `config` differs from the recorded run's config (`recorded`; default:
    the defaults) that the cost model does not read: non-empty means a fresh run is needed."""
    new, old = full_config(config), full_config(recorded)
    model = set(native.cost_model_fields())
    return [k for k in new if k not in model and new[k] != old[k]]


def _is_kernel(e: dict[str, Any]) -> bool:
    return e.get("cat") not in ("execution", "transfer")


def retime(profile: Profile, config: Config, recorded: Config | None = None) -> Profile:
    """`profile` as a chip with `config` (field -> value over the defaults, as
    jax_chip.config.ChipConfig.overrides) would have run it. `recorded` is the config the profile
    was recorded under (default: the defaults); raises NeedsRerun when `config` differs from it in
    a field the cost model does not read."""
    fields = rerun_fields(config, recorded)
    if fields:
        raise NeedsRerun(f"{', '.join(fields)} changes what is compiled or run, not only its time: "
                         "re-run with that config instead of re-timing")
    events = [dict(e, args=dict(e.get("args", {}))) for e in profile.events]
    kernels = [i for i, e in enumerate(events) if _is_kernel(e)]
    transfers = [i for i, e in enumerate(events) if e.get("cat") == "transfer"]
    work = np.array([[float(events[i]["args"].get(f) or 0.0) for f in native.KERNEL_WORK_FIELDS]
                     for i in kernels], np.float64).reshape(-1, len(native.KERNEL_WORK_FIELDS))
    tbytes = np.array([[float(events[i]["args"].get("bytes_read") or 0.0),
                        float(events[i]["args"].get("bytes_written") or 0.0)] for i in transfers],
                      np.float64).reshape(-1, 2)
    modeled = native.model_work(
        full_config(config), work, [events[i]["args"].get("matrix_dtype", "bf16") for i in kernels],
        [events[i]["name"] for i in transfers], tbytes)

    dur_s = np.zeros(len(events), np.float64)   # new durations (seconds), exact cost-model values
    for row, i in enumerate(kernels):
        t = modeled.kernel_times[row]
        dur_s[i] = t[0]
        args = events[i]["args"]
        for key, value in zip(_KERNEL_TIME_ARGS, t):
            args[key] = value * 1e6
        args["bound"] = modeled.kernel_bounds[row]
    for row, i in enumerate(transfers):
        dur_s[i] = modeled.transfer_seconds[row]
        events[i]["args"]["modeled_us"] = dur_s[i] * 1e6
        events[i]["args"]["memory_us"] = dur_s[i] * 1e6   # as chip_device.cc records a transfer
    start_s = _relay(events, dur_s)
    for i, e in enumerate(events):
        e["ts"] = start_s[i] * 1e6
        e["dur"] = dur_s[i] * 1e6
        if e.get("cat") == "execution":
            e["args"]["modeled_us"] = e["dur"]
    meta = [e for e in profile.trace["traceEvents"] if e.get("ph") != "X"]
    metadata = dict(profile.trace.get("metadata", {}), what_if=dict(config))
    return Profile({**profile.trace, "traceEvents": meta + events, "metadata": metadata})


def _relay(events: list[dict[str, Any]], dur_s: np.ndarray) -> list[float]:
    """New start times (seconds): per device, the modeled clock of runtime/chip_device.cc replayed
    with the new durations. An execution reads the clock when it starts and moves it to
    max(clock, its end) when it finishes; a transfer takes the clock and advances it. Whether a
    transfer came during an execution (issued by the host while the chip ran it) or after is read
    from the recording; its kernels run back to back from the execution's start, and its duration
    is their sum (accumulated in the same order as the executor, so the default config reproduces
    the recording bit for bit)."""
    start = [float(e["ts"]) / 1e6 for e in events]   # orphans (no execution event) keep theirs
    by_device: dict[int, list[int]] = defaultdict(list)
    for i, e in enumerate(events):
        by_device[e["pid"]].append(i)
    for indices in by_device.values():
        kernels_of: dict[int, list[int]] = defaultdict(list)
        timeline: list[int] = []
        for i in indices:
            if _is_kernel(events[i]):
                kernels_of[events[i]["args"].get("launch_id", -1)].append(i)
            else:
                timeline.append(i)
        # on equal starts the execution first: a transfer that starts with it was issued while it
        # ran (one issued before would have moved its start)
        timeline.sort(key=lambda i: (events[i]["ts"], events[i].get("cat") != "execution"))
        clock = float(events[timeline[0]]["ts"]) / 1e6 if timeline else 0.0
        running: tuple[float, float] | None = None   # (recorded end us, new end s)
        for i in timeline:
            e = events[i]
            if running is not None and e["ts"] >= running[0] - _EPS_US:
                clock, running = max(clock, running[1]), None
            if e.get("cat") == "execution":
                if running is not None:
                    clock = max(clock, running[1])
                start[i] = now = clock
                total = 0.0
                for k in sorted(kernels_of.pop(e["args"].get("launch_id", -1), []),
                                key=lambda k: events[k]["ts"]):
                    start[k] = now
                    now += dur_s[k]
                    total += dur_s[k]
                dur_s[i] = total
                running = (float(e["ts"]) + float(e["dur"]), clock + total)
            else:
                start[i] = clock
                clock += dur_s[i]
    return start


def time_by_bound(events: list[dict[str, Any]]) -> dict[str, float]:
    """Kernel time (us) split by what binds it: each kernel's launch cost under "launch", the
    rest under its bound (matrix, vector, memory (HBM) or sram)."""
    out = {b: 0.0 for b in BOUNDS}
    for e in events:
        if not _is_kernel(e):
            continue
        launch = float(e["args"].get("launch_us") or 0.0)
        out["launch"] += launch
        bound = e["args"].get("bound") or "launch"
        out[bound if bound in out else "launch"] += float(e["dur"]) - launch
    return out
