"""Performance: sglang-jax 0.0.1.post1 computes these right but copies or launches more than it
needs to; on the chip every eager jnp op is a device program and every copy is HBM traffic, and
jax compiles (and keeps, about 1 MB of host memory each) a program per shape of an eager op, so
the scheduler's bookkeeping, whose shapes follow the batch composition, is done on the host."""

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
        if isinstance(req_to_token, np.ndarray):   # the table on the host: req_to_token_on_host
            rows, prefix = np.asarray(req_pool_indices_device), np.asarray(prefix_lens_device)
            return np.where(prefix > 0, req_to_token[rows, prefix - 1], -1).astype(np.int32)
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


class HostTable(np.ndarray):
    """sglang-jax's request -> KV slot table (ReqToTokenPool.req_to_token) on the host, with the
    value semantics of the jax array it replaces: indexing returns a copy (a plain ndarray), never
    a view, because sglang-jax keeps what it reads (a request's slots: the radix and chunk caches
    store them, free them after clearing the row) while the row is rewritten or freed. Writes go
    through a plain ndarray view (numpy's own item assignment would write into such a copy)."""

    def __getitem__(self, index: Any) -> Any:
        return np.array(np.ndarray.__getitem__(self, index))

    def __setitem__(self, index: Any, value: Any) -> None:
        self.view(np.ndarray)[index] = value


def _host_table(shape: Any, dtype: Any) -> HostTable:
    return np.zeros(shape, np.dtype(dtype)).view(HostTable)


def _req_to_token_on_host(original: Callable) -> Callable:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.req_to_token = _host_table(self.req_to_token.shape, self.dtype)

    return init


def _req_to_token_clear_on_host(original: Callable) -> Callable:
    def clear(self: Any) -> None:
        original(self)
        self.req_to_token = _host_table(self.req_to_token.shape, self.dtype)

    return clear


def _req_to_token_write(original: Callable) -> Callable:
    def write(self: Any, indices: Any, values: Any) -> None:
        table = self.req_to_token
        if not isinstance(table, HostTable):
            original(self, indices, values)
            return
        if isinstance(indices, tuple):
            indices = tuple(i if isinstance(i, slice) else np.asarray(i) for i in indices)
        else:
            indices = np.asarray(indices)
        table[indices] = np.asarray(values)

    return write


def _req_to_token_free(original: Callable) -> Callable:
    def free(self: Any, free_index: Any) -> None:
        table = self.req_to_token
        if not isinstance(table, HostTable):
            original(self, free_index)
            return
        rows = [free_index] if isinstance(free_index, int) else list(free_index)
        self.free_slots.extend(rows)
        for row in rows:
            table[row] = 0

    return free


def _req_to_token_read(original: Callable) -> Callable:
    import jax

    def read(self: Any, req_idx: int, length: int) -> Any:
        got = original(self, req_idx, length)
        # a device array, as upstream's: the radix cache keeps and slices jax arrays
        return jax.device_put(got) if isinstance(got, np.ndarray) else got

    return read


MEMORY_POOL = "sgl_jax.srt.mem_cache.memory_pool"
SCHEDULE_BATCH = "sgl_jax.srt.managers.schedule_batch"

# The batch's index arrays that sglang-jax's scheduler keeps as device arrays although it only
# ever reads them back (get_model_worker_batch builds the model step's inputs from host copies).
# Every eager jnp op on them is a device program compiled for its shapes, and those shapes follow
# the batch composition (merging batches of a and b requests, keeping k of n, slicing each
# request's slots out of T new ones): under concurrent clients nearly every step was a new
# program. On the host (numpy) the same values cost no program.
BATCH_ARRAYS = ("req_pool_indices", "seq_lens", "output_ids")
SAMPLING_ARRAYS = ("temperatures", "top_ps", "top_ks", "min_ps")


def _to_host(obj: Any, names: tuple) -> None:
    """obj's named arrays as numpy (a jax array read back already, as these are, is not copied
    from the device again: jax keeps its host value)."""
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            setattr(obj, name, np.asarray(value))


def _host_concat(a: Any, b: Any) -> np.ndarray:
    return np.concatenate([np.asarray(a), np.asarray(b)])


