#!/usr/bin/env python3
"""One Qwen3-MoE block (sglang-jax's EPMoE with jax_chip.sglang's patches) jitted on the chip:
its output against a float64 numpy reference of HF's Qwen3MoeSparseMoeBlock (softmax over all
experts, top k, renormalized; SwiGLU experts), and its modeled chip time, for each
experts:top_k configuration given. Prints one JSON line per configuration.

    python tests/sglang/moe_layer.py --configs 8:2,64:2,8:4 [--tokens 4096]

Used by tests/sglang/test_moe.py (in its own process: the tests of tests/sglang run JAX on cpu).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from types import SimpleNamespace

os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))

EPS32 = 2.0 ** -24


def reference(x, logits, w0, w1, wo, k):
    """HF's block in float64, and the magnitude each output element's f32 error scales with."""
    import numpy as np

    x, w0, w1, wo = (a.astype(np.float64) for a in (x, w0, w1, wo))
    z = logits.astype(np.float64)
    probs = np.exp(z - z.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    top = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    weights = np.take_along_axis(probs, top, -1)
    weights /= weights.sum(-1, keepdims=True)
    out = np.zeros_like(x)
    mag = np.zeros_like(x)
    for t in range(x.shape[0]):
        for j in range(k):
            e = top[t, j]
            g, u = x[t] @ w0[e], x[t] @ w1[e]
            out[t] += weights[t, j] * ((g / (1 + np.exp(-g)) * u) @ wo[e])
            a0, a1 = np.abs(x[t]) @ np.abs(w0[e]), np.abs(x[t]) @ np.abs(w1[e])
            mag[t] += weights[t, j] * ((a0 * a1) @ np.abs(wo[e]))
    return out, mag


def run_config(experts: int, k: int, tokens: int, hidden: int, inter: int,
               device: str = "chip") -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx
    from sgl_jax.srt.layers.moe import EPMoE

    import jax_chip.profiler as chip_prof

    rng = np.random.default_rng(experts * 100 + k)
    chip = jax.devices(device)[0]
    mesh = jax.sharding.Mesh(np.array([chip]).reshape(1, 1), ("data", "tensor"))
    config = SimpleNamespace(hidden_size=hidden, norm_topk_prob=True)
    with mesh:
        layer = EPMoE(config=config, num_experts=experts, num_experts_per_tok=k,
                      expert_parallel_size=1, mesh=mesh, intermediate_dim=inter,
                      weight_dtype=jnp.float32, dtype=jnp.float32, rngs=nnx.Rngs(0))
    w0 = (rng.standard_normal((experts, hidden, inter)) / np.sqrt(hidden)).astype(np.float32)
    w1 = (rng.standard_normal((experts, hidden, inter)) / np.sqrt(hidden)).astype(np.float32)
    wo = (rng.standard_normal((experts, inter, hidden)) / np.sqrt(inter)).astype(np.float32)
    layer.wi_0.value = jax.device_put(w0, chip)
    layer.wi_1.value = jax.device_put(w1, chip)
    layer.wo.value = jax.device_put(wo, chip)
    x = rng.standard_normal((tokens, hidden)).astype(np.float32)
    logits = (4.0 * rng.standard_normal((tokens, experts))).astype(np.float32)

    graphdef, state = nnx.split(layer)
    step = jax.jit(lambda state, x, z: nnx.merge(graphdef, state)(x, router_logits=z))
    args = (state, jax.device_put(x, chip), jax.device_put(logits, chip))
    got = np.asarray(step(*args))
    modeled_us, cats, by_cat = 0.0, {}, {}
    if device == "chip":
        with chip_prof.trace() as t:
            step(*args).block_until_ready()
        modeled_us = t.profile.summary().device_time_us
        by_cat = t.profile.summary().by_category
        for e in t.profile.events:
            if e.get("cat") not in ("execution", "transfer"):
                cats[e.get("cat")] = cats.get(e.get("cat"), 0) + 1
    want, mag = reference(x, logits, w0, w1, wo, k)
    bound = 2 * (inter + 2 * hidden + 10) * EPS32 * mag
    err = np.abs(got.astype(np.float64) - want)
    return {"experts": experts, "top_k": k, "tokens": tokens,
            "modeled_us": modeled_us, "kernel_counts": cats, "by_category_us": by_cat,
            "max_err": float(err.max()), "max_err_over_bound": float((err / bound).max())}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="8:2,64:2,8:4", help="experts:top_k,...")
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--intermediate", type=int, default=128)
    ap.add_argument("--device", default="chip", help="a JAX platform (cpu: no chip profile)")
    args = ap.parse_args(argv)
    import jax_chip.sglang as integration

    integration.apply()
    for spec in args.configs.split(","):
        e, k = (int(v) for v in spec.split(":"))
        print(json.dumps(run_config(e, k, args.tokens, args.hidden, args.intermediate,
                                    args.device)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
