"""Performance: sglang-jax 0.0.1.post1 computes these right but copies or launches more than it
needs to; on the chip every eager jnp op is a device program and every copy is HBM traffic."""

from __future__ import annotations

import copy
from functools import partial
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from jax_chip.sglang.patching import Category, Patch


def _donate_kv_pool(original: Callable) -> Callable:
    import jax
    from flax import nnx

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


def _jit_last_loc(original: Callable) -> Callable:
    import jax

    jitted = jax.jit(original)

    def get_last_loc_jax(req_to_token: Any, req_pool_indices_device: Any,
                         prefix_lens_device: Any) -> Any:
        return jitted(req_to_token, req_pool_indices_device, prefix_lens_device)

    get_last_loc_jax.lower = jitted.lower  # type: ignore[attr-defined]
    return get_last_loc_jax


def _jit_logits(original: Callable) -> Callable:
    import jax

    @partial(jax.jit, static_argnames=("promote", "dtype", "vocab_size"))
    def logits(hidden: Any, embedding: Any, *, promote: Callable, dtype: Any,
               vocab_size: int) -> Any:
        # upstream's own _get_logits, traced with the lm_head's parts as plain values
        head = SimpleNamespace(promote_dtype=promote, dtype=dtype,
                               embedding=SimpleNamespace(value=embedding))
        return original(SimpleNamespace(vocab_size=vocab_size), hidden, head, None)

    def _get_logits(self: Any, hidden_states: Any, lm_head: Any, logits_metadata: Any,
                    embedding_bias: Any = None) -> Any:
        del logits_metadata, embedding_bias   # unused by sglang-jax's version too
        return logits(hidden_states, lm_head.embedding.value, promote=lm_head.promote_dtype,
                      dtype=lm_head.dtype, vocab_size=self.vocab_size)

    return _get_logits


def _row_range(table: Any, indices: Any, values: Any) -> Any:
    """The (row, start, values) of a write of one row's [start, stop) range, or None."""
    import jax

    if not (isinstance(indices, tuple) and len(indices) == 2
            and isinstance(indices[1], slice) and indices[1].step in (None, 1)):
        return None
    row, sl = indices
    start, stop, _ = sl.indices(table.shape[1])
    values = jax.numpy.asarray(values)
    if np.ndim(row) != 0 or values.shape != (max(stop - start, 0),):
        return None
    return row, start, values


def _req_to_token_write(original: Callable) -> Callable:
    import jax
    from jax import lax

    @partial(jax.jit, donate_argnums=0)
    def set_row_range(table: Any, row: Any, start: Any, values: Any) -> Any:
        return lax.dynamic_update_slice(table, values.astype(table.dtype)[None, :], (row, start))

    @partial(jax.jit, donate_argnums=0)
    def set_points(table: Any, rows: Any, cols: Any, values: Any) -> Any:
        return table.at[rows, cols].set(values.astype(table.dtype))

    def write(self: Any, indices: Any, values: Any) -> None:
        table = self.req_to_token
        ranged = _row_range(table, indices, values)
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


def _req_to_token_free(_original: Callable) -> Callable:
    import jax
    from jax import lax

    @partial(jax.jit, donate_argnums=0)
    def clear_row(table: Any, row: Any) -> Any:
        return lax.dynamic_update_slice(table, jax.numpy.zeros((1, table.shape[1]), table.dtype),
                                        (row, 0))

    def free(self: Any, free_index: Any) -> None:
        rows = [free_index] if isinstance(free_index, int) else list(free_index)
        self.free_slots.extend(rows)
        for row in rows:
            self.req_to_token = clear_row(self.req_to_token, row)

    return free


MEMORY_POOL = "sgl_jax.srt.mem_cache.memory_pool"


