"""Reliability on the chip without sglang: the decode-loop soak (tools/soak.py) at a short fixed
budget, the trace cap, and the test-only chip fault (CHIP_FAULT_INJECT_FILE). The full soak
(10,000 executions) is `tools/soak.py decode`; its figures are in docs/reliability.md."""

from __future__ import annotations

import json
import os
import pathlib

from subproc import run_python

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"


def test_decode_soak_short_budget():
    """600 donated-cache decode steps: bytes_in_use constant and back to baseline, RSS flat,
    outputs equal to cpu's; then 100 traced steps (~3,200 events) against a cap of 1,000."""
    out = run_python(f"""
        import json, sys
        sys.path.insert(0, {str(TOOLS)!r})
        import soak
        r = soak.decode_soak(steps=600, trace_steps=100, trace_cap=1000, log=lambda s: None)
        print(json.dumps({{"result": r, "problems": soak.check_decode(r)}}))
    """, env={"JAX_PLATFORMS": "chip,cpu", "CHIP_TRACE_MAX_EVENTS": "1000"}, timeout=600)
    got = json.loads(out.strip().splitlines()[-1])
    r = got["result"]
    problems = got["problems"]
    if os.environ.get("CHIP_SANITIZER") == "asan":
        # ASan's allocator keeps freed memory in its quarantine (256 MB by default) before reuse,
        # so RSS grows by design there; the normal build checks it
        problems = [p for p in problems if "RSS" not in p]
    assert problems == [], got
    assert r["outputs_checked"] >= 2
    assert r["trace_events_kept"] == 1000 and r["trace_events_dropped"] > 1000, r
    assert "dropped" in r["trace_warning"] and "CHIP_TRACE_MAX_EVENTS" in r["trace_warning"]
    assert r["bytes_in_use_after_delete"] == r["baseline_bytes_in_use"]


def test_bad_trace_cap_is_reported_and_ignored():
    out = run_python("""
        import jax, jax.numpy as jnp
        import jax_chip.profiler as prof
        x = jax.device_put(jnp.arange(8.0), jax.devices("chip")[0])
        with prof.trace() as h:
            (x + 1).block_until_ready()
        print(h.profile.trace["metadata"]["max_events"], h.profile.dropped_events)
    """, env={"JAX_PLATFORMS": "chip,cpu", "CHIP_TRACE_MAX_EVENTS": "lots"})
    assert out.split()[-2:] == ["1000000", "0"]


def test_injected_chip_fault_fails_one_execution(tmp_path):
    """The fault file fails the next execution whose name matches, once, with an INTERNAL error
    naming it; other programs and later executions are unaffected; a donated input is consumed
    and its memory freed, as on a real failure."""
    out = run_python("""
        import json, os, pathlib
        import numpy as np
        import jax, jax.numpy as jnp
        chip = jax.devices("chip")[0]
        fault = pathlib.Path(os.environ["CHIP_FAULT_INJECT_FILE"])
        def used():
            return chip.memory_stats()["bytes_in_use"]
        @jax.jit
        def scale(x):
            return x * 3.0
        step = jax.jit(lambda c, x: c + x, donate_argnums=0)
        rng = np.random.default_rng(0)
        a = rng.standard_normal(1000).astype(np.float32)
        base = used()
        x = jax.device_put(a, chip)
        r = {"first": bool(np.allclose(scale(x), a * 3))}
        fault.write_text("jit_other_name")          # matches nothing: no fault, the file stays
        r["no_match"] = bool(np.allclose(scale(x), a * 3)) and fault.exists()
        fault.write_text("scale")
        try:
            np.asarray(scale(x))
            r["error"] = None
        except jax.errors.JaxRuntimeError as e:
            r["error"] = str(e)
        r["consumed"] = not fault.exists()
        r["after"] = bool(np.allclose(scale(x), a * 3))
        c = jax.device_put(a, chip)
        fault.write_text("")                       # empty: the next execution of anything
        bad = step(c, x)
        try:
            bad.block_until_ready()
            r["donated_error"] = None
        except jax.errors.JaxRuntimeError as e:
            r["donated_error"] = str(e)
        r["donated_deleted"] = c.is_deleted()
        del bad, c
        r["in_use_with_x"] = used() - base
        del x
        r["in_use_end"] = used() - base
        print(json.dumps(r))
    """, env={"JAX_PLATFORMS": "chip,cpu", "CHIP_FAULT_INJECT_FILE": str(tmp_path / "fault")})
    r = json.loads(out.strip().splitlines()[-1])
    assert r["first"] and r["no_match"] and r["after"] and r["consumed"], r
    assert "INTERNAL" in r["error"] and "injected chip fault" in r["error"], r
    assert "jit_scale" in r["error"], r
    assert "injected chip fault" in r["donated_error"] and r["donated_deleted"], r
    assert r["in_use_with_x"] == 4000, r        # only x: the failed step's memory is freed
    assert r["in_use_end"] == 0, r
