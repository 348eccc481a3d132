"""What sglang-jax 0.0.1.post1 needs to run on the chip: `device="chip"` and the `chip`
attention backend. Each function monkeypatches sgl_jax in this process and is idempotent; they
are entries of jax_chip.sglang.fixes.FIXES, so they apply wherever the other fixes do (the
user's process and the spawned scheduler).
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable

from jax_chip.sglang.fixes import _wrap

PLATFORM = "chip"
# Besides the chip, sglang-jax's radix cache and weight loader use the cpu backend.
CHIP_PLATFORMS = "chip,cpu"


def _platforms_for_chip(current: str) -> str:
    names = [p.strip() for p in current.split(",") if p.strip()]
    if PLATFORM not in names:
        names.insert(0, PLATFORM)
    if "cpu" not in names:
        names.append("cpu")
    return ",".join(names)


def fix_chip_device() -> None:
    """ServerArgs requires device == $JAX_PLATFORMS, and infers the device from it. On the chip
    JAX_PLATFORMS must also name cpu (the radix cache and weight loader call
    jax.local_devices(backend="cpu")), so: device="chip" sets JAX_PLATFORMS to "chip,cpu" (or adds
    what is missing), and JAX_PLATFORMS="chip,cpu" with no device means device="chip"."""
    from sgl_jax.srt import server_args

    def make(original: Callable) -> Callable:
        def __post_init__(self: Any) -> None:
            env = os.environ.get("JAX_PLATFORMS", "")
            first = env.split(",")[0].strip() if env else ""
            if self.device == PLATFORM or (not self.device and first == PLATFORM):
                self.device = PLATFORM
                os.environ["JAX_PLATFORMS"] = PLATFORM   # what the original check compares
                try:
                    original(self)
                finally:
                    os.environ["JAX_PLATFORMS"] = _platforms_for_chip(env)
                return
            original(self)

        return __post_init__

    _wrap(server_args.ServerArgs, "__post_init__", make)


def fix_chip_attention_backend_choice() -> None:
    """`--attention-backend` accepts native and fa only: add `chip` (jax_chip.sglang.backend's
    paged backend, whose ops are chip custom calls on the chip)."""
    from sgl_jax.srt import server_args

    def make(original: Callable) -> Callable:
        def add_cli_args(parser: argparse.ArgumentParser) -> None:
            original(parser)
            for action in parser._actions:
                if "--attention-backend" in action.option_strings and action.choices is not None:
                    if PLATFORM not in action.choices:
                        action.choices = list(action.choices) + [PLATFORM]

        return add_cli_args

    original = server_args.ServerArgs.add_cli_args
    if getattr(original, "_jax_chip_patched", False):
        return
    wrapped = make(original)
    wrapped._jax_chip_patched = True  # type: ignore[attr-defined]
    server_args.ServerArgs.add_cli_args = staticmethod(wrapped)


def fix_kv_pool_usage_in_server_info() -> None:
    """Engine.get_server_info()["internal_states"] reports the KV pool only as bytes; add what a
    user sizing the chip's memory needs: tokens and pages in use (held by running requests or
    cached in the radix tree), the page size and the capacity."""
    from sgl_jax.srt.managers import scheduler

    def make(original: Callable) -> Callable:
        def get_internal_state(self: Any, recv_req: Any) -> Any:
            out = original(self, recv_req)
            capacity = int(self.max_total_num_tokens)
            free = int(self.token_to_kv_pool_allocator.available_size())
            page = int(self.page_size)
            used = capacity - free
            out.internal_state["kv_pool"] = {
                "page_size": page,
                "token_capacity": capacity,
                "tokens_in_use": used,
                "pages_in_use": -(-used // page),
                "pages_total": capacity // page,
            }
            return out

        return get_internal_state

    _wrap(scheduler.Scheduler, "get_internal_state", make)


def fix_donate_kv_pool() -> None:
    """ModelRunner jits the model step without donation, so every step copies the whole KV pool
    (on the chip: every KV write would copy the pool, and a step's cost would grow with the pool
    size). The step's K/V outputs replace the pool's buffers right after the call
    (_set_kv_cache_after_forward), so the old buffers can be donated: the pool's buffers travel
    as their own donated argument, and the ForwardBatch the model sees gets them back inside jit.
    The KV write then updates the pool in place."""
    import copy
    from functools import partial

    import jax
    from flax import nnx
    from sgl_jax.srt.model_executor import model_runner

    def make(original: Callable) -> Callable:
        def initialize_jit(self: Any) -> None:
            original(self)
            graphdef = self.graphdef

            @partial(jax.jit, donate_argnums=(1,))
            def run_model(state: Any, kv: Any, input_ids: Any, positions: Any,
                          forward_batch: Any) -> Any:
                forward_batch.token_to_kv_pool.k_buffer = list(kv[0])
                forward_batch.token_to_kv_pool.v_buffer = list(kv[1])
                model = nnx.merge(graphdef, state)
                return model(input_ids, positions, forward_batch)

            def model_fn(state: Any, input_ids: Any, positions: Any, forward_batch: Any) -> Any:
                pool = forward_batch.token_to_kv_pool
                kv = (list(pool.k_buffer), list(pool.v_buffer))
                bare_pool = copy.copy(pool)
                bare_pool.k_buffer, bare_pool.v_buffer = [], []
                bare_batch = copy.copy(forward_batch)
                bare_batch.token_to_kv_pool = bare_pool
                return run_model(state, kv, input_ids, positions, bare_batch)

            self.model_fn = model_fn

        return initialize_jit

    _wrap(model_runner.ModelRunner, "initialize_jit", make)


def fix_jit_last_loc() -> None:
    """schedule_batch.get_last_loc_jax (each request's last KV slot before its new tokens, for
    every extend step with page size > 1) runs eagerly: the compare, subtract, index
    normalisation, gather, full and select are each a device program. Jitted, it is one.
    (The scheduler's other eager indexing, e.g. prepare_for_decode's last_loc, is inline in
    sglang-jax's methods; docs/sglang.md lists what remains.)"""
    import jax
    from sgl_jax.srt.managers import schedule_batch

    def make(original: Callable) -> Callable:
        jitted = jax.jit(original)

        def get_last_loc_jax(req_to_token: Any, req_pool_indices_device: Any,
                             prefix_lens_device: Any) -> Any:
            return jitted(req_to_token, req_pool_indices_device, prefix_lens_device)

        get_last_loc_jax.lower = jitted.lower  # type: ignore[attr-defined]
        return get_last_loc_jax

    _wrap(schedule_batch, "get_last_loc_jax", make)


def fix_jit_logits() -> None:
    """ModelRunner.compute_logits runs the logits processor outside jit, so _get_logits'
    `jnp.dot(hidden, embedding.T)` is two eager programs per step: a transpose that copies the
    whole lm_head table ([vocab, hidden]: 300 MiB for Qwen3-0.6B in bf16, more HBM traffic than
    the rest of a decode step) and a dot. Jitted together, the transpose folds into the matmul's
    contraction dimensions and the dtype promotion into the same program: no copy."""
    from functools import partial

    import jax
    from sgl_jax.srt.layers import logits_processor

    @partial(jax.jit, static_argnames=("promote", "dtype", "vocab_size"))
    def logits(hidden: Any, embedding: Any, *, promote: Callable, dtype: Any,
               vocab_size: int) -> Any:
        hidden, embedding = promote((hidden, embedding), dtype=dtype)
        out = jax.numpy.dot(hidden, embedding.T)
        return out[:, :vocab_size] if out.ndim > 1 else out[:vocab_size]

    def make(_original: Callable) -> Callable:
        def _get_logits(self: Any, hidden_states: Any, lm_head: Any, logits_metadata: Any,
                        embedding_bias: Any = None) -> Any:
            del logits_metadata, embedding_bias   # unused by sglang-jax's version too
            return logits(hidden_states, lm_head.embedding.value, promote=lm_head.promote_dtype,
                          dtype=lm_head.dtype, vocab_size=self.vocab_size)

        return _get_logits

    _wrap(logits_processor.LogitsProcessor, "_get_logits", make)


def fix_req_to_token_in_place() -> None:
    """ReqToTokenPool.write and .free update the request -> KV slot table with eager
    `.at[...].set`, which copies the whole table ([max requests, context length] int32: 40 MiB
    for 256 requests of 40k tokens) for every request of every prefill and for every decode
    step. The pool replaces its table by the result at once, so the old one can be donated:
    jitted with donation, the chip updates the rows in place (dynamic_update_slice / scatter)."""
    from functools import partial

    import jax
    import numpy as np
    from jax import lax
    from sgl_jax.srt.mem_cache import memory_pool

    @partial(jax.jit, donate_argnums=0)
    def set_row_range(table: Any, row: Any, start: Any, values: Any) -> Any:
        return lax.dynamic_update_slice(table, values.astype(table.dtype)[None, :], (row, start))

    @partial(jax.jit, donate_argnums=0)
    def set_points(table: Any, rows: Any, cols: Any, values: Any) -> Any:
        return table.at[rows, cols].set(values.astype(table.dtype))

    @partial(jax.jit, donate_argnums=0)
    def clear_row(table: Any, row: Any) -> Any:
        return lax.dynamic_update_slice(table, jax.numpy.zeros((1, table.shape[1]), table.dtype),
                                        (row, 0))

    def row_range(table: Any, indices: Any, values: Any) -> Any:
        """The (row, start, values) of a write of one row's [start, stop) range, or None."""
        if not (isinstance(indices, tuple) and len(indices) == 2
                and isinstance(indices[1], slice) and indices[1].step in (None, 1)):
            return None
        row, sl = indices
        start, stop, _ = sl.indices(table.shape[1])
        values = jax.numpy.asarray(values)
        if np.ndim(row) != 0 or values.shape != (max(stop - start, 0),):
            return None
        return row, start, values

    def make_write(original: Callable) -> Callable:
        def write(self: Any, indices: Any, values: Any) -> None:
            table = self.req_to_token
            ranged = row_range(table, indices, values)
            if ranged is not None:
                row, start, vals = ranged
                if vals.shape[0]:
                    self.req_to_token = set_row_range(table, row, start, vals)
                return
            if (isinstance(indices, tuple) and len(indices) == 2
                    and not any(isinstance(i, slice) for i in indices)):
                self.req_to_token = set_points(table, *indices, jax.numpy.asarray(values))
                return
            original(self, indices, values)

        return write

    def make_free(original: Callable) -> Callable:
        def free(self: Any, free_index: Any) -> None:
            rows = [free_index] if isinstance(free_index, int) else list(free_index)
            self.free_slots.extend(rows)
            for row in rows:
                self.req_to_token = clear_row(self.req_to_token, row)

        return free

    _wrap(memory_pool.ReqToTokenPool, "write", make_write)
    _wrap(memory_pool.ReqToTokenPool, "free", make_free)