def _filter_on_host(original: Callable) -> Callable:
    def filter_batch(self: Any, chunked_req_to_exclude: Any = None,
                     keep_indices: Any = None) -> None:
        # upstream's gathers (array[keep_indices_device]) then index numpy arrays
        _to_host(self, BATCH_ARRAYS)
        if self.sampling_info is not None:
            _to_host(self.sampling_info, SAMPLING_ARRAYS)
        original(self, chunked_req_to_exclude, keep_indices)

    return filter_batch


def _merge_on_host(_original: Callable) -> Callable:
    def merge_batch(self: Any, other: Any) -> None:
        # upstream's body, with np.concatenate for jnp.concat
        self.sampling_info.merge_batch(other.sampling_info, other.mesh)
        self.req_pool_indices = _host_concat(self.req_pool_indices, other.req_pool_indices)
        self.seq_lens = _host_concat(self.seq_lens, other.seq_lens)
        self.out_cache_loc = None
        self.seq_lens_sum += other.seq_lens_sum
        if self.output_ids is not None:
            self.output_ids = _host_concat(np.asarray(self.output_ids)[:len(self.seq_lens)],
                                           np.asarray(other.output_ids)[:len(other.seq_lens)])
        if self.return_logprob and other.return_logprob:
            self.top_logprobs_nums.extend(other.top_logprobs_nums)
            self.token_ids_logprobs.extend(other.token_ids_logprobs)
        elif self.return_logprob:
            self.top_logprobs_nums.extend([0] * len(other.reqs))
            self.token_ids_logprobs.extend([None] * len(other.reqs))
        elif other.return_logprob:
            self.top_logprobs_nums = [0] * len(self.reqs) + other.top_logprobs_nums
            self.token_ids_logprobs = [None] * len(self.reqs) + other.token_ids_logprobs
        self.reqs.extend(other.reqs)
        self.return_logprob |= other.return_logprob
        self.has_stream |= other.has_stream
        self.return_hidden_states |= other.return_hidden_states

    return merge_batch


def _sampling_merge_on_host(_original: Callable) -> Callable:
    def merge_batch(self: Any, other: Any, mesh: Any) -> None:
        # upstream's body, with np.concatenate for jnp.concat
        for name in SAMPLING_ARRAYS:
            setattr(self, name, _host_concat(getattr(self, name), getattr(other, name)))
        self.is_all_greedy &= other.is_all_greedy
        self.need_top_p_sampling |= other.need_top_p_sampling
        self.need_top_k_sampling |= other.need_top_k_sampling
        self.need_min_p_sampling |= other.need_min_p_sampling

    return merge_batch


def _decode_on_host(_original: Callable) -> Callable:
    import jax.numpy as jnp
    from sgl_jax.srt.model_executor.forward_batch_info import ForwardMode

    def prepare_for_decode(self: Any) -> None:
        # upstream's body, with the sequence lengths on the host (numpy for jnp.add and the
        # `- 2` of the last slots' index)
        self.forward_mode = ForwardMode.DECODE
        bs = len(self.reqs)
        self.input_ids = self.output_ids
        self.output_ids = None
        seq_lens = np.asarray(self.seq_lens)
        locs = seq_lens.copy()
        self.seq_lens = seq_lens + np.int32(1)
        self.seq_lens_sum += bs
        if self.token_to_kv_pool_allocator.page_size == 1:
            self.out_cache_loc = self.alloc_token_slots(bs)
        else:
            last_loc = self.req_to_token_pool.req_to_token[
                self.req_pool_indices, self.seq_lens - 2]
            self.out_cache_loc = self.alloc_paged_token_slots_decode(
                self.seq_lens.tolist(), np.asarray(last_loc).tolist())
        self.req_to_token_pool.write((self.req_pool_indices, locs),
                                     self.out_cache_loc.astype(jnp.int32))

    return prepare_for_decode


def _slots_on_host(original: Callable) -> Callable:
    def alloc(self: Any, *args: Any, **kwargs: Any) -> Any:
        # the allocator computes the slots in numpy; prepare_for_extend slices each request's
        # slots out of them (on the chip: one program per (total, length))
        result = original(self, *args, **kwargs)
        if isinstance(result, tuple):      # (slots, allocator state) with backup_state=True
            return (np.asarray(result[0]),) + tuple(result[1:])
        return np.asarray(result)

    return alloc


