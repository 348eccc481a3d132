"""Upstream bug fixes: sglang-jax 0.0.1.post1 is wrong here on every platform.

docs/sglang.md records how each was found and what leaving it out costs (tests/sglang/
sgl_compare.py --fixes NAME,...).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, List, Optional, Union

import numpy as np

from jax_chip.sglang.patching import Category, ModuleAlias, Patch

logger = logging.getLogger("jax_chip.sglang")


def _qwen3_call(_original: Callable) -> Callable:
    def __call__(self: Any, input_ids: Any, positions: Any, forward_batch: Any) -> Any:
        return self.transformer(input_ids, positions, forward_batch)

    return __call__


def _qwen3_rope(original: Callable) -> Callable:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.rotary_emb.is_neox_style = True

    return __init__


def _decode_positions(original: Callable) -> Callable:
    from sgl_jax.srt.utils.jax_utils import device_array

    def get_model_worker_batch(self: Any, *args: Any, **kwargs: Any) -> Any:
        batch = original(self, *args, **kwargs)
        if batch.forward_mode.is_decode():
            positions = np.array(batch.positions)
            real = batch.real_bs
            positions[:real] = np.maximum(positions[:real] - 1, 0)
            batch.positions = device_array(self.mesh, positions)
        return batch

    return get_model_worker_batch


def _lm_head_dtype(original: Callable) -> Callable:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.lm_head.dtype = self.dtype

    return __init__


def _tied_lm_head(original: Callable) -> Callable:
    def load_weights(self: Any, rng_key: Any) -> Any:
        result = original(self, rng_key)
        if getattr(self.config.hf_config, "tie_word_embeddings", True):
            # Share the one Variable (nnx.split keeps it once: no copy, nothing donated twice).
            self.lm_head.tie_weights(self.transformer.embed_tokens)
            logger.info("jax_chip.sglang: lm_head tied to embed_tokens")
        return result

    return load_weights


def _sample_rows(original: Callable) -> Callable:
    def truncate_logits_processor_output(self: Any, idx: Any) -> None:
        import jax.numpy as jnp

        original(self, jnp.arange(idx.shape[0], dtype=jnp.int32))

    return truncate_logits_processor_output


def _paged_available_size(original: Callable) -> Callable:
    def available_size(self: Any) -> int:
        return original(self) + len(self.release_pages) * self.page_size

    return available_size


def _attention_backend(original: Callable) -> Callable:
    from jax_chip.sglang.backend import make_backend_class

    backend_class = make_backend_class()

    def _get_attention_backend(self: Any) -> Any:
        if self.server_args.attention_backend not in ("native", "paged", "chip"):
            return original(self)
        heads = self.model_config.get_num_kv_heads_with_padding(self.tp_size)
        return backend_class(self.num_attn_heads, heads, self.page_size, self.mesh)

    return _get_attention_backend


def _sampling_fields() -> dict:
    """SamplingParams' keyword arguments -> the type their default says (None: not checked)."""
    import inspect

    from sgl_jax.srt.sampling.sampling_params import SamplingParams

    fields = {}
    for name, p in inspect.signature(SamplingParams.__init__).parameters.items():
        if name != "self":
            fields[name] = type(p.default) if isinstance(p.default, (bool, int, float)) else None
    return fields


def _check_sampling_params(params: Any, fields: dict) -> None:
    if params is None:
        return
    if isinstance(params, list):
        for one in params:
            _check_sampling_params(one, fields)
        return
    if not isinstance(params, dict):
        raise ValueError(f"sampling_params must be an object, got {type(params).__name__}")
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ValueError(f"sampling_params: unknown field(s) {unknown}; known: {sorted(fields)}")
    for name, value in params.items():
        want = fields[name]
        ok = (value is None or want is None
              or (want is bool and isinstance(value, bool))
              or (want is int and isinstance(value, int) and not isinstance(value, bool))
              or (want is float and isinstance(value, (int, float))
                  and not isinstance(value, bool)))
        if not ok:
            raise ValueError(f"sampling_params.{name} must be {want.__name__}, got "
                             f"{type(value).__name__} {value!r:.40}")


