"""The latency of one static batch, without a server: sglang-jax's `bench_one_batch` for JAX.

    python -m jax_chip.sglang.bench_one_batch --model-path DIR --device chip \
        --attention-backend chip --page-size 16 --batch-size 1 8 --input-len 256 \
        --output-len 32 [--run-name NAME] [--result-filename result.jsonl] \
        [--log-decode-step N] [--profile --profile-filename-prefix PREFIX]
    python -m jax_chip.sglang.bench_one_batch --model-path DIR --device chip --correctness-test \
        [--cut-len 4] [--output-len 8]
    python -m jax_chip.sglang bench_one_batch ...          # the same

sglang-jax 0.0.1.post1 ships `python -m sgl_jax.bench_one_batch`, but that file is the torch
version's script (it imports torch and names sgl_jax does not have) and runs nowhere
(docs/sglang.md). This is the same tool over sglang-jax's own JAX pieces: its command line
(ServerArgs' arguments plus the benchmark's), its report lines and its jsonl rows, with
jax_chip.sglang's patches applied and the model loaded in this process by sglang-jax's
ModelWorker, as its Scheduler builds it (mesh, worker, memory pools, a no-op prefix cache).

The latency test runs, for every (batch size, input length, output length), a static batch of
random prompts: one prefill (ScheduleBatch.prepare_for_extend) and output_len - 1 decode steps
(prepare_for_decode), each through get_model_worker_batch and the worker's
forward_batch_generation, greedy, timed from a synchronized device to a synchronized device
(jax's block_until_ready on the step's outputs, the KV pool and the request -> token table). A
warm-up run of the first point comes first, as upstream's does (it compiles the shapes). On the
chip each step's report line is followed by the chip's modeled time for it: the device's modeled
clock (jax_chip.profiler.device_modeled_time_s) across the step, i.e. everything the chip ran for
it (the model step, sampling, sglang-jax's eager bookkeeping ops and the batch's transfers).

--correctness-test prefills the first --cut-len tokens of three fixed prompts, extends them with
the rest of each prompt over that cached prefix, decodes greedily and prints the texts (and the
generated token ids). --profile records each measured run with jax.profiler (the chip's plane
holds its executions, kernels and transfers with their modeled times: docs/profiling.md) into
the directory PREFIX_batchB_inputI_outputO.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import jax_chip.sglang as integration

CORRECTNESS_PROMPTS = (
    "The capital of France is",
    "The capital of the United Kindom is",
    "Today is a sunny day and I like",
)
MAX_RANDOM_TOKEN_ID = 10000   # upstream draws random prompt ids below this (and the vocab size)
WARMUP_MAX_OUTPUT_LEN = 32    # upstream's warm-up decodes at most this many steps

Print = Callable[..., None]


@dataclasses.dataclass
class BenchArgs:
    run_name: str = "default"
    batch_size: Tuple[int, ...] = (1,)
    input_len: Tuple[int, ...] = (1024,)
    output_len: Tuple[int, ...] = (16,)
    result_filename: str = "result.jsonl"
    correctness_test: bool = False
    cut_len: int = 4              # correctness test: tokens of each prompt in the first prefill
    log_decode_step: int = 0
    profile: bool = False
    profile_filename_prefix: str = "profile"

    @staticmethod
    def add_cli_args(parser: argparse.ArgumentParser) -> None:
        d = BenchArgs
        parser.add_argument("--run-name", type=str, default=d.run_name)
        parser.add_argument("--batch-size", type=int, nargs="+", default=d.batch_size)
        parser.add_argument("--input-len", type=int, nargs="+", default=d.input_len)
        parser.add_argument("--output-len", type=int, nargs="+", default=d.output_len)
        parser.add_argument("--result-filename", type=str, default=d.result_filename)
        parser.add_argument("--correctness-test", action="store_true")
        parser.add_argument("--cut-len", type=int, default=d.cut_len)
        parser.add_argument("--log-decode-step", type=int, default=d.log_decode_step,
                            help="also log every N-th decode step's latency (0: only the first 5)")
        parser.add_argument("--profile", action="store_true",
                            help="record each measured run with jax.profiler")
        parser.add_argument("--profile-filename-prefix", type=str, default=d.profile_filename_prefix,
                            help="each run's jax.profiler trace goes to the directory "
                                 "PREFIX_batchB_inputI_outputO")

    @classmethod
    def from_cli_args(cls, args: argparse.Namespace) -> "BenchArgs":
        out = cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
        out.batch_size, out.input_len, out.output_len = (
            tuple(out.batch_size), tuple(out.input_len), tuple(out.output_len))
        for name in ("batch_size", "input_len", "output_len"):
            bad = [v for v in getattr(out, name) if v < 1]
            if bad:
                raise SystemExit(f"bench_one_batch: --{name.replace('_', '-')} must be >= 1, got {bad}")
        if out.cut_len < 0:
            raise SystemExit(f"bench_one_batch: --cut-len must be >= 0, got {out.cut_len}")
        return out


class Runner:
    """sglang-jax's model worker and memory pools in this process, as its Scheduler sets them up."""

    def __init__(self, server_args: Any) -> None:
        from sgl_jax.srt.managers.schedule_batch import global_server_args_dict
        from sgl_jax.srt.managers.tp_worker import ModelWorker
        from sgl_jax.srt.mem_cache.chunk_cache import ChunkCache
        from sgl_jax.srt.utils.common_utils import set_random_seed
        from sgl_jax.srt.utils.mesh_utils import create_device_mesh

        self.server_args = server_args
        self.mesh = create_device_mesh(ici_parallelism=[-1, server_args.tp_size, 1, 1],
                                       dcn_parallelism=[1, 1, 1, 1])
        self.worker = ModelWorker(server_args=server_args, mesh=self.mesh)
        info = self.worker.get_worker_info()
        self.max_total_num_tokens = info[0]
        global_server_args_dict.update(info[7])
        set_random_seed(info[5])
        self.model_config = self.worker.model_config
        self.req_to_token_pool, self.token_to_kv_pool_allocator = self.worker.get_memory_pool()
        # A static batch shares no prefixes: the chunk cache is sglang-jax's no-op prefix cache.
        self.tree_cache = ChunkCache(self.req_to_token_pool, self.token_to_kv_pool_allocator)
        self.prefill_padded_batch_size, _ = self.worker.get_prefill_padded_size()
        self.devices = list(self.mesh.devices.flat)
        self.on_chip = all(d.platform == "chip" for d in self.devices)

    def clear(self) -> None:
        self.req_to_token_pool.clear()
        self.token_to_kv_pool_allocator.clear()

    def modeled_time_s(self) -> Optional[float]:
        """The chip's modeled clock summed over the mesh's devices (None off the chip)."""
        if not self.on_chip:
            return None
        from jax_chip.profiler import device_modeled_time_s

        return sum(device_modeled_time_s(d.id) for d in self.devices)

    def synchronize(self, *outputs: Any) -> None:
        """Waits until the device has finished `outputs`, the KV pool and the request -> token
        table (what the step wrote)."""
        import jax

        leaves = jax.tree_util.tree_leaves(
            (outputs, self.worker.model_runner.token_to_kv_pool, self.req_to_token_pool.req_to_token))
        jax.block_until_ready([x for x in leaves if isinstance(x, jax.Array) and not x.is_deleted()])

    def _forward(self, batch: Any) -> Tuple[Any, Any]:
        model_worker_batch = batch.get_model_worker_batch(
            self.max_total_num_tokens, self.prefill_padded_batch_size,
            self.worker.precompile_decode_bs_paddings,
            self.worker.precompile_prefill_token_paddings, self.server_args.page_size)
        logits_output, next_token_ids, _ = self.worker.forward_batch_generation(model_worker_batch)
        batch.output_ids = next_token_ids
        return next_token_ids, logits_output.next_token_logits

    def extend(self, reqs: List[Any]) -> Tuple[Any, Any, Any]:
        from sgl_jax.srt.managers.schedule_batch import ScheduleBatch

        batch = ScheduleBatch.init_new(reqs, self.req_to_token_pool, self.token_to_kv_pool_allocator,
                                       self.tree_cache, self.model_config, False, None, self.mesh)
        batch.prepare_for_extend()
        next_token_ids, logits = self._forward(batch)
        return next_token_ids, logits, batch

    def decode(self, batch: Any) -> Tuple[Any, Any]:
        """One decode step of `batch`, whose output_ids hold the previous step's tokens."""
        batch.prepare_for_decode()
        return self._forward(batch)


