"""The fixes to sglang-jax 0.0.1.post1, one function each; `FIXES` maps name -> function.

Each function monkeypatches sgl_jax in the current process and is idempotent. docs/sglang.md
explains what each one corrects and how it was found.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Dict

import numpy as np

logger = logging.getLogger(__name__)

_MARK = "_jax_chip_patched"


def _wrap(owner: Any, name: str, make: Callable[[Callable], Callable]) -> None:
    """Replace owner.name by make(original), once."""
    original = getattr(owner, name)
    if getattr(original, _MARK, False):
        return
    new = make(original)
    functools.update_wrapper(new, original)
    setattr(new, _MARK, True)
    setattr(owner, name, new)


def fix_kv_write() -> None:
    """The KV write is a Pallas TPU kernel (fails elsewhere, and -1 padding must be dropped):
    use jax_chip.ops.paged_kv_write (an XLA scatter; a chip custom call on the chip)."""
    from sgl_jax.srt.mem_cache import memory_pool

    from jax_chip.ops import paged_kv_write

    def make(_original: Callable) -> Callable:
        def update_kv_cache(k, v, loc, k_cache, v_cache, page_size=1,
                            kv_partition_axis="tensor"):
            del page_size, kv_partition_axis  # token-addressed scatter: no paging needed
            return paged_kv_write(k_cache, v_cache, k, v, loc)

        return update_kv_cache

    _wrap(memory_pool, "update_kv_cache", make)


def fix_qwen3_call() -> None:
    """Qwen3ForCausalLM.__call__ runs the logits processor itself, without its mesh argument
    and with a ForwardBatch as LogitsMetadata (TypeError). ModelRunner computes the logits
    afterwards through compute_logits: __call__ must return the hidden states, as qwen.py does."""
    from sgl_jax.srt.models import qwen3

    def make(_original: Callable) -> Callable:
        def __call__(self, input_ids, positions, forward_batch):
            return self.transformer(input_ids, positions, forward_batch)

        return __call__

    _wrap(qwen3.Qwen3ForCausalLM, "__call__", make)


def fix_qwen3_rope() -> None:
    """QWen3Attention builds its RotaryEmbedding with is_neox_style=False (GPT-J interleaved
    pairs). Qwen3 checkpoints use the rotate-half (NeoX) layout, as HF's Qwen3 and sglang-jax's
    own qwen.py do."""
    from sgl_jax.srt.models import qwen3

    def make(original: Callable) -> Callable:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self.rotary_emb.is_neox_style = True

        return __init__

    _wrap(qwen3.QWen3Attention, "__init__", make)


def fix_decode_positions() -> None:
    """ScheduleBatch.prepare_for_decode increments seq_lens before the forward (they include the
    token being decoded), but get_model_worker_batch uses seq_lens as the decode positions:
    every decode token was rotated as if one position later. The position is seq_len - 1."""
    from sgl_jax.srt.managers import schedule_batch
    from sgl_jax.srt.utils.jax_utils import device_array

    def make(original: Callable) -> Callable:
        def get_model_worker_batch(self, *args: Any, **kwargs: Any):
            batch = original(self, *args, **kwargs)
            if batch.forward_mode.is_decode():
                positions = np.array(batch.positions)
                real = batch.real_bs
                positions[:real] = np.maximum(positions[:real] - 1, 0)
                batch.positions = device_array(self.mesh, positions)
            return batch

        return get_model_worker_batch

    _wrap(schedule_batch.ScheduleBatch, "get_model_worker_batch", make)


def fix_lm_head_dtype() -> None:
    """Qwen3's ParallelLMHead is built with its default dtype bfloat16 whatever the model dtype,
    so the logits of a float32 model were computed (and rounded) in bfloat16."""
    from sgl_jax.srt.models import qwen3

    def make(original: Callable) -> Callable:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self.lm_head.dtype = self.dtype

        return __init__

    _wrap(qwen3.Qwen3ForCausalLM, "__init__", make)


def fix_tied_lm_head() -> None:
    """With tie_word_embeddings (the default, and e.g. Qwen3-0.6B), no weight is mapped to
    lm_head and it keeps its random initialisation: tie it to the embedding after loading."""
    from sgl_jax.srt.models import qwen3

    def make(original: Callable) -> Callable:
        def load_weights(self, rng_key):
            result = original(self, rng_key)
            if getattr(self.config.hf_config, "tie_word_embeddings", True):
                # Share the one Variable (nnx.split keeps it once: no copy, nothing donated
                # twice); ParallelLMHead.tie_weights exists for this but is never called.
                self.lm_head.tie_weights(self.transformer.embed_tokens)
                logger.info("jax_chip.sglang: lm_head tied to embed_tokens")
            return result

        return load_weights

    _wrap(qwen3.Qwen3ForCausalLM, "load_weights", make)


def fix_attention_backend() -> None:
    """The `native` backend assumes cache_loc holds each sequence's slots back to back, but
    get_model_worker_batch pads every sequence to a multiple of page_size: with page_size > 1
    keys are attributed to the wrong sequences and positions. It also scores every query against
    the whole pool-sized cache_loc. `native` (and the new name `paged`) now build
    jax_chip.sglang.backend.PagedAttentionBackend."""
    from sgl_jax.srt.model_executor import model_runner

    from jax_chip.sglang.backend import make_backend_class

    backend_class = make_backend_class()

    def make(original: Callable) -> Callable:
        def _get_attention_backend(self):
            if self.server_args.attention_backend not in ("native", "paged", "chip"):
                return original(self)
            heads = self.model_config.get_num_kv_heads_with_padding(self.tp_size)
            return backend_class(self.num_attn_heads, heads, self.page_size, self.mesh)

        return _get_attention_backend

    _wrap(model_runner.ModelRunner, "_get_attention_backend", make)


def fix_device_memory() -> None:
    """get_available_device_memory knows only "tpu" and "cpu": other platforms (the chip) report
    bytes_limit - bytes_in_use from the PJRT device's memory_stats."""
    from sgl_jax.srt.model_executor import model_runner
    from sgl_jax.srt.utils import jax_utils

    def make(original: Callable) -> Callable:
        def get_available_device_memory(device, distributed=False, empty_cache=True):
            if device in ("tpu", "cpu"):
                return original(device, distributed=distributed, empty_cache=empty_cache)
            import jax

            devices = jax.local_devices(backend=device)
            free = []
            for d in devices:
                stats = d.memory_stats() or {}
                if "bytes_limit" not in stats:
                    raise RuntimeError(f"get_available_device_memory: device {d} of platform "
                                       f"{device!r} reports no bytes_limit in memory_stats()")
                free.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
            return min(free)

        return get_available_device_memory

    _wrap(jax_utils, "get_available_device_memory", make)
    model_runner.get_available_device_memory = jax_utils.get_available_device_memory


