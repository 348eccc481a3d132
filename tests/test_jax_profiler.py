"""jax.profiler with the chip package installed: jaxlib 0.6.2 registers a profiler for every plugin
it loads by path and crashed (SIGSEGV) in jax.profiler.trace when the plugin had no PJRT profiler
extension, whatever JAX_PLATFORMS said. Each run is its own process (a crash must fail the test,
not kill the test runner); the trace it writes (an XSpace, and jax's Chrome-trace conversion of
it, which is what is read back here: jax 0.6.2 has no ProfileData reader) holds the host's
events, the traced snippet's own Python frames among them."""

from __future__ import annotations

import gzip
import json
import pathlib

import pytest

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