def make_req(rid: int, text: str, ids: List[int], max_new_tokens: int) -> Any:
    from sgl_jax.srt.managers.schedule_batch import Req
    from sgl_jax.srt.sampling.sampling_params import SamplingParams

    params = SamplingParams(temperature=0, max_new_tokens=max_new_tokens)   # greedy
    req = Req(rid=str(rid), origin_input_text=text, origin_input_ids=list(ids), sampling_params=params)
    req.prefix_indices = []
    req.fill_ids = req.origin_input_ids
    req.extend_input_len = len(req.fill_ids)
    req.logprob_start_len = len(req.origin_input_ids) - 1
    return req


def synthetic_reqs(batch_size: int, input_len: int, output_len: int, vocab_size: int) -> List[Any]:
    high = min(MAX_RANDOM_TOKEN_ID, vocab_size)
    ids = np.random.randint(0, high, (batch_size, input_len), dtype=np.int32)
    return [make_req(i, "", [int(t) for t in row], output_len) for i, row in enumerate(ids)]


def _line(label: str, latency: float, tokens: int, modeled_s: Optional[float]) -> List[str]:
    """Upstream's report line and, on the chip, the modeled one."""
    lines = [f"{label} latency: {latency:6.5f} s, throughput: {tokens / latency:9.2f} token/s"]
    if modeled_s is not None:
        rate = tokens / modeled_s if modeled_s > 0 else float("inf")
        lines.append(f"{label} chip modeled time: {modeled_s * 1e6:10.1f} us, "
                     f"modeled throughput: {rate:12.2f} token/s")
    return lines