def _request_fields(original: Callable) -> Callable:
    import pydantic

    from sgl_jax.srt.managers.io_struct import GenerateReqInput

    # FastAPI validates /generate bodies against this dataclass when the server module builds
    # its routes (after the patches are applied): fields it does not know are a 400, not ignored.
    GenerateReqInput.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")
    fields = _sampling_fields()

    def normalize_batch_and_arguments(self: Any) -> None:
        if self.text is None and self.input_ids is None:
            raise ValueError("a generate request needs `text` or `input_ids`")
        lora = getattr(self, "lora_path", None)
        if lora is not None and (not isinstance(lora, list) or any(x is not None for x in lora)):
            raise ValueError(f"lora_path: LoRA adapters are not supported (got {lora!r})")
        _check_sampling_params(self.sampling_params, fields)
        original(self)

    return normalize_batch_and_arguments


def _input_ids_in_vocab(original: Callable) -> Callable:
    def _create_tokenized_object(self: Any, obj: Any, input_text: Any, input_ids: Any) -> Any:
        vocab = int(self.model_config.vocab_size)
        if input_ids is not None:
            bad = [t for t in input_ids if isinstance(t, bool) or not isinstance(t, int)
                   or not 0 <= t < vocab]
            if bad:
                raise ValueError(f"input_ids must be token ids in [0, {vocab}): got {bad[:8]}"
                                 + (f" and {len(bad) - 8} more" if len(bad) > 8 else ""))
        return original(self, obj, input_text, input_ids)

    return _create_tokenized_object


def _rejected_requests(original: Callable) -> Callable:
    def handle_generate_request(self: Any, recv_req: Any) -> None:
        queued = len(self.waiting_queue)
        original(self, recv_req)
        if len(self.waiting_queue) > queued and self.waiting_queue[-1].finished():
            # rejected (e.g. longer than the KV pool): answer now instead of queueing it
            self.stream_output([self.waiting_queue.pop()], False)

    return handle_generate_request


class _FailedStep:
    """run_batch's result when the model step raised: process_batch_result has nothing to do."""


def _fail_step(scheduler: Any, batch: Any, error: BaseException) -> None:
    """A chip error in a model step: the step's donated KV pool is gone (its outputs carry the
    error), so every request holding KV in it fails with the error; the pool, the request -> slot
    table and the radix cache are reset; the waiting queue is kept and served next."""
    from http import HTTPStatus

    from sgl_jax.srt.managers.schedule_batch import FINISH_ABORT, ScheduleBatch

    reqs = list(dict.fromkeys(
        list(batch.reqs if batch is not None else []) + list(scheduler.running_batch.reqs)
        + ([scheduler.chunked_req] if scheduler.chunked_req is not None else [])))
    unsent = [r for r in reqs if not r.finished_output]
    text = str(error)   # jax chains "argument 0 of 'x' failed: " per program: the cause is last
    message = (f"chip error in the model step ({len(unsent)} request(s) failed; the server goes "
               f"on): {text if len(text) <= 600 else '...' + text[-600:]}")
    logger.error("jax_chip.sglang: %s", message)
    for req in unsent:
        req.finished_reason = FINISH_ABORT(message, HTTPStatus.INTERNAL_SERVER_ERROR,
                                           "InternalServerError")
    scheduler.stream_output(unsent, False)
    scheduler.running_batch = ScheduleBatch(reqs=[], batch_is_full=False)
    scheduler.chunked_req = None
    scheduler.last_batch = None
    scheduler.cur_batch = None
    scheduler.tree_cache.reset()
    scheduler.req_to_token_pool.clear()
    scheduler.token_to_kv_pool_allocator.clear()
    scheduler.tp_worker.model_runner.token_to_kv_pool._create_buffers()


