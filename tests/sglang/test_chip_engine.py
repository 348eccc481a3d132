"""sglang-jax's own entry points on the chip, unchanged: Engine(device="chip",
attention_backend="chip"), `python -m sgl_jax.launch_server --device chip --attention-backend
chip` and `python -m sgl_jax.bench_offline_throughput`, with nothing but the installed jax-chip
package (the integration activates itself when sgl_jax is imported, in the scheduler process too).

Greedy tokens are compared with HF transformers (float32, CPU) at every position before the
reference's first near-tie, on two Qwen3 shapes, page sizes 1 and 16, a batch of 8 prompts, and a
second round in which the radix cache supplies shared prefixes. The scheduler's chip trace
(CHIP_TRACE_STREAM) proves the chip ran the model with its attention kernels.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import urllib.request
from collections import Counter
from typing import Any, Dict

import pytest

from chip_server import chip_server
from test_engine_vs_hf import COMPARE, DATA, MIN_CHECKED, SGL_PYTHON, model_dirs  # noqa: F401

CHIP_KERNELS = ("paged_kv_write", "paged_attention_decode", "radix_attention_extend")


def _chip_env(trace_dir: pathlib.Path) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("JAX_PLATFORMS", None)          # device="chip" sets it (chip,cpu)
    env.pop("JAX_CHIP_SGLANG_FIXES", None)
    env["CHIP_TRACE_STREAM"] = str(trace_dir / "chip-%p.jsonl")
    return env


def _chip_kernel_counts(trace_dir: pathlib.Path) -> Counter:
    counts: Counter = Counter()
    for path in trace_dir.glob("chip-*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            name = e["name"].split(".")[0]
            if e.get("cat") == "execution":
                counts["execution:" + e["name"]] += 1
            elif name in CHIP_KERNELS:
                counts[name] += 1
    return counts


CASES = [
    pytest.param("a", 1, id="a-page1"),
    pytest.param("a", 16, id="a-page16"),
    pytest.param("b", 1, id="b-page1"),
    pytest.param("b", 16, id="b-page16"),
]


@pytest.mark.parametrize("model,page", CASES)
def test_engine_on_chip_matches_hf(model_dirs, tmp_path, model: str, page: int) -> None:  # noqa: F811
    out = tmp_path / "cmp.json"
    proc = subprocess.run(
        [SGL_PYTHON, str(COMPARE), str(model_dirs[model]), str(DATA / f"ref-{model}.json"),
         "--page-size", str(page), "--rounds", "2", "--device", "chip",
         "--attention-backend", "chip", "--json-out", str(out)],
        capture_output=True, text=True, env=_chip_env(tmp_path), timeout=900)
    if not out.exists():
        pytest.fail(f"sgl_compare did not finish (rc {proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    result = json.loads(out.read_text())
    for r, rnd in enumerate(result["rounds"]):
        assert rnd["checked"] >= MIN_CHECKED
        assert rnd["all_match"], f"round {r}: {rnd['matched_prefix']}/{rnd['checked']}: {rnd['rows']}"
    first, second = (sum(c) for c in result["cached_tokens"])
    # round 1 may already share prefixes between its own prompts; round 2 finds every prompt
    assert second > first, f"the second round must reuse radix-cache prefixes: {result['cached_tokens']}"
    assert result["outputs"][0] == result["outputs"][1], "the radix cache changed the output"
    kernels = _chip_kernel_counts(tmp_path)
    for k in CHIP_KERNELS:
        assert kernels[k] > 0, f"chip kernel {k} never ran: {kernels}"
    assert kernels["execution:jit_run_model"] > 0, kernels


def _post(url: str, payload: Dict[str, Any], timeout: float = 120) -> Dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def test_launch_server_on_chip(model_dirs, tmp_path) -> None:  # noqa: F811
    ref = json.loads((DATA / "ref-a.json").read_text())
    with chip_server(SGL_PYTHON, model_dirs["a"], tmp_path / "server.log", _chip_env(tmp_path),
                     ["--page-size", "16", "--max-total-tokens", "4096", "--mem-fraction-static", "0.1",
                      "--disable-jax-precompile", "--random-seed", "0", "--log-level", "error"]) as base:
        prompt = ref["prompts"][0]
        n = next((i for i, m in enumerate(prompt["margins"]) if m < 0.6), len(prompt["margins"]))
        out = _post(f"{base}/generate", {
            "input_ids": prompt["prompt_ids"],
            "sampling_params": {"temperature": 0.0, "max_new_tokens": ref["max_new_tokens"],
                                "ignore_eos": True}})
        assert n >= 4
        # with a tokenizer the server answers text: it must begin with HF's clear-margin tokens
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(str(model_dirs["a"]))
        want = tok.decode(prompt["output_ids"][:n])
        assert out["text"].startswith(want), (out["text"], want)
        assert out["meta_info"]["completion_tokens"] == ref["max_new_tokens"]

        comp = _post(f"{base}/v1/completions", {
            "model": str(model_dirs["a"]), "prompt": "The chip runs sglang", "max_tokens": 6,
            "temperature": 0.0, "ignore_eos": True})
        assert comp["object"] == "text_completion"
        assert isinstance(comp["choices"][0]["text"], str) and comp["choices"][0]["text"]
        assert comp["usage"]["completion_tokens"] == 6
    kernels = _chip_kernel_counts(tmp_path)
    assert kernels["paged_attention_decode"] > 0 and kernels["radix_attention_extend"] > 0, kernels


def test_bench_offline_throughput_on_chip(model_dirs, tmp_path) -> None:  # noqa: F811
    """sglang-jax's offline throughput benchmark with a local ShareGPT-format dataset file."""
    conversations = [
        {"conversations": [
            {"from": "human", "value": f"Question {i}: how does the chip model attention "
                                       f"and memory for request number {i}?"},
            {"from": "gpt", "value": "It reads only the pages a sequence uses, page by page, "
                                     "and reports modeled time for every kernel it runs."}]}
        for i in range(12)
    ]
    dataset = tmp_path / "sharegpt.json"
    dataset.write_text(json.dumps(conversations))
    result_file = tmp_path / "result.jsonl"
    proc = subprocess.run(
        [SGL_PYTHON, "-m", "sgl_jax.bench_offline_throughput", "--model-path",
         str(model_dirs["a"]), "--device", "chip", "--attention-backend", "chip",
         "--dataset-name", "sharegpt", "--dataset-path", str(dataset), "--num-prompts", "8",
         "--sharegpt-output-len", "8", "--page-size", "16", "--max-total-tokens", "4096",
         "--mem-fraction-static", "0.1", "--disable-jax-precompile", "--result-filename",
         str(result_file), "--log-level", "error"],
        capture_output=True, text=True, env=_chip_env(tmp_path), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
    assert rows, "no result written"
    last = rows[-1]
    assert last["successful_requests"] == 8
    assert last["total_output_tokens"] == 8 * 8
    assert last["output_throughput"] > 0
    kernels = _chip_kernel_counts(tmp_path)
    assert kernels["paged_attention_decode"] > 0, kernels


def test_kv_pool_is_sized_from_chip_memory_stats(model_dirs, tmp_path) -> None:  # noqa: F811
    """With no max_total_tokens, sglang-jax sizes the KV pool from the chip's free HBM
    (memory_stats bytes_limit - bytes_in_use) times mem_fraction_static."""
    code = f"""
import json
from sgl_jax.srt.entrypoints.engine import Engine
from sgl_jax.srt.utils import jax_utils
if __name__ == "__main__":
    import jax
    free = jax_utils.get_available_device_memory("chip")
    stats = jax.devices("chip")[0].memory_stats()
    engine = Engine(model_path={str(model_dirs["a"])!r}, device="chip", attention_backend="chip",
                    page_size=16, mem_fraction_static=0.25, disable_jax_precompile=True,
                    log_level="error", random_seed=0, max_running_requests=8)
    try:
        tokens = engine.scheduler_info["max_total_num_tokens"]
    finally:
        engine.shutdown()
    print(json.dumps({{"free": free, "limit": stats["bytes_limit"], "in_use": stats["bytes_in_use"],
                      "tokens": tokens}}))
"""
    script = tmp_path / "size.py"
    script.write_text(code)
    env = _chip_env(tmp_path)
    env["CHIP_HBM_BYTES"] = str(256 << 20)
    proc = subprocess.run([SGL_PYTHON, str(script)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["limit"] == 256 << 20 and r["free"] == r["limit"] - r["in_use"]
    # model a: 2 layers x (K and V) x 2 kv heads x head_dim 128 x 4 bytes (f32) per token
    per_token = 2 * 2 * 2 * 128 * 4
    budget_tokens = 0.25 * r["free"] / per_token
    assert 0.5 * budget_tokens <= r["tokens"] <= budget_tokens, (r, budget_tokens)
