"""Reduce input fusion on the chip (xla_passes/reduce_input_fusion.py): the elementwise
producer of a reduce runs as the Reduce kernel's prologue; results equal cpu's and the reduced
operand is never written to memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_chip.profiler as chip_prof
from parity import check_parity, chip, random_array


def rms_norm(x, w):
    xf = x.astype(jnp.float32)
    y = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + 1e-6)
    return (y * w.astype(jnp.float32)).astype(x.dtype)


def layer_norm_var(x):
    m = x.mean(-1, keepdims=True)
    return ((x - m) ** 2).mean(-1)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("shape", [(1, 256), (7, 33), (64, 1024)], ids=str)
def test_norms_match_cpu(dtype, shape):
    rng = np.random.default_rng(hash(shape) % 2**32)
    x = random_array(rng, shape, dtype)
    w = random_array(rng, shape[-1:], dtype)
    check_parity(rms_norm, x, w)
    check_parity(layer_norm_var, x)


def test_rms_norm_is_two_kernels_and_the_squares_stay_on_chip():
    x = jax.device_put(np.random.default_rng(0).standard_normal((64, 1024)).astype(np.float32),
                       chip())
    w = jax.device_put(np.ones(1024, np.float32), chip())
    f = jax.jit(rms_norm)
    f(x, w).block_until_ready()
    with chip_prof.trace() as prof:
        f(x, w).block_until_ready()
    kernels = [e for e in prof.profile.events if e.get("cat") not in ("execution", "transfer")]
    assert [e["args"]["category"] for e in kernels] == ["reduce", "elementwise"]
    red = kernels[0]["args"]
    # reads x once (4 bytes per element) and the init; writes the 64 row sums; x*x not stored
    assert red["bytes_read"] + red["sram_bytes_read"] == 64 * 1024 * 4 + 4
    assert red["bytes_written"] + red["sram_bytes_written"] == 64 * 4
