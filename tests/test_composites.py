"""Composite programs on the chip against the cpu backend: jax.nn functions, normalizations,
RoPE, masked softmax, sglang-jax's top-k/top-p sampler, a flax nnx transformer block, and a
lax.scan decode loop with a KV cache (scan lowers to stablehlo.while)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

from parity import check_parity, random_array

RNG = np.random.default_rng(2024)
BF16 = ml_dtypes.bfloat16


def rand(*shape, dtype=np.float32, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


# ---- jax.nn ------------------------------------------------------------------------------------

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "gelu_tanh": functools.partial(jax.nn.gelu, approximate=True),
    "gelu_erf": functools.partial(jax.nn.gelu, approximate=False),
    "silu": jax.nn.silu,
    "softmax": functools.partial(jax.nn.softmax, axis=-1),
    "log_softmax": functools.partial(jax.nn.log_softmax, axis=-1),
    "logsumexp": functools.partial(jax.nn.logsumexp, axis=-1),
    "standardize": functools.partial(jax.nn.standardize, axis=-1),
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
}


@pytest.mark.parametrize("dtype", [np.float32, BF16])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_jax_nn(name, dtype):
    x = random_array(RNG, (6, 40), dtype, -6.0, 6.0)
    check_parity(ACTIVATIONS[name], x, what=name)


def test_logsumexp_with_where_and_large_values():
    x = rand(4, 33, scale=30.0)
    mask = RNG.random((4, 33)) > 0.3
    check_parity(lambda x, m: jax.nn.logsumexp(x, axis=-1, where=m), x, mask)


def test_one_hot():
    labels = RNG.integers(-2, 12, size=(5, 7)).astype(np.int32)
    check_parity(lambda i: jax.nn.one_hot(i, 10), labels)
    check_parity(lambda i: jax.nn.one_hot(i, 10, dtype=jnp.bfloat16), labels)
    check_parity(lambda i: jax.nn.one_hot(i, 10, dtype=jnp.int32, axis=0), labels)


# ---- normalizations, RoPE, masked softmax -------------------------------------------------------

def layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = jnp.square(x - mu).mean(-1, keepdims=True)
    return (x - mu) * lax.rsqrt(var + eps) * g + b


def rms_norm(x, g, eps=1e-6):
    xf = x.astype(jnp.float32)
    y = xf * lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + eps)
    return (y * g.astype(jnp.float32)).astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float32, BF16])
def test_layer_norm_and_rms_norm(dtype):
    x = rand(8, 64, dtype=dtype, scale=3.0)
    g, b = rand(64, dtype=dtype), rand(64, dtype=dtype)
    check_parity(layer_norm, x, g, b)
    check_parity(rms_norm, x, g)


def rope(x, positions, theta=10000.0):
    """Rotary embedding as Qwen/Llama (and sglang-jax) apply it: the two halves rotated."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (jnp.arange(0, d, 2, dtype=jnp.float32) / d))
    freqs = positions.astype(jnp.float32)[:, None] * inv[None, :]           # [T, d/2]
    cos, sin = jnp.cos(freqs)[:, None, :], jnp.sin(freqs)[:, None, :]       # [T, 1, d/2]
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return out.astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float32, BF16])
def test_rope(dtype):
    x = rand(12, 4, 32, dtype=dtype)
    positions = RNG.integers(0, 4096, size=(12,)).astype(np.int32)
    check_parity(rope, x, positions)


def test_masked_softmax_causal_and_padding():
    def f(s, lens):
        t = s.shape[-1]
        causal = jnp.tril(jnp.ones((t, t), bool))
        valid = jnp.arange(t)[None, :] < lens[:, None]                 # [B, T] key padding
        mask = causal[None] & valid[:, None, :]
        s = jnp.where(mask, s, jnp.finfo(s.dtype).min)
        return jax.nn.softmax(s, axis=-1)
    scores = rand(3, 9, 9, scale=4.0)
    lens = np.array([9, 5, 1], np.int32)
    check_parity(f, scores, lens)
    check_parity(lambda s, m: jax.nn.softmax(s, axis=-1, where=m), scores,
                 RNG.random((3, 9, 9)) > 0.2)


# ---- sglang-jax's sampler -----------------------------------------------------------------------

def test_sglang_greedy_and_top_k_top_p_sampling():
    """sgl_jax.srt.layers.sampler: softmax with temperature, then top-k / top-p / min-p masking
    of the sorted probabilities and jax.random.categorical (threefry) over them."""
    from sgl_jax.srt.layers import sampler

    def sample(logits, temperatures, top_ks, top_ps, min_ps, key):
        probs = jax.nn.softmax(logits / temperatures, axis=-1)
        _, rng = jax.random.split(key)
        return sampler.top_k_top_p_min_p_sampling_from_probs_jax(
            probs, top_ks, top_ps, min_ps, True, rng)

    b, v = 4, 96
    logits = rand(b, v, scale=3.0)
    temperatures = np.array([[0.7], [1.0], [1.3], [0.5]], np.float32)
    top_ks = np.array([1, 5, 40, 96], np.int32)
    top_ps = np.array([1.0, 0.9, 0.5, 0.8], np.float32)
    min_ps = np.array([0.0, 0.05, 0.0, 0.1], np.float32)
    draws = []
    for seed in range(4):
        key = jax.random.key_data(jax.random.PRNGKey(seed))
        draws.append(check_parity(lambda *a: sample(*a[:-1], jax.random.wrap_key_data(a[-1])),
                                  logits, temperatures, top_ks, top_ps, min_ps, np.asarray(key)))
    assert all(0 <= t < v for d in draws for t in d)
    assert len({tuple(d) for d in draws}) > 1          # the key matters
    check_parity(lambda x: jnp.argmax(x, -1).flatten(), logits)          # the greedy path


