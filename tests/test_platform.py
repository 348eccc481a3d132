"""The chip as a JAX platform: devices, configuration, memory stats, transfers between chips."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from parity import ALL_DTYPES, chip, random_array
from subproc import run_python


def test_devices_listed():
    devs = jax.devices("chip")
    assert len(devs) == 1
    assert devs[0].platform == "chip"
    assert devs[0].device_kind == "chip"
    assert jax.devices()[0].platform == "chip"  # the chip is the default backend


def test_n_devices_and_copies_between_them():
    out = run_python("""
        import json, jax, jax.numpy as jnp, numpy as np
        devs = jax.devices()
        x = jax.device_put(np.arange(1000, dtype=np.float32).reshape(10, 100), devs[0])
        y = jax.device_put(x, devs[2])             # chip 0 -> chip 2
        z = jax.jit(lambda a: a * 2, device=devs[2])(y)
        print(json.dumps({"n": len(devs), "platforms": sorted({d.platform for d in devs}),
                          "ids": [d.id for d in devs], "y_dev": y.devices().pop().id,
                          "ok": bool(np.array_equal(np.asarray(z), np.asarray(x) * 2))}))
    """, env={"JAX_PLATFORMS": "chip", "CHIP_NUM_DEVICES": "3"})
    r = json.loads(out.strip().splitlines()[-1])
    assert r == {"n": 3, "platforms": ["chip"], "ids": [0, 1, 2], "y_dev": 2, "ok": True}


def test_config_file_sets_hbm_and_devices(tmp_path):
    cfg = tmp_path / "chip.toml"
    cfg.write_text('num_devices = 2\nhbm_bytes = "256MiB"\n')
    out = run_python("""
        import jax
        print(len(jax.devices()), jax.devices()[1].memory_stats()["bytes_limit"])
    """, env={"JAX_PLATFORMS": "chip", "CHIP_CONFIG": str(cfg)})
    assert out.split() == ["2", str(256 << 20)]


def test_bad_config_is_a_clear_error():
    with pytest.raises(AssertionError, match="num_devices"):
        run_python("import jax; jax.devices()", env={"JAX_PLATFORMS": "chip", "CHIP_NUM_DEVICES": "99"})


def test_memory_stats_track_allocations():
    dev = chip()
    base = dev.memory_stats()
    for key in ("bytes_in_use", "peak_bytes_in_use", "bytes_limit"):
        assert key in base, key
    assert base["bytes_limit"] == 16 << 30
    x = jax.device_put(np.ones((1024, 1024), np.float32), dev)  # 4 MiB
    y = jax.jit(lambda a: a + 1)(x)
    y.block_until_ready()
    during = dev.memory_stats()
    assert during["bytes_in_use"] == base["bytes_in_use"] + 2 * 4 * 1024 * 1024
    assert during["peak_bytes_in_use"] >= during["bytes_in_use"]
    x.delete()
    y.delete()
    assert dev.memory_stats()["bytes_in_use"] == base["bytes_in_use"]


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint8) if a.dtype.itemsize == 1 else a.view(f"u{a.dtype.itemsize}")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 0, 2), (7, 129), (2, 3, 5, 7)], ids=str)
def test_round_trip_bit_exact(dtype, shape):
    rng = np.random.default_rng(0)
    x = random_array(rng, shape, dtype)
    if np.dtype(dtype).kind == "f" and x.size:
        x.flat[0] = np.nan if x.size > 1 else x.flat[0]
    arr = jax.device_put(x, chip())
    assert arr.devices() == {chip()}
    back = np.asarray(jax.device_get(arr))
    assert back.dtype == x.dtype and back.shape == x.shape
    np.testing.assert_array_equal(_bits(back), _bits(x))


def test_round_trip_non_contiguous_host_array():
    x = np.arange(60, dtype=np.int32).reshape(6, 10)[:, ::3]   # strided numpy view
    back = np.asarray(jax.device_get(jax.device_put(x, chip())))
    np.testing.assert_array_equal(back, x)
