"""Where the chip's time goes: modeled kernel times from the emulator's trace.

    import jax_chip.profiler as chip_prof
    with chip_prof.trace("/tmp/chip_trace.json") as prof:
        f(x).block_until_ready()
    print(prof.summary().table())

The trace is Chrome trace-event JSON (open it in https://ui.perfetto.dev or chrome://tracing):
one process per chip, with an "executions" track, a "kernels" track and a "transfers" track, all
on the chip's modeled clock. Times are what the chip would take (docs/chip-model.md), not the
emulator's wall time.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import pathlib
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator

from jax_chip import native

def _native() -> ctypes.CDLL:
    """The plugin library (jax_chip.native declares its exports)."""
    return native.library()


def _ensure_backend() -> None:
    import jax

    jax.devices("chip")  # the client must exist before its events are recorded


def device_modeled_time_s(device_id: int = 0) -> float:
    """Total modeled chip time spent on a device since the process started (seconds)."""
    _ensure_backend()
    return float(_native().chip_device_modeled_time_s(device_id))


@dataclass
class KernelStats:
    name: str
    category: str
    program: str
    source: str
    calls: int = 0
    modeled_us: float = 0.0
    bytes: float = 0.0
    flops: float = 0.0
    bound: str = ""


@dataclass
class Summary:
    """Aggregated view of one trace."""

    device_time_us: float                  # sum of execution events' modeled durations
    kernel_time_us: float                  # sum of kernel events' modeled durations
    transfer_time_us: float
    executions: int
    kernels: list[KernelStats] = field(default_factory=list)   # by modeled time, descending
    by_category: dict[str, float] = field(default_factory=dict)

    def table(self, top: int = 10) -> str:
        lines = [
            f"chip modeled device time: {self.device_time_us:,.1f} us over {self.executions} execution(s)"
            f"; host<->device transfers {self.transfer_time_us:,.1f} us",
            f"{'program:kernel':<40} {'category':<13} {'calls':>6} {'modeled us':>12} {'share':>6} {'bound':>7}  source",
        ]
        total = self.kernel_time_us or 1.0
        for k in self.kernels[:top]:
            lines.append(
                f"{(k.program + ':' + k.name)[-40:]:<40} {k.category[:13]:<13} {k.calls:>6} {k.modeled_us:>12,.2f} "
                f"{100 * k.modeled_us / total:>5.1f}% {k.bound:>7}  {k.source[:60]}"
            )
        cats = ", ".join(f"{c} {100 * t / total:.1f}%" for c, t in
                         sorted(self.by_category.items(), key=lambda kv: -kv[1]))
        lines.append(f"by category: {cats}")
        return "\n".join(lines)


@dataclass
class Profile:
    """The events of one profiling session."""

    trace: dict[str, Any]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for e in self.trace["traceEvents"] if e.get("ph") == "X"]

    @property
    def dropped_events(self) -> int:
        """Events the recorder did not keep because its cap (CHIP_TRACE_MAX_EVENTS) was reached:
        the trace holds the session's first events only."""
        return int(self.trace.get("metadata", {}).get("dropped_events", 0))

    def save(self, path: str | pathlib.Path) -> pathlib.Path:
        p = pathlib.Path(path)
        p.write_text(json.dumps(self.trace))
        return p

    def summary(self) -> Summary:
        kernels: dict[tuple[str, str], KernelStats] = {}
        by_cat: dict[str, float] = defaultdict(float)
        device_us = kernel_us = transfer_us = 0.0
        executions = 0
        for e in self.events:
            cat = e.get("cat", "")
            args = e.get("args", {})
            if cat == "execution":
                device_us += e["dur"]
                executions += 1
            elif cat == "transfer":
                transfer_us += e["dur"]
            else:
                kernel_us += e["dur"]
                key = (args.get("program", ""), e["name"])
                ks = kernels.setdefault(key, KernelStats(e["name"], args.get("category", cat),
                                                         args.get("program", ""),
                                                         args.get("source", "")))
                ks.calls += 1
                ks.modeled_us += e["dur"]
                ks.bytes += float(args.get("bytes_read", 0)) + float(args.get("bytes_written", 0))
                ks.flops += float(args.get("matrix_flops", 0)) + float(args.get("vector_flops", 0))
                ks.bound = args.get("bound", "")
                by_cat[ks.category] += e["dur"]
        ordered = sorted(kernels.values(), key=lambda k: -k.modeled_us)
        return Summary(device_us, kernel_us, transfer_us, executions, ordered, dict(by_cat))


_TRACKS = {1: "executions", 2: "kernels", 3: "transfers"}


def load_stream(path: str | pathlib.Path) -> Profile:
    """Reads a trace streamed by a process run with CHIP_TRACE_STREAM=path (one event per line,
    flushed after each execution, so a process that was killed leaves a usable file) into a
    Profile with the same Chrome trace layout as trace() produces."""
    events: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # the last line of a killed process may be cut short
    meta: list[dict[str, Any]] = []
    for pid in sorted({e["pid"] for e in events}):
        meta.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": f"chip:{pid}"}})
        meta += [{"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": n}}
                 for tid, n in _TRACKS.items()]
    return Profile({"traceEvents": meta + events, "displayTimeUnit": "ns",
                    "metadata": {"generator": "chip emulator", "clock": "modeled device time",
                                 "num_events": len(events)}})


def start() -> None:
    """Starts recording (clears what an earlier session recorded)."""
    _ensure_backend()
    if _native().chip_profiler_start() != 0:
        raise RuntimeError("chip profiler failed to start")


def stop() -> Profile:
    """Stops recording and returns what was recorded."""
    lib = _native()
    lib.chip_profiler_stop()
    ptr = lib.chip_profiler_trace_json()
    if not ptr:
        raise RuntimeError("chip profiler returned no trace")
    try:
        text = ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.chip_free(ptr)
    profile = Profile(json.loads(text))
    if profile.dropped_events:
        meta = profile.trace["metadata"]
        warnings.warn(f"chip profiler: the trace is capped at {meta['max_events']:,} events and "
                      f"dropped {profile.dropped_events:,} (only the first ones are kept; "
                      "CHIP_TRACE_MAX_EVENTS raises the cap, CHIP_TRACE_STREAM streams to a file)",
                      RuntimeWarning, stacklevel=2)
    return profile


@contextlib.contextmanager
def trace(path: str | pathlib.Path | None = None) -> Iterator["_Handle"]:
    """Records the chip's modeled timeline while the block runs; saves it to `path` if given.

    Work dispatched inside the block must be finished (block_until_ready) before it ends.
    """
    handle = _Handle()
    start()
    try:
        yield handle
    finally:
        handle.profile = stop()
        if path is not None:
            handle.profile.save(path)


class _Handle:
    profile: Profile | None = None

    def summary(self) -> Summary:
        if self.profile is None:
            raise RuntimeError("the trace block has not finished")
        return self.profile.summary()