def latency_test_run_once(runner: Runner, run_name: str, reqs: List[Any], batch_size: int,
                          input_len: int, output_len: int, log_decode_step: int,
                          profile_dir: Optional[str], out: Print) -> Optional[Dict[str, Any]]:
    max_batch_size = runner.max_total_num_tokens // (input_len + output_len)
    if batch_size > max_batch_size or batch_size > runner.req_to_token_pool.size:
        out(f"skipping ({batch_size}, {input_len}, {output_len}) due to max batch size limit "
            f"(KV pool {runner.max_total_num_tokens} tokens, {runner.req_to_token_pool.size} request slots)")
        return None
    runner.clear()
    runner.synchronize()   # the cleared pools are made before the profile and the clock start
    result: Dict[str, Any] = {"run_name": run_name, "batch_size": batch_size,
                              "input_len": input_len, "output_len": output_len}
    if profile_dir is not None:
        import jax

        jax.profiler.start_trace(profile_dir)

    modeled0 = runner.modeled_time_s()
    tic = time.perf_counter()
    next_token_ids, _, batch = runner.extend(reqs)
    runner.synchronize(next_token_ids)
    prefill_latency = time.perf_counter() - tic
    modeled1 = runner.modeled_time_s()
    prefill_modeled = None if modeled0 is None else modeled1 - modeled0
    for line in _line("Prefill.", prefill_latency, input_len * batch_size, prefill_modeled):
        out(line)
    result["prefill_latency"] = prefill_latency
    result["prefill_throughput"] = input_len * batch_size / prefill_latency

    decode_latencies: List[float] = []
    decode_modeled: List[float] = []
    for i in range(output_len - 1):
        modeled0 = runner.modeled_time_s()
        tic = time.perf_counter()
        next_token_ids, _ = runner.decode(batch)
        runner.synchronize(next_token_ids)
        latency = time.perf_counter() - tic
        modeled1 = runner.modeled_time_s()
        decode_latencies.append(latency)
        if modeled0 is not None:
            decode_modeled.append(modeled1 - modeled0)
        if i < 5 or (log_decode_step > 0 and i % log_decode_step == 0):
            for line in _line(f"Decode {i}. Batch size: {batch_size},", latency, batch_size,
                              decode_modeled[-1] if decode_modeled else None):
                out(line)

    if profile_dir is not None:
        import jax

        jax.profiler.stop_trace()
        out(f"jax profiler trace saved to {profile_dir}")

    if output_len > 1:
        median = float(np.median(decode_latencies))
        out(f"Decode.  median latency: {median:6.5f} s, "
            f"median throughput: {batch_size / median:9.2f} token/s")
        result["decode_latencies"] = decode_latencies
        result["median_decode_latency"] = median
        result["median_decode_throughput"] = batch_size / median
        if decode_modeled:
            m = statistics.median(decode_modeled)
            out(f"Decode.  median chip modeled time: {m * 1e6:10.1f} us, "
                f"median modeled throughput: {batch_size / m:12.2f} token/s")
            result["median_decode_modeled_time"] = m
            result["median_decode_modeled_throughput"] = batch_size / m

    total = prefill_latency + sum(decode_latencies)
    tokens = (input_len + output_len) * batch_size
    out(f"Total. latency: {total:6.3f} s, throughput: {tokens / total:9.2f} token/s")
    result["total_latency"] = total
    result["overall_throughput"] = tokens / total
    if prefill_modeled is not None:
        modeled_total = prefill_modeled + sum(decode_modeled)
        out(f"Total. chip modeled time: {modeled_total * 1e6:10.1f} us, "
            f"modeled throughput: {tokens / modeled_total:12.2f} token/s")
        result["prefill_modeled_time"] = prefill_modeled
        result["decode_modeled_times"] = decode_modeled
        result["total_modeled_time"] = modeled_total
        result["overall_modeled_throughput"] = tokens / modeled_total
    return result


