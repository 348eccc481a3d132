"""Python threads sharing the chip: 8 threads dispatch jitted programs (with donation) and
host transfers interleaved, to one chip and to four chips. Every result is checked against
numpy, each thread's chain of dependent calls keeps its order, and the run is bounded (a
deadlock fails instead of hanging). The C++ counterpart, run under ThreadSanitizer, is
pjrt_plugin/tests/api_concurrency_test.cc."""

from __future__ import annotations

import gc
import json

from parity import chip
from subproc import run_python

THREADS = 8
STEPS = 12
DEADLINE_S = 240

WORKLOAD = r"""
import concurrent.futures, functools, json
import jax, jax.numpy as jnp, numpy as np


@functools.partial(jax.jit, donate_argnums=0)
def step(acc, w, b):
    # acc <- tanh(acc @ w) + b: the output reuses acc's memory (donated).
    return jnp.tanh(acc @ w) + b


@jax.jit
def total(acc):
    return jnp.sum(acc, axis=0)


def reference(acc, ws, bs):
    acc = acc.astype(np.float64)
    for w, b in zip(ws, bs):
        acc = np.tanh(acc @ w.astype(np.float64)) + b
    return acc


def worker(t, device, steps):
    rng = np.random.default_rng(100 + t)
    acc0 = rng.standard_normal((16, 32)).astype(np.float32)
    ws = [(rng.standard_normal((32, 32)) / 6).astype(np.float32) for _ in range(steps)]
    bs = [rng.standard_normal(32).astype(np.float32) for _ in range(steps)]
    acc = jax.device_put(acc0, device)
    for i in range(steps):
        old = acc
        acc = step(acc, jax.device_put(ws[i], device), jax.device_put(bs[i], device))
        assert old.is_deleted(), "the donated argument must be consumed"
        if i % 4 == 3:   # a host round trip mid-chain, and a read of a derived value
            mid = np.asarray(acc)
            np.testing.assert_allclose(mid, reference(acc0, ws[: i + 1], bs[: i + 1]), rtol=0, atol=1e-4)
            acc = jax.device_put(mid, device)
            np.testing.assert_allclose(np.asarray(total(acc)), mid.astype(np.float64).sum(0), rtol=0, atol=1e-3)
    assert acc.devices() == {device}
    np.testing.assert_allclose(np.asarray(acc), reference(acc0, ws, bs), rtol=0, atol=1e-4)
    return t


def run(devices, threads, steps, deadline):
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(worker, t, devices[t % len(devices)], steps) for t in range(threads)]
        done, pending = concurrent.futures.wait(futures, timeout=deadline)
        assert not pending, f"{len(pending)} of {threads} threads did not finish in {deadline} s (deadlock?)"
        return sorted(f.result() for f in done)
"""

namespace: dict = {}
exec(compile(WORKLOAD, "concurrency_workload", "exec"), namespace)


def test_eight_threads_on_one_chip():
    before = chip().memory_stats()["bytes_in_use"]
    assert namespace["run"]([chip()], THREADS, STEPS, DEADLINE_S) == list(range(THREADS))
    gc.collect()
    assert chip().memory_stats()["bytes_in_use"] == before   # every thread's buffers were freed


def test_eight_threads_on_four_chips():
    out = run_python(WORKLOAD + f"""
devices = jax.devices("chip")
assert len(devices) == 4, devices
print(json.dumps(run(devices, {THREADS}, {STEPS}, {DEADLINE_S})))
""", env={"CHIP_NUM_DEVICES": "4", "JAX_PLATFORMS": "chip"}, timeout=DEADLINE_S + 60)
    assert json.loads(out.strip().splitlines()[-1]) == list(range(THREADS))
