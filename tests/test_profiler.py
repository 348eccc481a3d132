"""The profiling API: a Chrome/Perfetto trace of modeled kernel times and its summary."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

import jax_chip.profiler as chip_prof
from parity import chip


def _check_chrome_trace(trace: dict) -> None:
    """The Chrome trace-event format as Perfetto's JSON importer reads it."""
    assert isinstance(trace.get("traceEvents"), list) and trace["traceEvents"]
    for e in trace["traceEvents"]:
        assert e["ph"] in ("X", "M"), e
        assert isinstance(e["name"], str) and isinstance(e["pid"], int)
        if e["ph"] == "X" or e["name"].startswith("thread_"):
            assert isinstance(e["tid"], int), e
        if e["ph"] == "X":
            assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0
            assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0
            assert isinstance(e.get("args", {}), dict)
        else:
            assert e["name"] in ("process_name", "thread_name", "process_sort_index", "thread_sort_index")


def test_trace_is_valid_and_kernel_times_sum_to_device_time(tmp_path):
    dev = chip()
    w = jax.device_put(np.random.default_rng(0).standard_normal((256, 512), np.float32), dev)
    x = jax.device_put(np.random.default_rng(1).standard_normal((64, 256), np.float32), dev)
    f = jax.jit(lambda a, b: jax.nn.gelu(a @ b).sum(axis=-1))
    f(x, w).block_until_ready()  # compile outside the trace
    path = tmp_path / "trace.json"
    before = chip_prof.device_modeled_time_s(0)
    with chip_prof.trace(path) as prof:
        for _ in range(3):
            f(x, w).block_until_ready()
    after = chip_prof.device_modeled_time_s(0)

    trace = json.loads(path.read_text())   # the saved file is plain JSON
    _check_chrome_trace(trace)
    s = prof.summary()
    assert s.executions == 3
    assert s.device_time_us > 0
    assert abs(s.kernel_time_us - s.device_time_us) <= 1e-6 * s.device_time_us + 1e-3
    assert abs((after - before) * 1e6 - s.device_time_us) <= 1e-6 * s.device_time_us + 1e-3
    cats = {k.category for k in s.kernels}
    assert any("dot" in c for c in cats), cats
    # the matmul (64x256x512 f32) dominates and is matrix-bound or memory-bound, never "launch"
    top = s.kernels[0]
    assert "dot" in top.category and top.bound in ("matrix", "memory"), s.table()
    table = s.table()
    assert "modeled device time" in table and top.name in table


def test_modeled_time_follows_the_cost_model():
    """A bf16 matmul big enough to be matrix-bound takes flops / 197 TFLOP/s on the chip."""
    dev = chip()
    m = k = n = 1024
    a = jax.device_put(jnp.ones((m, k), jnp.bfloat16), dev)
    b = jax.device_put(jnp.ones((k, n), jnp.bfloat16), dev)
    f = jax.jit(lambda x, y: x @ y)
    f(a, b).block_until_ready()
    with chip_prof.trace() as prof:
        f(a, b).block_until_ready()
    dots = [k_ for k_ in prof.summary().kernels if "dot" in k_.category]
    assert len(dots) == 1
    want_us = 1.0 + 2 * m * n * k / 197e12 * 1e6     # launch + matrix time
    assert dots[0].bound == "matrix"
    assert abs(dots[0].modeled_us - want_us) < 1e-3 * want_us


def test_temporaries_move_at_sram_bandwidth():
    """A temporary between two kernels lives in the on-chip SRAM (xla_passes/sram_placement.py):
    the kernel that reads it and writes the output is charged its SRAM bytes at 8 TB/s and its
    HBM bytes at 819 GB/s, concurrently (the slower one counts)."""
    dev = chip()
    x = jax.device_put(jnp.asarray(np.random.default_rng(0).standard_normal((1024, 1024)),
                                   jnp.float32), dev)
    f = jax.jit(lambda a: jnp.cumsum(jnp.exp(a), axis=1) * 2.0)
    f(x).block_until_ready()
    with chip_prof.trace() as prof:
        f(x).block_until_ready()
    events = [e for e in prof.profile.events if e.get("cat") not in ("execution", "transfer")
              and "args" in e and "sram_bytes_read" in e["args"]]
    on_chip = [e for e in events if e["args"]["sram_bytes_read"] or e["args"]["sram_bytes_written"]]
    assert on_chip, [e["args"] for e in events]
    for e in events:
        a = e["args"]
        hbm_us = (a["bytes_read"] + a["bytes_written"]) / 819e9 * 1e6
        sram_us = (a["sram_bytes_read"] + a["sram_bytes_written"]) / 8e12 * 1e6
        assert abs(a["memory_us"] - hbm_us) <= 1e-6 * max(hbm_us, 1e-9)
        assert abs(a["sram_us"] - sram_us) <= 1e-6 * max(sram_us, 1e-9)
        busy = max(a["matrix_us"], a["vector_us"], hbm_us, sram_us)
        assert abs(e["args"]["modeled_us"] - (1.0 + busy)) < 1e-6 * (1.0 + busy)
    written = sum(e["args"]["sram_bytes_written"] for e in on_chip)
    read = sum(e["args"]["sram_bytes_read"] for e in on_chip)
    # the temporaries (exp's result at least, 4 MiB) are written once and read about once
    assert written >= 1024 * 1024 * 4 and 0.99 * written <= read <= written


def test_streamed_trace_survives_a_killed_process(tmp_path):
    """CHIP_TRACE_STREAM writes events as they happen: a process killed with SIGKILL (as
    sglang-jax stops its scheduler) still leaves a trace whose executions are complete."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    stream = tmp_path / "stream-%p.jsonl"
    code = textwrap.dedent("""
        import os, sys, jax, jax.numpy as jnp, numpy as np
        f = jax.jit(lambda a, b: jnp.tanh(a @ b).sum(axis=0))
        x = np.linspace(-1, 1, 64 * 48, dtype=np.float32).reshape(64, 48)
        for _ in range(4):
            f(x, x.T).block_until_ready()
        print("done", flush=True)
        sys.stdin.read()          # wait to be killed
    """)
    env = dict(os.environ, JAX_PLATFORMS="chip", CHIP_TRACE_STREAM=str(stream))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "done"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    files = list(tmp_path.glob("stream-*.jsonl"))
    assert [f.name for f in files] == [f"stream-{proc.pid}.jsonl"]
    profile = chip_prof.load_stream(files[0])
    _check_chrome_trace(profile.trace)
    s = profile.summary()
    assert s.executions >= 4
    assert abs(s.kernel_time_us - s.device_time_us) <= 1e-6 * s.device_time_us + 1e-3
    assert any("dot" in k.category for k in s.kernels)
