"""Execution semantics: donation in place, asynchronous dispatch, errors during execution,
the persistent compilation cache across processes."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity import chip
from subproc import run_python


def test_donated_updates_are_in_place():
    dev = chip()
    x = jax.device_put(np.ones((1024, 1024), np.float32), dev)   # 4 MiB
    step = jax.jit(lambda a, i: a * 1.5 + i, donate_argnums=0)
    x = step(x, 0.0)
    x.block_until_ready()
    flat = dev.memory_stats()["bytes_in_use"]
    want = np.ones((1024, 1024), np.float32) * 1.5
    for i in range(1, 21):
        old = x
        x = step(x, float(i))
        assert old.is_deleted(), "a donated argument must be consumed"
        x.block_until_ready()
        assert dev.memory_stats()["bytes_in_use"] == flat, f"step {i}: device memory grew"
        want = want * 1.5 + i
    np.testing.assert_allclose(np.asarray(x), want, rtol=1e-6)


def test_donated_buffer_use_raises():
    x = jax.device_put(np.ones((8,), np.float32), chip())
    y = jax.jit(lambda a: a + 1, donate_argnums=0)(x)
    y.block_until_ready()
    with pytest.raises(RuntimeError, match="(?i)delet|donat"):
        np.asarray(x)


def test_deleted_buffer_use_raises():
    x = jax.device_put(np.ones((8,), np.float32), chip())
    x.delete()
    with pytest.raises(RuntimeError, match="(?i)delet"):
        jax.jit(lambda a: a * 2)(x)


def test_dispatch_is_asynchronous():
    """A program that takes the emulator a while returns a future before it is done."""
    import time
    dev = chip()
    a = jax.device_put(np.random.default_rng(0).standard_normal((1024, 1024), np.float32), dev)
    f = jax.jit(lambda m: jnp.tanh(m @ m) @ m)
    f(a).block_until_ready()            # compile and warm up
    t0 = time.perf_counter()
    out = f(a)
    dispatch = time.perf_counter() - t0
    out.block_until_ready()
    total = time.perf_counter() - t0
    assert dispatch < total / 2, f"dispatch {dispatch:.4f}s vs total {total:.4f}s"
    want = f(jax.device_put(np.asarray(a), jax.devices("cpu")[0]))
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=2e-3, atol=2e-3)


def test_execution_error_reaches_python_and_process_stays_usable():
    """Out of device memory while an execution allocates its outputs: an exception, then the
    process goes on."""
    out = run_python("""
        import jax, jax.numpy as jnp, numpy as np
        big = jax.jit(lambda x: jnp.broadcast_to(x, (64, 1024, 1024)))   # 256 MiB output
        try:
            big(jnp.float32(1)).block_until_ready()
            print("no error")
        except Exception as e:
            print("ERROR", type(e).__name__, str(e).replace(chr(10), " ")[:300])
        y = jax.jit(lambda x: x * 2)(np.arange(4, dtype=np.float32))
        print("after", np.asarray(y).tolist())
        print("in_use", jax.devices()[0].memory_stats()["bytes_in_use"])
    """, env={"JAX_PLATFORMS": "chip", "CHIP_HBM_BYTES": str(64 << 20)})
    lines = out.strip().splitlines()
    assert lines[0].startswith("ERROR"), out
    assert "RESOURCE_EXHAUSTED" in lines[0] or "out of" in lines[0].lower(), lines[0]
    assert lines[1] == "after [0.0, 2.0, 4.0, 6.0]"
    assert int(lines[2].split()[1]) <= 16, "a failed execution must release what it allocated"


def test_persistent_compilation_cache_hits_in_second_process(tmp_path):
    code = """
        import json, jax, jax.numpy as jnp, numpy as np
        from jax._src import monitoring
        events = []
        monitoring.register_event_listener(lambda name, **kw: events.append(name))
        jax.config.update("jax_compilation_cache_dir", %r)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        f = jax.jit(lambda x, y: jnp.tanh(x @ y).sum(axis=0))
        x = np.linspace(-1, 1, 48 * 40, dtype=np.float32).reshape(48, 40)
        out = np.asarray(f(x, x.T))
        print(json.dumps({"hits": events.count("/jax/compilation_cache/cache_hits"),
                          "misses": events.count("/jax/compilation_cache/cache_misses"),
                          "out": out.tolist()}))
    """ % str(tmp_path)
    first = json.loads(run_python(code, env={"JAX_PLATFORMS": "chip"}).strip().splitlines()[-1])
    second = json.loads(run_python(code, env={"JAX_PLATFORMS": "chip"}).strip().splitlines()[-1])
    assert first["misses"] >= 1 and first["hits"] == 0
    assert second["hits"] >= 1 and second["misses"] == 0, "the second process compiled again"
    assert second["out"] == first["out"]
    assert any(tmp_path.iterdir())
