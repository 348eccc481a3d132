"""jax.profiler with the chip package installed.

jaxlib 0.6.2 registers a profiler for every plugin it loads by path and crashed (SIGSEGV) in
jax.profiler.trace when the plugin had no PJRT profiler extension, whatever JAX_PLATFORMS said.
Each run is its own process (a crash must fail the test, not kill the test runner). The trace it
writes holds the host's events and, for the chip, its own device plane (jax_chip.xspace): read
back here from the .xplane.pb with XPlane's schema, and from jaxlib's own Chrome-trace conversion
of it (trace.json.gz, what the trace viewers read), the chip's kernels are there, named, with the
modeled durations jax_chip.profiler records for the same run.
"""

from __future__ import annotations

import gzip
import json
import pathlib
from collections import Counter

import pytest

from jax_chip import xspace
from subproc import run_python


@pytest.mark.parametrize("platforms", ["cpu", "chip"])
def test_jax_profiler_trace_does_not_crash_and_writes_an_xspace(platforms, tmp_path):
    out = run_python(f"""
        import jax, jax.numpy as jnp
        with jax.profiler.trace({str(tmp_path)!r}):
            y = jax.jit(lambda x: x * 2 + 1)(jnp.arange(8.0))
            y.block_until_ready()
        print("platform", y.devices().pop().platform)
        """, env={"JAX_PLATFORMS": platforms}, timeout=240)
    assert f"platform {platforms}" in out
    (xplane,) = pathlib.Path(tmp_path).glob("plugins/profile/*/*.xplane.pb")
    assert xplane.stat().st_size > 0
    (chrome,) = pathlib.Path(tmp_path).glob("plugins/profile/*/*.trace.json.gz")
    events = json.load(gzip.open(chrome))["traceEvents"]
    processes = {e["args"]["name"] for e in events if e.get("name") == "process_name"}
    assert "/host:CPU" in processes, processes
    assert any("<string>" in e.get("name", "") for e in events if e.get("ph") == "X")


