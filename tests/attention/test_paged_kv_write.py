"""jax_chip.ops.paged_kv_write against a plain numpy loop."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jax_chip.ops import paged_kv_write  # noqa: E402


def _expected(pool: np.ndarray, new: np.ndarray, slots: np.ndarray) -> np.ndarray:
    out = pool.copy()
    for t, s in enumerate(slots):
        if 0 <= s < pool.shape[0]:
            out[s] = new[t].astype(pool.dtype)
    return out


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
@pytest.mark.parametrize("page", [1, 16, 64])
def test_write_drops_padding_and_out_of_range(dtype, page: int) -> None:
    rng = np.random.default_rng(page)
    rows = max(4 * page, 32) + page  # sglang-jax: size + page_size
    k_pool = rng.standard_normal((rows, 2, 32)).astype(dtype)
    v_pool = rng.standard_normal((rows, 2, 32)).astype(dtype)
    tokens = 24
    slots = rng.choice(np.arange(rows - 1), size=tokens, replace=False).astype(np.int32)
    slots[[3, 9, 20]] = -1          # padding
    slots[5] = rows                 # one past the end
    slots[7] = rows + 1000          # far past the end
    slots[11] = -5                  # negative but not -1: also dropped (no wrap-around)
    k_new = rng.standard_normal((tokens, 2, 32)).astype(np.float32)  # cast to pool dtype
    v_new = rng.standard_normal((tokens, 2, 32)).astype(np.float32)
    k_out, v_out = jax.jit(paged_kv_write, donate_argnums=(0, 1))(
        jnp.asarray(k_pool), jnp.asarray(v_pool), jnp.asarray(k_new), jnp.asarray(v_new),
        jnp.asarray(slots))
    assert k_out.dtype == k_pool.dtype and k_out.shape == k_pool.shape
    np.testing.assert_array_equal(np.asarray(k_out), _expected(k_pool, k_new, slots))
    np.testing.assert_array_equal(np.asarray(v_out), _expected(v_pool, v_new, slots))
    # The last row (where -1 would land with Python-style wrap-around) is untouched.
    np.testing.assert_array_equal(np.asarray(k_out)[-1], k_pool[-1])


def test_write_errors_name_the_argument() -> None:
    pool = jnp.zeros((16, 2, 8))
    with pytest.raises(ValueError, match=r"k_new must be \[tokens, 2, 8\]"):
        paged_kv_write(pool, pool, jnp.ones((3, 4, 8)), jnp.ones((3, 2, 8)),
                       jnp.zeros(3, jnp.int32))
    with pytest.raises(ValueError, match=r"slots must be \[3\]"):
        paged_kv_write(pool, pool, jnp.ones((3, 2, 8)), jnp.ones((3, 2, 8)),
                       jnp.zeros(4, jnp.int32))
    with pytest.raises(ValueError, match="slots must be an integer array"):
        paged_kv_write(pool, pool, jnp.ones((3, 2, 8)), jnp.ones((3, 2, 8)),
                       jnp.zeros(3, jnp.float32))