def _step_errors(original: Callable) -> Callable:
    import jax

    def run_batch(self: Any, batch: Any) -> Any:
        try:
            return original(self, batch)
        except jax.errors.JaxRuntimeError as e:
            _fail_step(self, batch, e)
            return _FailedStep()

    return run_batch


def _result_errors(original: Callable) -> Callable:
    import jax

    def process_batch_result(self: Any, batch: Any, result: Any) -> None:
        if isinstance(result, _FailedStep):
            return
        try:
            original(self, batch, result)
        except jax.errors.JaxRuntimeError as e:   # the step's outputs are read here
            _fail_step(self, batch, e)

    return process_batch_result


def _moe_routing(original: Callable) -> Callable:
    def __call__(self: Any, inputs: Any, router_logits: Any = None) -> Any:
        if self.expert_parallel_size != 1 or router_logits is None:
            return original(self, inputs, router_logits=router_logits)
        import jax
        import jax.numpy as jnp

        # HF's Qwen3MoeSparseMoeBlock: softmax over all experts in f32, the top k, renormalized
        # over the k when the config says norm_topk_prob (Qwen3-MoE checkpoints do).
        probs = jax.nn.softmax(router_logits.astype(jnp.float32), axis=-1)
        weights, experts = jax.lax.top_k(probs, self.num_experts_per_tok)
        if getattr(self.config, "norm_topk_prob", False):
            weights = weights / jnp.sum(weights, axis=-1, keepdims=True)
        return self._single_device_forward(inputs.astype(self.dtype), experts,
                                           weights.astype(self.dtype))

    return __call__


QWEN3 = "sgl_jax.srt.models.qwen3"
QWEN3_MOE = "sgl_jax.srt.models.qwen3_moe"
SCHEDULER = "sgl_jax.srt.managers.scheduler"

ALIASES = (
    ModuleAlias(
        name="qwen3_moe_import", category=Category.FIX, importer=QWEN3_MOE,
        missing="python.sgl_jax.srt.configs.model_config",
        provides="sgl_jax.srt.configs.model_config",
        sha256="fa025cb0c904f098287b69ce79c73520f805eb8b0553e4d9fbd6732c6d6ab3eb",
        why="imports ModelConfig from `python.sgl_jax...` (the path in sglang-jax's source tree): "
            "the module, hence Qwen3MoeForCausalLM, never imports (the model registry logs and "
            "skips it)"),
)


def _batch_input_ids(original: type) -> type:
    @dataclasses.dataclass
    class GenerateReqInput(original):  # type: ignore[misc, valid-type]
        # The tokenizer manager handles a batch of token-id lists (_expand_inputs); the HTTP
        # API must accept one (upstream's annotation, List[int], made FastAPI reject it).
        input_ids: Optional[Union[List[List[int]], List[int]]] = None
        # sglang-jax's own bench_serving sends `lora_path` (null); the server has no LoRA. With
        # unknown fields a 400 (`request_fields`), it is declared here and a non-null value is a
        # 400 naming it.
        lora_path: Optional[Union[List[Optional[str]], str]] = None

    GenerateReqInput.__module__ = original.__module__
    GenerateReqInput.__qualname__ = original.__qualname__
    return GenerateReqInput