def _trace_files(log_dir: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    (xplane,) = log_dir.glob("plugins/profile/*/*.xplane.pb")
    (chrome,) = log_dir.glob("plugins/profile/*/*.trace.json.gz")
    return xplane, chrome


def test_cpu_session_adds_no_chip_plane(tmp_path):
    """With the plugin loaded but nothing run on the chip, the XSpace holds no chip plane."""
    run_python(f"""
        import jax, jax.numpy as jnp
        with jax.profiler.trace({str(tmp_path)!r}):
            jax.jit(lambda x: x + 1)(jnp.arange(4.0)).block_until_ready()
        """, env={"JAX_PLATFORMS": "cpu"}, timeout=240)
    xplane, _ = _trace_files(tmp_path)
    assert xspace.chip_events(xplane.read_bytes()) == []


def test_chip_kernels_are_in_the_xspace_with_their_modeled_durations(tmp_path):
    log_dir = tmp_path / "trace"
    out = run_python(f"""
        import json, jax, jax.numpy as jnp, numpy as np
        import jax_chip.profiler as chip_prof
        f = jax.jit(lambda a, b: jnp.tanh(a @ b) + a.sum(axis=1, keepdims=True))
        rng = np.random.default_rng()
        a = rng.standard_normal((64, 64), np.float32)
        b = rng.standard_normal((64, 80), np.float32)
        f(a, b).block_until_ready()  # compiled outside the trace
        with jax.profiler.trace({str(log_dir)!r}):
            with chip_prof.trace() as prof:
                y = f(jnp.asarray(a), jnp.asarray(b))
                y.block_until_ready()
                np.asarray(y)
        print("EVENTS", json.dumps(prof.profile.events))
        """, env={"JAX_PLATFORMS": "chip"}, timeout=240)
    modeled = json.loads(out.split("EVENTS ", 1)[1])
    xplane, chrome = _trace_files(log_dir)
    events = xspace.chip_events(xplane.read_bytes())
    assert {e.plane for e in events} == {"/device:CUSTOM:0"}

    def key(line: str, name: str, dur_ps: int) -> tuple[str, str, int]:
        return (line, name, dur_ps)

    lines = {"execution": "executions", "transfer": "transfers"}
    want = Counter(key(lines.get(e["cat"], "kernels"), e["name"], round(e["dur"] * 1e6)) for e in modeled)
    got = Counter(key(e.line, e.name, e.duration_ps) for e in events)
    assert got == want
    kernels = [e for e in events if e.line == "kernels"]
    (execution,) = [e for e in events if e.line == "executions"]
    assert {k.stats["category"] for k in kernels} >= {"dot_general"}
    assert {k.stats["program"] for k in kernels} == {execution.name}
    dot = next(k for k in kernels if k.stats["category"] == "dot_general")
    assert dot.stats["matrix_flops"] >= 2 * 64 * 64 * 80   # the matrix unit may pad to its tiles
    assert dot.stats["flops"] == dot.stats["matrix_flops"] + dot.stats["vector_flops"]
    assert dot.stats["bytes_accessed"] == dot.stats["bytes_read"] + dot.stats["bytes_written"] > 0
    assert dot.stats["bound"] in ("matrix", "vector", "memory", "launch")
    # the kernels fill their execution, back to back on the modeled clock
    kernels.sort(key=lambda k: k.start_ps)
    assert kernels[0].start_ps == execution.start_ps
    for k, nxt in zip(kernels, kernels[1:]):
        assert nxt.start_ps == k.start_ps + k.duration_ps
    assert abs(kernels[-1].start_ps + kernels[-1].duration_ps
               - (execution.start_ps + execution.duration_ps)) <= len(kernels)
    assert {e.name for e in events if e.line == "transfers"} >= {"host_to_device", "device_to_host"}

    # jaxlib's conversion for the viewers: the chip is a process of its own, on the host's clock
    trace = json.load(gzip.open(chrome))["traceEvents"]
    processes = {e["pid"]: e["args"]["name"] for e in trace if e.get("name") == "process_name"}
    chip_pid = next(pid for pid, name in processes.items() if name == "/device:CUSTOM:0")
    threads = {e["args"]["name"] for e in trace if e.get("name") == "thread_name" and e["pid"] == chip_pid}
    assert threads == {"executions", "kernels", "transfers"}
    viewer = Counter((e["name"], round(e["dur"] * 1e6)) for e in trace
                     if e.get("ph") == "X" and e["pid"] == chip_pid)
    assert viewer == Counter((name, dur) for _, name, dur in want.elements())
    host = [e for e in trace if e.get("ph") == "X" and processes.get(e["pid"]) == "/host:CPU"]
    chip_exec = next(e for e in trace if e.get("ph") == "X" and e["pid"] == chip_pid and e["tid"] == 1)
    assert min(e["ts"] for e in host) <= chip_exec["ts"] <= max(e["ts"] + e.get("dur", 0) for e in host)


def test_a_failing_xspace_builder_is_reported_not_fatal(tmp_path):
    """If the chip's planes cannot be built (here: jax_chip.xspace raises), jax.profiler still
    writes the host's trace and jaxlib reports the plugin's error; the process goes on."""
    out = run_python(f"""
        import jax, jax.numpy as jnp
        import jax_chip.xspace
        def fail(*args):
            raise RuntimeError("the xplane schema is missing")
        jax_chip.xspace.build_xspace = fail
        f = jax.jit(lambda x: x * 2)
        f(jnp.arange(4.0)).block_until_ready()
        with jax.profiler.trace({str(tmp_path)!r}):
            f(jnp.arange(4.0)).block_until_ready()
        print("after the trace", float(f(jnp.arange(4.0))[3]))
        """, env={"JAX_PLATFORMS": "chip"}, timeout=240)
    assert "after the trace 6.0" in out
    xplane, chrome = _trace_files(tmp_path)
    assert xspace.chip_events(xplane.read_bytes()) == []
    events = json.load(gzip.open(chrome))["traceEvents"]
    host = {e["pid"] for e in events if e.get("name") == "process_name" and e["args"]["name"] == "/host:CPU"}
    assert any(e["pid"] in host and e["name"].startswith("PjitFunction") for e in events if e.get("ph") == "X")
