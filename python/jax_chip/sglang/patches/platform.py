"""Platform enabling: what sglang-jax 0.0.1.post1 needs to run outside a TPU and on the chip
(`device="chip"`, the `chip` attention backend, the chip's memory and KV pool reporting)."""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable

from jax_chip.sglang.patching import Category, Patch

PLATFORM = "chip"


def _platforms_for_chip(current: str) -> str:
    """$JAX_PLATFORMS with the chip first and cpu (the radix cache and weight loader call
    jax.local_devices(backend="cpu")) present."""
    names = [p.strip() for p in current.split(",") if p.strip()]
    if PLATFORM not in names:
        names.insert(0, PLATFORM)
    if "cpu" not in names:
        names.append("cpu")
    return ",".join(names)


def _kv_write(_original: Callable) -> Callable:
    from jax_chip.ops import paged_kv_write

    def update_kv_cache(k: Any, v: Any, loc: Any, k_cache: Any, v_cache: Any, page_size: int = 1,
                        kv_partition_axis: str = "tensor") -> Any:
        del page_size, kv_partition_axis  # token-addressed scatter: no paging needed
        return paged_kv_write(k_cache, v_cache, k, v, loc)

    return update_kv_cache


def _device_memory(original: Callable) -> Callable:
    def get_available_device_memory(device: str, distributed: bool = False,
                                    empty_cache: bool = True) -> int:
        if device in ("tpu", "cpu"):
            return original(device, distributed=distributed, empty_cache=empty_cache)
        import jax

        free = []
        for d in jax.local_devices(backend=device):
            stats = d.memory_stats() or {}
            if "bytes_limit" not in stats:
                raise RuntimeError(f"get_available_device_memory: device {d} of platform "
                                   f"{device!r} reports no bytes_limit in memory_stats()")
            free.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
        return min(free)

    return get_available_device_memory


def _chip_device(original: Callable) -> Callable:
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


def _attention_backend_choice(original: Callable) -> Callable:
    def add_cli_args(parser: argparse.ArgumentParser) -> None:
        original(parser)
        for action in parser._actions:
            if "--attention-backend" in action.option_strings and action.choices is not None:
                if PLATFORM not in action.choices:
                    action.choices = list(action.choices) + [PLATFORM]

    return add_cli_args


def _kv_pool_usage(original: Callable) -> Callable:
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
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        out.internal_state["device_memory"] = {
            k: int(stats[k]) for k in ("bytes_in_use", "peak_bytes_in_use", "bytes_limit")
            if k in stats}
        return out

    return get_internal_state


SERVER_ARGS = "sgl_jax.srt.server_args"

def _offline_random_prompts(original: Callable) -> Callable:
    def sample_random_requests(input_len: int, output_len: int, num_prompts: int, range_ratio: float,
                               tokenizer: Any, dataset_path: str, random_sample: bool = True,
                               return_text: bool = True) -> Any:
        from sgl_jax.bench_serving import is_file_valid_json

        if random_sample and not is_file_valid_json(dataset_path):
            # No local ShareGPT file: random token ids (upstream's random_sample=False) rather
            # than a download from huggingface.co, which an offline machine cannot make.
            random_sample = False
        rows = original(input_len, output_len, num_prompts, range_ratio, tokenizer, dataset_path,
                        random_sample=random_sample, return_text=return_text)
        for row in rows:  # upstream's random ids are numpy ints, which requests cannot send
            if isinstance(row.prompt, list):
                row.prompt = [int(t) for t in row.prompt]
        return rows

    return sample_random_requests


PATCHES = (
    Patch(
        name="kv_write", category=Category.PLATFORM,
        module="sgl_jax.srt.mem_cache.memory_pool", qualname="update_kv_cache",
        sha256="dfeeaa185888060529dae8979c2d930f351c6c0e3d591b157d5cb7e6ad65b132",
        why="the KV write is a Pallas TPU kernel: jax_chip.ops.paged_kv_write instead (an XLA "
            "scatter that drops -1 padding slots; a chip custom call on the chip)",
        replaces="upstream's body is the call of the TPU kernel",
        make=_kv_write),
    Patch(
        name="device_memory", category=Category.PLATFORM,
        module="sgl_jax.srt.utils.jax_utils", qualname="get_available_device_memory",
        sha256="77bb2efbc833280014921911203f7558ba4c0a6f3177a20430b3bc71a3f0099b",
        why="knows only tpu and cpu: other platforms (the chip) report bytes_limit - "
            "bytes_in_use from the PJRT device's memory_stats()",
        make=_device_memory,
        aliases=("sgl_jax.srt.model_executor.model_runner",)),
    Patch(
        name="chip_device", category=Category.PLATFORM,
        module=SERVER_ARGS, qualname="ServerArgs.__post_init__",
        sha256="48065d6c6c717a10db8a54d073b519a132df8ab5fe6de7196656e21ecb49c9f3",
        why='device="chip" sets JAX_PLATFORMS=chip,cpu (the radix cache and weight loader '
            "need cpu too); JAX_PLATFORMS=chip,cpu alone means device chip",
        make=_chip_device),
    Patch(
        name="chip_attention_backend_choice", category=Category.PLATFORM,
        module=SERVER_ARGS, qualname="ServerArgs.add_cli_args",
        sha256="1fe87f147732a8dace4d2f49c50cf57f19a4813ce35c9bbeaa87447f721e798d",
        why="--attention-backend accepts `chip` (the paged backend, whose ops are chip custom "
            "calls on the chip)",
        make=_attention_backend_choice),
    Patch(
        name="kv_pool_usage_in_server_info", category=Category.PLATFORM,
        module="sgl_jax.srt.managers.scheduler", qualname="Scheduler.get_internal_state",
        sha256="48a6404e915793da140b6dddcbc2615e17fd887f16854f7946b2313ec4c60706",
        why='get_server_info()["internal_states"][0]["kv_pool"]: tokens and pages in use, '
            "page size and capacity, for sizing the chip's memory; "
            '["device_memory"]: the device\'s memory_stats() (bytes_in_use, peak, limit)',
        make=_kv_pool_usage),
    Patch(
        name="offline_random_prompts", category=Category.PLATFORM,
        module="sgl_jax.bench_serving", qualname="sample_random_requests",
        sha256="70e08974265233d802e44898635e4ae3b13e0fff8b82cf76461ad3377c1116da",
        why="random prompts without a local dataset file are random token ids (as Python ints, "
            "which JSON can carry) instead of ShareGPT text downloaded from huggingface.co: "
            "bench_one_batch_server (which passes no file) runs offline",
        make=_offline_random_prompts),
)