def latency_test(runner: Runner, bench_args: BenchArgs, out: Print) -> List[Dict[str, Any]]:
    vocab = runner.model_config.vocab_size
    bs, il, ol = bench_args.batch_size[0], bench_args.input_len[0], bench_args.output_len[0]
    out("Warmup ...")
    latency_test_run_once(runner, bench_args.run_name, synthetic_reqs(bs, il, ol, vocab), bs, il,
                          min(WARMUP_MAX_OUTPUT_LEN, ol), 0, None, out)
    out("Benchmark ...")
    results = []
    for bs, il, ol in itertools.product(bench_args.batch_size, bench_args.input_len,
                                        bench_args.output_len):
        profile_dir = (f"{bench_args.profile_filename_prefix}_batch{bs}_input{il}_output{ol}"
                       if bench_args.profile else None)
        row = latency_test_run_once(runner, bench_args.run_name, synthetic_reqs(bs, il, ol, vocab),
                                    bs, il, ol, bench_args.log_decode_step, profile_dir, out)
        if row is not None:
            results.append(row)
    if bench_args.result_filename:
        with open(bench_args.result_filename, "a") as f:
            for row in results:
                f.write(json.dumps(row) + "\n")
    return results


def correctness_test(runner: Runner, tokenizer: Any, bench_args: BenchArgs, out: Print) -> List[List[int]]:
    """Greedy generation for CORRECTNESS_PROMPTS through a cut prefill and a prefix extend;
    returns each prompt's generated ids."""
    import jax

    output_len = bench_args.output_len[0]
    input_ids = [list(tokenizer.encode(p)) for p in CORRECTNESS_PROMPTS]
    short = [i for i, ids in enumerate(input_ids) if len(ids) <= bench_args.cut_len]
    if short:
        raise SystemExit(f"bench_one_batch: --cut-len {bench_args.cut_len} must be shorter than every "
                         f"correctness prompt; prompts {short} have {[len(input_ids[i]) for i in short]} tokens")
    out(f"\ninput_ids={input_ids}\n")
    reqs = [make_req(i, p, ids[:bench_args.cut_len], output_len)
            for i, (p, ids) in enumerate(zip(CORRECTNESS_PROMPTS, input_ids))]
    if bench_args.cut_len > 0:
        _, logits, _ = runner.extend(reqs)
        out(f"prefill logits (first half): {np.asarray(jax.device_get(logits))} \n")
    # The rest of each prompt, over the prefix the first prefill cached.
    for req, ids in zip(reqs, input_ids):
        prefix = (runner.req_to_token_pool.req_to_token[req.req_pool_idx, :bench_args.cut_len]
                  if bench_args.cut_len > 0 else [])
        req.origin_input_ids = req.fill_ids = list(ids)
        req.prefix_indices = np.asarray(jax.device_get(prefix), dtype=np.int32)
        req.extend_input_len = len(req.fill_ids) - len(req.prefix_indices)
        req.logprob_start_len = len(req.origin_input_ids) - 1
    next_token_ids, logits, batch = runner.extend(reqs)
    out(f"prefill logits (final): {np.asarray(jax.device_get(logits))} \n")
    generated = [[int(t)] for t in jax.device_get(next_token_ids)]
    for _ in range(output_len - 1):
        next_token_ids, _ = runner.decode(batch)
        for g, t in zip(generated, jax.device_get(next_token_ids)):
            g.append(int(t))
    for i, ids in enumerate(input_ids):
        out(f"========== Prompt {i} ==========")
        out(tokenizer.decode(ids + generated[i]), "\n")
        out(f"output_ids={generated[i]}\n")
    return generated