# ---- flax nnx transformer block ------------------------------------------------------------------

def _flax_block(d=64, heads=4, ffn=128, dtype=jnp.float32):
    from flax import nnx

    class Block(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.norm1 = nnx.RMSNorm(d, dtype=dtype, rngs=rngs)
            self.attn = nnx.MultiHeadAttention(num_heads=heads, in_features=d, dtype=dtype,
                                               decode=False, rngs=rngs)
            self.norm2 = nnx.LayerNorm(d, dtype=dtype, rngs=rngs)
            self.up = nnx.Linear(d, ffn, dtype=dtype, rngs=rngs)
            self.gate = nnx.Linear(d, ffn, dtype=dtype, rngs=rngs)
            self.down = nnx.Linear(ffn, d, dtype=dtype, rngs=rngs)

        def __call__(self, x):
            t = x.shape[-2]
            mask = nnx.make_causal_mask(jnp.ones(x.shape[:-1]))
            h = self.norm1(x)
            x = x + self.attn(h, mask=mask)
            h = self.norm2(x)
            return x + self.down(jax.nn.silu(self.gate(h)) * jax.nn.gelu(self.up(h)))

    with jax.default_device(jax.devices("cpu")[0]):     # parameters are made on the host
        model = Block(nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    # random (not default-initialized) norm scales and biases
    state = jax.tree_util.tree_map(
        lambda p: jnp.asarray(np.asarray(p) + rand(*p.shape, scale=0.1).astype(p.dtype)), state)
    return graphdef, state


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_flax_nnx_transformer_block(dtype):
    from flax import nnx
    graphdef, state = _flax_block(dtype=dtype)

    def forward(state, x):
        return nnx.merge(graphdef, state)(x)

    x = rand(2, 10, 64).astype(dtype)
    # outputs are O(1): absolute tolerances of a few ulp at that scale (f32: 1e-5; bf16: two
    # ulp of 4, since a rounding flip early in a bf16 chain moves later values by an ulp)
    tol = dict(atol=1e-5) if dtype == jnp.float32 else dict(rtol=3e-2, atol=6.25e-2)
    check_parity(forward, state, x, **tol)


# ---- a lax.scan decode loop ---------------------------------------------------------------------

def _decode_params(vocab=64, d=32, layers=2):
    return {
        "embed": rand(vocab, d, scale=0.5),
        "wqkv": rand(layers, d, 3 * d, scale=0.2),
        "wo": rand(layers, d, d, scale=0.2),
        "g": rand(layers, d, scale=0.1) + 1.0,
        "lm_head": rand(d, vocab, scale=0.3),
    }


def decode(params, prompt_token, steps: int, max_len: int = 16):
    """Greedy decoding with a KV cache: lax.scan over steps, lax.scan over stacked layers; the
    cache is updated with dynamic_update_slice at the current position."""
    layers, d = params["wqkv"].shape[0], params["wqkv"].shape[1]
    cache = jnp.zeros((layers, 2, max_len, d), jnp.float32)

    def layer(carry, lp):
        h, pos, cache_l = carry
        wqkv, wo, g = lp
        x = h * lax.rsqrt(jnp.mean(h * h) + 1e-6) * g
        q, k, v = jnp.split(x @ wqkv, 3)
        cache_l = lax.dynamic_update_slice(cache_l, jnp.stack([k, v])[:, None, :], (0, pos, 0))
        s = cache_l[0] @ q / jnp.sqrt(float(d))
        s = jnp.where(jnp.arange(max_len) <= pos, s, -1e30)
        o = jax.nn.softmax(s) @ cache_l[1]
        return (h + o @ wo, pos, cache_l), None

    def step(carry, _):
        token, pos, cache = carry
        h = params["embed"][token]
        new_layers = []
        for li in range(layers):     # unrolled over the layer caches, scanned inside
            (h, _, c), _ = layer((h, pos, cache[li]), (params["wqkv"][li], params["wo"][li],
                                                       params["g"][li]))
            new_layers.append(c)
        cache = jnp.stack(new_layers)
        logits = h @ params["lm_head"]
        nxt = jnp.argmax(logits).astype(jnp.int32)
        return (nxt, pos + 1, cache), (nxt, logits.max())

    (_, _, cache), (tokens, best) = lax.scan(step, (prompt_token, jnp.int32(0), cache), None,
                                              length=steps)
    return tokens, best, cache


def test_scan_decode_loop():
    params = _decode_params()
    check_parity(lambda p, t: decode(p, t, steps=6), params, np.int32(5))


def test_scan_over_stacked_layers():
    def f(x, ws, gs):
        def layer(h, wg):
            w, g = wg
            return jax.nn.gelu(rms_norm(h, g) @ w) + h, jnp.linalg.norm(h)
        return lax.scan(layer, x, (ws, gs))
    check_parity(f, rand(4, 32), rand(4, 32, 32, scale=0.2), rand(4, 32))