def _moe_grouped_matmul(_original: Callable) -> Callable:
    import jax.numpy as jnp

    def _single_device_forward(self: Any, inputs: Any, top_k_indices: Any,
                               top_k_weights: Any) -> Any:
        # upstream's own helpers for the sort by expert and the three grouped matmuls
        # (lax.ragged_dot: chlo.ragged_dot, the chip's RaggedDot kernel); each token's k rows
        # are then gathered back and weighted on the vector unit (upstream's _unpermute does
        # that as a dot_general batched over tokens, [k, hidden] x [k] each, which the matrix
        # unit would run as one padded tile per token).
        shape = inputs.shape
        flat = inputs.reshape(-1, shape[-1])
        tokens, k = flat.shape[0], self.num_experts_per_tok
        x, order, weights, group_sizes, experts = self._permute(
            flat, top_k_indices.reshape(tokens, k), top_k_weights.reshape(tokens, k))
        out = self._gmm_compute_with_sharded_weights(
            x, group_sizes, experts, self.wi_0.value, self.wi_1.value, self.wo.value)
        rows = jnp.take(out, jnp.argsort(order), axis=0).reshape(tokens, k, -1)
        combined = jnp.sum(rows.astype(jnp.float32) * weights.astype(jnp.float32)[..., None],
                           axis=1)
        return combined.astype(self.dtype).reshape(shape)

    return _single_device_forward


PATCHES = (
    Patch(
        name="donate_kv_pool", category=Category.PERFORMANCE,
        module="sgl_jax.srt.model_executor.model_runner", qualname="ModelRunner.initialize_jit",
        sha256="2f719a7af7332b09a6953e6c173489cc8a696e306f52d3aa8789e7099be7c1a8",
        why="the model step's jit donates the KV pool's buffers (their own argument), so the "
            "KV write updates the pool in place instead of copying it every step",
        make=_donate_kv_pool),
    Patch(
        name="jit_last_loc", category=Category.PERFORMANCE,
        module="sgl_jax.srt.managers.schedule_batch", qualname="get_last_loc_jax",
        sha256="3003b52e9390354cc0b42fe7ac136c237f010f0e2546c3627c80e5ec45725e89",
        why="each request's last KV slot (every extend step with page size > 1) runs as one "
            "jitted program instead of about seven eager ones",
        make=_jit_last_loc),
    Patch(
        name="jit_logits", category=Category.PERFORMANCE,
        module="sgl_jax.srt.layers.logits_processor", qualname="LogitsProcessor._get_logits",
        sha256="57478203b73d6b3ca478cc53d4eb0b634f4da7e75407ed6cf2e5451042ee50d4",
        why="the lm_head matmul runs jitted: eager, `embedding.T` copied the whole [vocab, "
            "hidden] table before every step's matmul; jitted, the matmul contracts it directly",
        make=_jit_logits),
    Patch(
        name="req_to_token_write_in_place", category=Category.PERFORMANCE,
        module=MEMORY_POOL, qualname="ReqToTokenPool.write",
        sha256="851506902bfcf3eedbebef6c8ae02f6ee0fde88a82579a466d57c45ef6d7c726",
        why="the request -> KV slot table's row and point writes run jitted with the old table "
            "donated (updated in place); eager `.at[].set` copied the whole table each time",
        make=_req_to_token_write),
    Patch(
        name="req_to_token_free_in_place", category=Category.PERFORMANCE,
        module=MEMORY_POOL, qualname="ReqToTokenPool.free",
        sha256="65b42a7e45b1471df33034f782c918e46715e985a4ff3df05783c36b4373ce68",
        why="freeing a request clears its table row in place (jitted, table donated) instead "
            "of copying the whole table per freed row",
        replaces="the eager row clears are inline in upstream's body; the replacement "
                 "repeats its one line of free-slot bookkeeping",
        make=_req_to_token_free),
    Patch(
        name="moe_grouped_matmul", category=Category.PERFORMANCE,
        module="sgl_jax.srt.layers.moe", qualname="EPMoE._single_device_forward",
        sha256="3c6eb00e82911d3319680f9575ddfc2d7df68183691d815e564e8b13592c3d58",
        why="one device ran every token through every expert (dense einsums over all experts, "
            "then a one-hot weighted sum): the rows routed to each expert, sorted by expert, "
            "go through grouped matmuls (lax.ragged_dot) instead; work scales with top-k, not "
            "with the number of experts",
        replaces="upstream's body is the dense computation over all experts (and reshapes 2-D "
                 "inputs to hidden x tokens rows: it fails for them); the replacement is "
                 "upstream's own _permute and _gmm_compute_with_sharded_weights, then the k rows "
                 "of each token weighted and summed",
        make=_moe_grouped_matmul),
)