def _greedy_tokens_on_host(original: Callable) -> Callable:
    import jax
    from sgl_jax.srt.layers.logits_processor import LogitsMetadata, LogitsProcessorOutput
    from sgl_jax.srt.model_executor.forward_batch_info import ForwardBatch

    @partial(jax.jit, static_argnums=1)
    def greedy(logits: Any, rows: int) -> Any:
        return jax.numpy.argmax(logits[:rows], axis=-1)

    class RowsOnRead(LogitsProcessorOutput):
        """The step's output whose next_token_logits are the batch's rows, as upstream's, cut
        from the padded rows when first read (a program per batch size then; the scheduler's
        greedy path never reads them) and ready when returned, as upstream's were once the
        step's tokens were (a caller timing the step waits for its tokens only)."""

        @property
        def next_token_logits(self) -> Any:
            d = self.__dict__
            if d.get("_rows") is None:
                d["_rows"] = jax.block_until_ready(d["_padded"][:d["_real_bs"]])
            return d["_rows"]

        @next_token_logits.setter
        def next_token_logits(self, value: Any) -> None:
            self.__dict__["_rows"] = value

    def rows_on_read(out: Any, real_bs: int) -> Any:
        lazy = object.__new__(RowsOnRead)
        lazy.__dict__.update(out.__dict__, _padded=out.next_token_logits, _real_bs=real_bs,
                             _rows=None)
        return lazy

    def forward_batch_generation(self: Any, batch: Any, launch_done: Any = None,
                                 skip_sample: bool = False) -> Any:
        if skip_sample or batch.return_logprob or not batch.sampling_info.is_all_greedy:
            return original(self, batch, launch_done, skip_sample)
        # upstream's forward, then the greedy token of the batch's rows padded to a power of
        # two (a program per padded size and power of two) and the batch's own rows taken on
        # the host: upstream sliced, gathered and took the argmax of the batch's rows on the
        # chip, each a program compiled per batch size. Row i is request i (the sample_rows
        # fix), as there.
        forward_batch = ForwardBatch.init_new(batch, self.model_runner)
        logits_output, cache_miss_count = self.model_runner.forward(
            forward_batch, logits_metadata=LogitsMetadata.from_model_worker_batch(
                batch, self.mesh))
        if launch_done is not None:
            launch_done.set()
        logits = logits_output.next_token_logits
        rows = min(logits.shape[0], 1 << max(batch.real_bs - 1, 0).bit_length())
        next_token_ids = np.asarray(greedy(logits, rows))[:batch.real_bs]
        # the batch's inputs the step did not read (upstream's sampling read extend_start_loc)
        # are uploaded by now too: whoever times the step by its tokens counts their transfers
        jax.block_until_ready([v for v in vars(batch).values() if isinstance(v, jax.Array)])
        return rows_on_read(logits_output, batch.real_bs), next_token_ids, cache_miss_count

    return forward_batch_generation


def _uploads_without_programs(original: Callable) -> Callable:
    import jax
    from jax._src import core, dtypes
    from jax._src import mesh as mesh_lib

    def _convert_element_type(operand: Any, new_dtype: Any = None, weak_type: bool = False,
                              sharding: Any = None, warn_on_complex_to_real_cast: bool = True
                              ) -> Any:
        # jnp.array of host data (a list, a numpy array) in its own (canonical) dtype, outside any
        # trace or mesh context: an identity conversion, i.e. an upload. jax runs it as a
        # convert_element_type program compiled per shape; device_put of a copy (jnp.array never
        # aliases its input, and a transfer may read it after returning) gives the same array
        # on the same default device without one.
        if (type(operand) is np.ndarray and new_dtype is not None and sharding is None
                and not weak_type and operand.dtype == dtypes.canonicalize_dtype(new_dtype)
                and operand.dtype == dtypes.canonicalize_dtype(operand.dtype)
                and core.trace_state_clean() and mesh_lib.get_abstract_mesh().empty
                and mesh_lib.get_concrete_mesh() is None):
            return jax.device_put(operand.copy())
        return original(operand, new_dtype, weak_type, sharding, warn_on_complex_to_real_cast)

    return _convert_element_type