def _select_jax_platforms() -> None:
    """ServerArgs(device="chip") sets $JAX_PLATFORMS after jax was imported (by sgl_jax):
    hand it to jax's config before any backend starts."""
    import jax
    from jax._src import xla_bridge

    env = os.environ.get("JAX_PLATFORMS")
    if env and not xla_bridge.backends_are_initialized():
        jax.config.update("jax_platforms", env)


def parse_args(argv: Sequence[str]) -> Tuple[Any, BenchArgs]:
    from sgl_jax.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser(prog="python -m jax_chip.sglang.bench_one_batch",
                                     description=__doc__.splitlines()[0])
    ServerArgs.add_cli_args(parser)
    BenchArgs.add_cli_args(parser)
    args = parser.parse_args(list(argv))
    return ServerArgs.from_cli_args(args), BenchArgs.from_cli_args(args)


def main(argv: Sequence[str]) -> int:
    integration.apply()
    server_args, bench_args = parse_args(argv)
    logging.basicConfig(level=getattr(logging, server_args.log_level.upper()), format="%(message)s")
    _select_jax_platforms()
    from sgl_jax.srt.utils.common_utils import configure_logger

    configure_logger(server_args)
    if not server_args.model_path:
        raise SystemExit("bench_one_batch: provide --model-path")
    runner = Runner(server_args)
    print(f"max_total_num_tokens={runner.max_total_num_tokens}")
    if bench_args.correctness_test:
        if server_args.skip_tokenizer_init:
            raise SystemExit("bench_one_batch: --correctness-test needs the tokenizer "
                             "(drop --skip-tokenizer-init)")
        from sgl_jax.srt.hf_transformers_utils import get_tokenizer

        tokenizer = get_tokenizer(server_args.tokenizer_path,
                                  tokenizer_mode=server_args.tokenizer_mode,
                                  trust_remote_code=server_args.trust_remote_code)
        correctness_test(runner, tokenizer, bench_args, print)
    else:
        latency_test(runner, bench_args, print)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
