"""Data movement of fp8 and int4 values (concatenate, pad, gather, dynamic_slice,
dynamic_update_slice) on the chip against the cpu backend, bit for bit
(xla_passes/low_precision_movement.py): an fp8 KV cache is written with dynamic_update_slice and
read with gathers; int4 weights are concatenated and sliced."""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

from parity import chip, cpu, run

LOW = [ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fnuz,
       ml_dtypes.float8_e5m2fnuz, ml_dtypes.int4, ml_dtypes.uint4]


def _random(rng: np.random.Generator, shape: tuple[int, ...], t: Any) -> np.ndarray:
    if "float8" in np.dtype(t).name:
        # every finite bit pattern of the fp8 type, NaNs excluded (their payload is kept too, but
        # cpu may quiet them on the way)
        bits = rng.integers(0, 256, size=shape).astype(np.uint8).view(t)
        return np.where(np.isfinite(bits.astype(np.float32)), bits, np.zeros((), t)).astype(t)
    info = ml_dtypes.iinfo(t)
    return rng.integers(int(info.min), int(info.max) + 1, size=shape).astype(t)


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if "float8" in got.dtype.name:
        got, want = got.view(np.uint8), want.view(np.uint8)
    np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64))


MOVES: dict[str, Callable[..., Any]] = {
    "concatenate": lambda x, u, i: jnp.concatenate([x, u, x[:1]], axis=0),
    "pad": lambda x, u, i: lax.pad(x, x[0, 0], ((1, -1, 1), (2, 0, 0))),
    "gather": lambda x, u, i: jnp.take(x, i, axis=1, mode="clip"),
    "strided": lambda x, u, i: x[::-2, 1::3],
    "dynamic_slice": lambda x, u, i: lax.dynamic_slice(x, (i[0], i[1]), (3, 4)),
    "dynamic_update_slice": lambda x, u, i: lax.dynamic_update_slice(x, u, (i[2], i[0])),
    "kv_write_then_read": lambda x, u, i: jnp.take(x.at[i[:3]].set(u[:3]), i, axis=0, mode="clip"),
}


@pytest.mark.parametrize("name", sorted(MOVES))
@pytest.mark.parametrize("t", LOW, ids=lambda t: np.dtype(t).name)
def test_low_precision_data_movement_matches_cpu_bit_for_bit(t: Any, name: str) -> None:
    rng = np.random.default_rng(abs(hash((np.dtype(t).name, name))) % 2 ** 32)
    x = _random(rng, (6, 9), t)
    u = _random(rng, (3, 9), t)
    i = rng.integers(0, 6, size=(5,)).astype(np.int32)
    f = MOVES[name]
    got, want = run(f, chip(), x, u, i), run(f, cpu(), x, u, i)
    assert got.size > 0
    _same_bits(got, want)


@pytest.mark.parametrize("t", [ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2],
                         ids=lambda t: np.dtype(t).name)
def test_reduce_of_bitcast_fp8_bytes(t: Any) -> None:
    """A bitcast of fp8 to u8 read by a reduce: the bitcast is not fused into the Reduce kernel
    (which does not read fp8), so it compiles and matches cpu (it was an internal error)."""
    x = _random(np.random.default_rng(3), (4, 4, 7), t)
    f = lambda v: jnp.max(lax.bitcast_convert_type(v, jnp.uint8), axis=(0, 1))
    np.testing.assert_array_equal(run(f, chip(), x), run(f, cpu(), x))


@pytest.mark.parametrize("t", [ml_dtypes.int4, ml_dtypes.uint4], ids=lambda t: np.dtype(t).name)
def test_argmin_of_int4_is_a_clear_rejection(t: Any) -> None:
    """argmin/argmax reduce int4 values, which no reduce kernel reads: a clear UNIMPLEMENTED naming
    the op and the type (it was an internal error while recognizing the argmin body)."""
    x = _random(np.random.default_rng(5), (6,), t)
    with pytest.raises(Exception, match=r"UNIMPLEMENTED.*variadic_reduce on [su]4 is not supported"):
        run(lambda v: jnp.argmin(v, axis=0), chip(), x)