def _extend_inputs_on_host(original: Callable) -> Callable:
    def prepare_for_extend(self: Any) -> None:
        original(self)
        # get_model_worker_batch flattens the new tokens (on the chip: one program per total)
        _to_host(self, ("input_ids",))

    return prepare_for_extend


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
            "jitted program instead of about seven eager ones; with the slot table on the host "
            "(req_to_token_on_host) it is read there",
        make=_jit_last_loc),
    Patch(
        name="jit_logits", category=Category.PERFORMANCE,
        module="sgl_jax.srt.layers.logits_processor", qualname="LogitsProcessor._get_logits",
        sha256="57478203b73d6b3ca478cc53d4eb0b634f4da7e75407ed6cf2e5451042ee50d4",
        why="the lm_head matmul runs jitted: eager, `embedding.T` copied the whole [vocab, "
            "hidden] table before every step's matmul; jitted, the matmul contracts it directly",
        make=_jit_logits),
    Patch(
        name="req_to_token_on_host", category=Category.PERFORMANCE,
        module=MEMORY_POOL, qualname="ReqToTokenPool.__init__",
        sha256="a264532604d298c51b85b5f48216e59ba5667aeb8ba47029df46abef224f02d5",
        why="the request -> KV slot table lives on the host (numpy, read with copies as the jax "
            "array was): the scheduler only reads it back, and every eager jnp read or write of "
            "it was a chip program compiled per batch size or length (the model step gets its "
            "slots from get_model_worker_batch's host copy); the write, free, read and clear "
            "patches below handle it",
        make=_req_to_token_on_host),
    Patch(
        name="req_to_token_clear_on_host", category=Category.PERFORMANCE,
        module=MEMORY_POOL, qualname="ReqToTokenPool.clear",
        sha256="56e3621854da262d891ec831f6fdf71810420c007fd7a7eaf90887b33a188d01",
        why="clearing the pool (the step_errors fix does after a chip error) keeps the table on "
            "the host",
        make=_req_to_token_clear_on_host),
    Patch(
        name="req_to_token_write_in_place", category=Category.PERFORMANCE,
        module=MEMORY_POOL, qualname="ReqToTokenPool.write",
        sha256="851506902bfcf3eedbebef6c8ae02f6ee0fde88a82579a466d57c45ef6d7c726",
        why="the table's row and point writes are numpy assignments on the host table; eager "
            "`.at[].set` copied the whole table on the chip each time, a program per length",
        make=_req_to_token_write),
    Patch(
        name="req_to_token_free_in_place", category=Category.PERFORMANCE,
        module=MEMORY_POOL, qualname="ReqToTokenPool.free",
        sha256="65b42a7e45b1471df33034f782c918e46715e985a4ff3df05783c36b4373ce68",
        why="freeing a request zeroes its row of the host table in place (upstream copied the "
            "whole table on the chip per freed row)",
        make=_req_to_token_free),
    Patch(
        name="req_to_token_read_on_host", category=Category.PERFORMANCE,
        module=MEMORY_POOL, qualname="ReqToTokenPool.read",
        sha256="ebded110b2a848e0cff506513917af3d47fc82f3ea71223b85479ce98da3bb5c",
        why="a request's slots read from the host table are uploaded as a jax array, which the "
            "radix cache keeps and slices (upstream sliced them out on the chip: a program per "
            "length)",
        make=_req_to_token_read),
    Patch(
        name="batch_filter_on_host", category=Category.PERFORMANCE,
        module=SCHEDULE_BATCH, qualname="ScheduleBatch.filter_batch",
        sha256="eaba2c8a0e2c465d73560618d6652a0928b05a28fb06497f7a081879c6c81f0f",
        why="dropping finished requests gathered the batch's index and sampling arrays on the "
            "chip, a program per (old, new) batch size: they are gathered on the host, where "
            "their values already are",
        make=_filter_on_host),
    Patch(
        name="batch_merge_on_host", category=Category.PERFORMANCE,
        module=SCHEDULE_BATCH, qualname="ScheduleBatch.merge_batch",
        sha256="74252ebc3fb10c4fa9266b9649d8be62172e4eac7afb59bd7dc86f51c4adbb2e",
        why="merging a prefilled batch into the running one concatenated their index arrays on "
            "the chip, a program per pair of batch sizes: concatenated on the host",
        replaces="upstream's body is the concatenations (jnp.concat) and the request-list "
                 "bookkeeping: the replacement is that body with np.concatenate",
        make=_merge_on_host),
    Patch(
        name="sampling_merge_on_host", category=Category.PERFORMANCE,
        module="sgl_jax.srt.sampling.sampling_batch_info",
        qualname="SamplingBatchInfo.merge_batch",
        sha256="4183db9c0642347c5ad625e0978a883dbe605096028227c46a98d4f6fffb5888",
        why="as batch_merge_on_host, for the per-request sampling parameters",
        replaces="upstream's body is the four jnp.concat calls and four flag updates: the "
                 "replacement is that body with np.concatenate",
        make=_sampling_merge_on_host),
    Patch(
        name="batch_decode_on_host", category=Category.PERFORMANCE,
        module=SCHEDULE_BATCH, qualname="ScheduleBatch.prepare_for_decode",
        sha256="ecb3ac2a240df66d77957f4e14959c35d3deee197d6c8e3c26afc76710515e39",
        why="each decode step added 1 to the sequence lengths and 2 less for the last slots' "
            "index on the chip, two programs per batch size: done on the host",
        replaces="upstream's body is those jnp ops among the step's bookkeeping: the "
                 "replacement is that body with numpy for them",
        make=_decode_on_host),
    Patch(
        name="extend_slots_on_host", category=Category.PERFORMANCE,
        module=SCHEDULE_BATCH, qualname="ScheduleBatch.alloc_paged_token_slots_extend",
        sha256="ec25f19ad9c2ce858d819b03aa15d8b246ab6bc895c50b2e7c56e45de44e1f27",
        why="the new tokens' KV slots (computed in numpy) went to the chip, and each request's "
            "slots were sliced out there, a program per (total, length): they stay on the host",
        make=_slots_on_host),
    Patch(
        name="token_slots_on_host", category=Category.PERFORMANCE,
        module=SCHEDULE_BATCH, qualname="ScheduleBatch.alloc_token_slots",
        sha256="037df9c311f99c12dbe04a92de80f154584c5605fc9be650153552f19376bb08",
        why="as extend_slots_on_host, for page size 1",
        make=_slots_on_host),
    Patch(
        name="extend_inputs_on_host", category=Category.PERFORMANCE,
        module=SCHEDULE_BATCH, qualname="ScheduleBatch.prepare_for_extend",
        sha256="85be41a8854a03faedd3514c6f5da01207cde5180f22409fa241446f086eda97",
        why="a prefill's new token ids are read back and flattened on the host "
            "(get_model_worker_batch flattened them on the chip: a program per token count)",
        make=_extend_inputs_on_host),
    Patch(
        name="greedy_tokens_on_host", category=Category.PERFORMANCE,
        module="sgl_jax.srt.managers.tp_worker", qualname="ModelWorker.forward_batch_generation",
        sha256="a69cff9222d9006dae3fa9f15c6042bdc714c9dc32727bf994174dffc61963bd",
        why="a greedy batch's next tokens (no logprobs) are the argmax of its rows padded to a "
            "power of two, and the batch's rows are taken on the host; upstream sliced and "
            "gathered them and took their argmax on the chip, programs per batch size (other "
            "batches: upstream's path)",
        make=_greedy_tokens_on_host),
    Patch(
        name="uploads_without_programs", category=Category.PERFORMANCE,
        module="jax._src.lax.lax", qualname="_convert_element_type",
        sha256="00d811fb8829a9b847301164de9fe42b70cc87868f373681832ed0ebb981f54b",
        why="(jax 0.6.2, which sglang-jax pins) jnp.array of host data, as sglang-jax's "
            "scheduler makes its token ids and KV slots every step, ran an identity "
            "convert_element_type program compiled per shape (per token count of the batch): "
            "a numpy array already in the target dtype is device_put instead",
        make=_uploads_without_programs),
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
