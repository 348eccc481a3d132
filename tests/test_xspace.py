"""jax_chip.xspace's placement of the chip's modeled timeline on the host clock, on hand-made
events (the plugin's Chrome-trace form): an execution starts at the host time the emulator began
it, or at the end of the chip's previous execution if that is later; its kernels follow on the
modeled clock; kernels whose execution is not in the session start at the session's start;
transfers start at their host time. Durations are the modeled ones, to the picosecond."""

from __future__ import annotations

import json

from jax_chip import xspace

SESSION_NS = 1_800_000_000_000_000_000
US = 1_000_000  # ps


def _execution(launch: int, ts_us: float, dur_us: float, host_ns: int) -> dict:
    return {"ph": "X", "name": "jit_step", "cat": "execution", "pid": 0, "tid": 1, "ts": ts_us,
            "dur": dur_us, "args": {"launch_id": launch, "program": "jit_step", "host_start_ns": host_ns}}


def _kernel(launch: int, name: str, ts_us: float, dur_us: float, device: int = 0) -> dict:
    return {"ph": "X", "name": name, "cat": "elementwise", "pid": device, "tid": 2, "ts": ts_us,
            "dur": dur_us, "args": {"launch_id": launch, "program": "jit_step", "bytes_read": 64,
                                    "bytes_written": 32, "matrix_flops": 0, "vector_flops": 16,
                                    "bound": "memory"}}


def _build(events: list[dict]) -> dict[tuple[str, str], list[xspace.XEventView]]:
    out: dict[tuple[str, str], list[xspace.XEventView]] = {}
    for e in xspace.chip_events(xspace.build_xspace(json.dumps({"traceEvents": events}), SESSION_NS)):
        out.setdefault((e.plane, e.line), []).append(e)
    return out


def test_no_events_no_planes():
    assert xspace.build_xspace(json.dumps({"traceEvents": []}), SESSION_NS) == b""


def test_executions_are_placed_at_their_host_start_and_never_overlap():
    t0 = SESSION_NS + 5_000           # ns
    events = [
        _execution(0, 10.0, 3.5, t0), _kernel(0, "fusion.0", 10.0, 1.25), _kernel(0, "dot.1", 11.25, 2.25),
        # began 1 us of host time after the first, which lasts 3.5 us on the chip: it waits
        _execution(1, 13.5, 2.0, t0 + 1_000), _kernel(1, "fusion.0", 13.5, 2.0),
        # began long after: at its host time
        _execution(2, 15.5, 1.0, t0 + 50_000), _kernel(2, "fusion.0", 15.5, 1.0),
        {"ph": "X", "name": "host_to_device", "cat": "transfer", "pid": 0, "tid": 3, "ts": 9.0, "dur": 0.5,
         "args": {"program": "", "host_start_ns": t0 - 2_000}},
    ]
    lines = _build(events)
    execs = sorted(lines[("/device:CUSTOM:0", "executions")], key=lambda e: e.start_ps)
    assert [e.start_ps for e in execs] == [t0 * 1000, t0 * 1000 + 3_500_000, (t0 + 50_000) * 1000]
    assert [e.duration_ps for e in execs] == [3_500_000, 2 * US, 1 * US]
    kernels = sorted(lines[("/device:CUSTOM:0", "kernels")], key=lambda e: e.start_ps)
    assert [(k.name, k.start_ps - t0 * 1000, k.duration_ps) for k in kernels] == [
        ("fusion.0", 0, 1_250_000), ("dot.1", 1_250_000, 2_250_000), ("fusion.0", 3_500_000, 2 * US),
        ("fusion.0", 50_000_000, 1 * US)]
    assert kernels[1].stats["flops"] == 16.0 and kernels[1].stats["bytes_accessed"] == 96.0
    assert kernels[1].stats["bound"] == "memory" and "host_start_ns" not in execs[0].stats
    assert execs[0].stats == {"launch_id": 0, "program": "jit_step"}
    (transfer,) = lines[("/device:CUSTOM:0", "transfers")]
    assert (transfer.start_ps, transfer.duration_ps) == ((t0 - 2_000) * 1000, 500_000)


def test_kernels_without_their_execution_start_at_the_session_start_per_chip():
    events = [_kernel(7, "fusion.0", 40.0, 1.5, device=1), _kernel(7, "fusion.1", 41.5, 0.5, device=1),
              _kernel(3, "fusion.0", 2.0, 1.0, device=0)]
    lines = _build(events)
    assert set(lines) == {("/device:CUSTOM:0", "kernels"), ("/device:CUSTOM:1", "kernels")}
    chip1 = sorted(lines[("/device:CUSTOM:1", "kernels")], key=lambda e: e.start_ps)
    assert [(k.start_ps, k.duration_ps) for k in chip1] == [
        (SESSION_NS * 1000, 1_500_000), (SESSION_NS * 1000 + 1_500_000, 500_000)]
    (chip0,) = lines[("/device:CUSTOM:0", "kernels")]
    assert chip0.start_ps == SESSION_NS * 1000