def fix_sample_rows() -> None:
    """TpModelWorker.forward_batch_generation picks the rows of next_token_logits to sample
    with extend_start_loc[:real_bs] (token offsets of each request's first new token). The
    logits processor has already reduced an extend batch to one row per request, so for a
    batched prefill those offsets index past the rows (JAX clamps them to the last row) or into
    other requests' rows: every request but the first sampled another request's next token.
    The rows are simply 0..real_bs-1 (decode batches used arange already)."""
    from sgl_jax.srt.layers.logits_processor import LogitsMetadata
    from sgl_jax.srt.managers import tp_worker
    from sgl_jax.srt.model_executor.forward_batch_info import ForwardBatch

    def make(_original: Callable) -> Callable:
        def forward_batch_generation(self, model_worker_batch, launch_done=None,
                                     skip_sample=False):
            import jax.numpy as jnp

            forward_batch = ForwardBatch.init_new(model_worker_batch, self.model_runner)
            metadata = LogitsMetadata.from_model_worker_batch(model_worker_batch, self.mesh)
            logits_output, cache_miss_count = self.model_runner.forward(
                forward_batch, logits_metadata=metadata)
            if launch_done is not None:
                launch_done.set()
            logits_output.truncate_logits_processor_output(
                jnp.arange(model_worker_batch.real_bs, dtype=jnp.int32))
            next_token_ids = None
            if not skip_sample:
                next_token_ids = self.model_runner.sample(logits_output, model_worker_batch)
            return logits_output, next_token_ids, cache_miss_count

        return forward_batch_generation

    _wrap(tp_worker.ModelWorker, "forward_batch_generation", make)


def fix_paged_available_size() -> None:
    """PagedTokenToKVPoolAllocator (page_size > 1) inherits available_size() =
    len(free_pages) * page_size, which leaves out the pages freed into release_pages and not
    yet merged back (merge_and_sort_free runs only when an allocation runs short). The
    scheduler's idle check (available + evictable == max_total_num_tokens) then reports a
    "token_to_kv_pool_allocator memory leak" and the scheduler dies after the first requests
    finish. Free pages are free_pages plus release_pages."""
    from sgl_jax.srt.mem_cache import allocator

    def make(_original: Callable) -> Callable:
        def available_size(self) -> int:
            return (len(self.free_pages) + len(self.release_pages)) * self.page_size

        return available_size

    cls = allocator.PagedTokenToKVPoolAllocator
    if "available_size" not in cls.__dict__:
        cls.available_size = allocator.BaseTokenToKVPoolAllocator.available_size
    _wrap(cls, "available_size", make)


# Order matters only for readability; each is independent.
FIXES: Dict[str, Callable[[], None]] = {
    "kv_write": fix_kv_write,
    "qwen3_call": fix_qwen3_call,
    "qwen3_rope": fix_qwen3_rope,
    "decode_positions": fix_decode_positions,
    "lm_head_dtype": fix_lm_head_dtype,
    "tied_lm_head": fix_tied_lm_head,
    "sample_rows": fix_sample_rows,
    "paged_available_size": fix_paged_available_size,
    "attention_backend": fix_attention_backend,
    "device_memory": fix_device_memory,
}


def _register_chip_platform() -> None:
    from jax_chip.sglang import chip_platform

    FIXES["chip_device"] = chip_platform.fix_chip_device
    FIXES["chip_attention_backend_choice"] = chip_platform.fix_chip_attention_backend_choice
    FIXES["kv_pool_usage_in_server_info"] = chip_platform.fix_kv_pool_usage_in_server_info
    FIXES["donate_kv_pool"] = chip_platform.fix_donate_kv_pool
    FIXES["jit_last_loc"] = chip_platform.fix_jit_last_loc
    FIXES["jit_logits"] = chip_platform.fix_jit_logits
    FIXES["req_to_token_in_place"] = chip_platform.fix_req_to_token_in_place


_register_chip_platform()

# What sglang-jax cannot start without on a non-TPU platform (the state the NOTES measured).
BLOCKERS = ("kv_write", "qwen3_call", "device_memory")