PATCHES = (
    Patch(
        name="qwen3_call", category=Category.FIX, module=QWEN3,
        qualname="Qwen3ForCausalLM.__call__",
        sha256="3cc7d9b5cb5a159797774245982a3bafbd89b59d6bb5b44481d9feea7898da0f",
        why="runs the logits processor without its mesh and with a ForwardBatch as metadata "
            "(TypeError); ModelRunner computes the logits itself: return the hidden states",
        replaces="upstream's body is that logits call (plus a debug-tracer hook on its "
                 "result): what remains is the one transformer call",
        make=_qwen3_call),
    Patch(
        name="qwen3_rope", category=Category.FIX, module=QWEN3,
        qualname="QWen3Attention.__init__",
        sha256="bc0e8d50158658e9781ec22889111b5843c383693668e706f2ebbfc2b4e70bfb",
        why="RotaryEmbedding built with is_neox_style=False (interleaved pairs); Qwen3 "
            "rotates halves (NeoX), as HF and sglang-jax's qwen.py do",
        make=_qwen3_rope),
    Patch(
        name="decode_positions", category=Category.FIX,
        module="sgl_jax.srt.managers.schedule_batch",
        qualname="ScheduleBatch.get_model_worker_batch",
        sha256="93ebebf72c171aaea7b84535149f7a480d0a3bf0e15e0d1d271386e468234f58",
        why="decode positions are seq_lens, which already count the token being decoded: "
            "every decode token was rotated one position too far; position = seq_len - 1",
        make=_decode_positions),
    Patch(
        name="lm_head_dtype", category=Category.FIX, module=QWEN3,
        qualname="Qwen3ForCausalLM.__init__",
        sha256="7e369471ca95cd81533500116d2731bccb1a0bed43793fffb2bc4443539d6816",
        why="ParallelLMHead keeps its default dtype bfloat16: a float32 model's logits were "
            "rounded to bfloat16; the head takes the model's dtype",
        make=_lm_head_dtype),
    Patch(
        name="tied_lm_head", category=Category.FIX, module=QWEN3,
        qualname="Qwen3ForCausalLM.load_weights",
        sha256="e2625ff436997749139278dd848870d46297965d4ca4127226ce7e62966f1571",
        why="with tie_word_embeddings no weight is mapped to lm_head (it stays random): tie it "
            "to the embedding after loading",
        make=_tied_lm_head),
    Patch(
        name="sample_rows", category=Category.FIX,
        module="sgl_jax.srt.layers.logits_processor",
        qualname="LogitsProcessorOutput.truncate_logits_processor_output",
        sha256="25bcf9731e6967b8e624c8e3620a117e6855be8d1b944a1a8b33a72bbbfbc265",
        why="forward_batch_generation keeps rows extend_start_loc[:real_bs] (token offsets) of "
            "logits already reduced to one row per request: a batched prefill sampled other "
            "requests' rows; the rows are 0..real_bs-1",
        make=_sample_rows),
    Patch(
        name="paged_available_size", category=Category.FIX,
        module="sgl_jax.srt.mem_cache.allocator",
        qualname="PagedTokenToKVPoolAllocator.available_size",
        sha256="c3beb86218d35c2e9a2a325c518783de0f7b418bd59323a1cf152676253666a0",
        why="free pages not yet merged back from release_pages were not counted: the "
            "scheduler's idle check reported a memory leak and died (page_size > 1)",
        make=_paged_available_size),
    Patch(
        name="attention_backend", category=Category.FIX,
        module="sgl_jax.srt.model_executor.model_runner",
        qualname="ModelRunner._get_attention_backend",
        sha256="acad46eae2ca6748cd9dc6e3fb2363261f597b41ee3a6ae8a79d661efbe71923",
        why="`native` misplaces keys with page_size > 1 and scores the whole pool: `native`, "
            "`paged` and `chip` build jax_chip.sglang.backend.PagedAttentionBackend",
        make=_attention_backend),
    Patch(
        name="request_fields", category=Category.FIX,
        module="sgl_jax.srt.managers.io_struct",
        qualname="GenerateReqInput.normalize_batch_and_arguments",
        sha256="798c24811fdf4a521e1d19842ad08fb66ab47c6c06553306e63b6fcf6119f028",
        why="/generate answered 500 to a body without text or input_ids (AttributeError) and to "
            "unknown or mistyped sampling_params (TypeError), and ignored unknown fields: a 400 "
            "naming the field (the request dataclass forbids extra fields)",
        make=_request_fields),
    Patch(
        name="input_ids_in_vocab", category=Category.FIX,
        module="sgl_jax.srt.managers.tokenizer_manager",
        qualname="TokenizerManager._create_tokenized_object",
        sha256="5918135c3107dae2b04264fe3af1f53aaaf06fe9cb087e4d82c4d55f47be5cca",
        why="input ids outside [0, vocab) reached the model's embedding lookup unchecked "
            "(upstream's check for it is never called): a 400 naming them",
        make=_input_ids_in_vocab),
    Patch(
        name="rejected_requests", category=Category.FIX,
        module=SCHEDULER, qualname="Scheduler.handle_generate_request",
        sha256="71d4d848ed6f477fda01a224a5a26dd9cffd73e54444228fb19cb8455d37acb6",
        why="a request it rejects (a prompt longer than the KV pool allows) is queued as "
            "finished and never answered (the prefill loop skips it): answered at once, a 400 "
            "with the reason",
        make=_rejected_requests),
    Patch(
        name="step_errors", category=Category.FIX,
        module=SCHEDULER, qualname="Scheduler.run_batch",
        sha256="5bd9abb21c3bd4e2665fbf740e454f796d0009b8bd2267dfc3cea6f7d086a8d8",
        why="a device error in the model step killed the scheduler and the server: the "
            "requests holding KV fail with the error, the KV pool is rebuilt, serving goes on",
        make=_step_errors),
    Patch(
        name="result_errors", category=Category.FIX,
        module=SCHEDULER, qualname="Scheduler.process_batch_result",
        sha256="b534343aa9ad03847fe3f2fddc183e4025012e24bb68edce5e3cc57ccd59eb5f",
        why="the same for a device error that surfaces when the step's tokens are read back "
            "(jax dispatches asynchronously): handled as in step_errors",
        make=_result_errors),
    Patch(
        name="qwen3_moe_call", category=Category.FIX, module=QWEN3_MOE,
        qualname="Qwen3MoeForCausalLM.__call__",
        sha256="9b8dabb2219a5ee8163797ca88dc07550b2051361b558417d14c57281d98e52e",
        why="as `qwen3_call`: the logits processor without its mesh, with a ForwardBatch as "
            "metadata (TypeError); return the hidden states",
        replaces="as `qwen3_call`'s: upstream's body is that logits call and a debug-tracer hook",
        make=_qwen3_call),
    Patch(
        name="qwen3_moe_lm_head_dtype", category=Category.FIX, module=QWEN3_MOE,
        qualname="Qwen3MoeForCausalLM.__init__",
        sha256="5f18acca75d9c092d2466fe495f273f2a2f3b51608d67f669682eeb1b0b7c8d7",
        why="as `lm_head_dtype`: the lm_head takes the model's dtype, not bfloat16",
        make=_lm_head_dtype),
    Patch(
        name="qwen3_moe_tied_lm_head", category=Category.FIX, module=QWEN3_MOE,
        qualname="Qwen3MoeForCausalLM.load_weights",
        sha256="5c36a468bc5c4c4c42b25d9836f265b90fd774e1b5e8f885b1a84afacc66ec68",
        why="as `tied_lm_head`: with tie_word_embeddings the lm_head stays random; tie it",
        make=_tied_lm_head),
    Patch(
        name="moe_routing", category=Category.FIX, module="sgl_jax.srt.layers.moe",
        qualname="EPMoE.__call__",
        sha256="d955c26883b62c08bf8d5dce5b82c39a437c6b5346b6d49c3efeab2ff1698c0a",
        why="on one device it calls _single_device_forward(inputs, router_logits), but the "
            "class defines that name twice and the second (inputs, top_k_indices, "
            "top_k_weights) wins: TypeError. Routes here as HF does (softmax in f32, top k, "
            "renormalized if norm_topk_prob), then calls it",
        make=_moe_routing),
    Patch(
        name="batch_input_ids", category=Category.FIX,
        module="sgl_jax.srt.managers.io_struct", qualname="GenerateReqInput",
        sha256="ba286a3026363a41dd911907d4f900d8c68ef217c15f3ddf4869e9fec72e3265",
        why="/generate rejected a batch of token-id lists with 400 (input_ids annotated List[int]) "
            "although the tokenizer manager batches them: bench_one_batch_server sends one",
        make=_batch_input_ids),
)
