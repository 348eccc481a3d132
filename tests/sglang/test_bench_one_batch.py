"""Our `bench_one_batch` (python/jax_chip/sglang/bench_one_batch.py; sglang-jax 0.0.1.post1's own
is the torch script and runs nowhere) on the chip, on the tiny test model a, as a subprocess.

The latency test: upstream's report lines for a batch of 2 x 16 prompt tokens and 4 output
tokens, their throughputs equal to tokens / latency, the jsonl row, and the chip's modeled time
per step, which must add up to the chip events of the jax.profiler trace that --profile recorded
over the same steps (executions and transfers). The correctness test (through
`python -m jax_chip.sglang bench_one_batch`): its greedy tokens, after a prefill of the first
--cut-len tokens and an extend over that cached prefix, equal HF transformers' at every
clear-margin position (data/ref-a-bench-one-batch.json, tools/hf_reference.py on its prompts;
re-derived when $JAX_CHIP_HF_PYTHON is set).
"""

from __future__ import annotations

import ast
import json
import pathlib
import re
import subprocess
from collections import Counter
from typing import Dict, List

import pytest

from jax_chip import xspace
from jax_chip.sglang.bench_one_batch import CORRECTNESS_PROMPTS
from sgl_compare import checked_length
from test_bench_tools import _run_tool
from test_chip_engine import _chip_env
from test_engine_vs_hf import DATA, HF_PYTHON, ROOT, SGL_PYTHON, model_dirs  # noqa: F401

SERVER_ARGS = ["--device", "chip", "--attention-backend", "chip", "--page-size", "16",
               "--max-total-tokens", "1024", "--mem-fraction-static", "0.1",
               "--disable-jax-precompile", "--random-seed", "0", "--log-level", "error"]
REF = DATA / "ref-a-bench-one-batch.json"
NUM = r"([0-9.]+|inf)"


def _match(pattern: str, text: str) -> re.Match:
    m = re.search(pattern, text, re.MULTILINE)
    assert m, f"no line matches {pattern!r}:\n{text[-3000:]}"
    return m


def test_latency_report_jsonl_and_modeled_times(model_dirs, tmp_path) -> None:  # noqa: F811
    batch, input_len, output_len = 2, 16, 4
    result = tmp_path / "result.jsonl"
    prefix = tmp_path / "prof"
    proc = _run_tool(
        [SGL_PYTHON, "-m", "jax_chip.sglang.bench_one_batch", "--model-path", str(model_dirs["a"])]
        + SERVER_ARGS + ["--run-name", "tiny", "--batch-size", str(batch), "--input-len", str(input_len),
                         "--output-len", str(output_len), "--result-filename", str(result),
                         "--profile", "--profile-filename-prefix", str(prefix)],
        _chip_env(tmp_path), timeout_s=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    warmup, bench = proc.stdout.split("Benchmark ...\n")
    assert "Warmup ..." in warmup and "Prefill. latency" in warmup

    rows: List[Dict] = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
    assert len(rows) == 1, rows            # the warm-up writes no row
    row = rows[0]
    assert (row["run_name"], row["batch_size"], row["input_len"], row["output_len"]) == (
        "tiny", batch, input_len, output_len)
    assert row["prefill_throughput"] == pytest.approx(batch * input_len / row["prefill_latency"])
    assert len(row["decode_latencies"]) == output_len - 1
    assert row["median_decode_latency"] == pytest.approx(sorted(row["decode_latencies"])[1])
    assert row["median_decode_throughput"] == pytest.approx(batch / row["median_decode_latency"])
    assert row["total_latency"] == pytest.approx(row["prefill_latency"] + sum(row["decode_latencies"]))
    assert row["overall_throughput"] == pytest.approx((input_len + output_len) * batch / row["total_latency"])

    # The printed report: upstream's lines, with the row's numbers (to the printed digits).
    prefill = _match(rf"^Prefill\. latency: +{NUM} s, throughput: +{NUM} token/s$", bench)
    assert float(prefill[1]) == pytest.approx(row["prefill_latency"], abs=1e-5)
    assert float(prefill[2]) == pytest.approx(row["prefill_throughput"], abs=0.01)
    decodes = re.findall(rf"^Decode (\d+)\. Batch size: {batch}, latency: +{NUM} s, "
                         rf"throughput: +{NUM} token/s$", bench, re.MULTILINE)
    assert [int(d[0]) for d in decodes] == list(range(output_len - 1)), bench
    for (_, latency, rate), want in zip(decodes, row["decode_latencies"]):
        assert float(latency) == pytest.approx(want, abs=1e-5)
        assert float(rate) == pytest.approx(batch / want, abs=0.01)
    median = _match(rf"^Decode\.  median latency: +{NUM} s, median throughput: +{NUM} token/s$", bench)
    assert float(median[1]) == pytest.approx(row["median_decode_latency"], abs=1e-5)
    assert float(median[2]) == pytest.approx(row["median_decode_throughput"], abs=0.01)
    total = _match(rf"^Total\. latency: +{NUM} s, throughput: +{NUM} token/s$", bench)
    assert float(total[1]) == pytest.approx(row["total_latency"], abs=1e-3)
    assert float(total[2]) == pytest.approx(row["overall_throughput"], abs=0.01)

    # The chip's modeled time, per step and in total.
    modeled_prefill = _match(rf"^Prefill\. chip modeled time: +{NUM} us, modeled throughput: +{NUM} token/s$", bench)
    modeled_decodes = re.findall(rf"^Decode \d+\. Batch size: {batch}, chip modeled time: +{NUM} us, "
                                 rf"modeled throughput: +{NUM} token/s$", bench, re.MULTILINE)
    assert len(modeled_decodes) == output_len - 1, bench
    steps = [row["prefill_modeled_time"]] + row["decode_modeled_times"]
    assert len(steps) == output_len and all(s > 0 for s in steps), steps
    assert float(modeled_prefill[1]) == pytest.approx(steps[0] * 1e6, abs=0.1)
    assert [float(us) for us, _ in modeled_decodes] == pytest.approx([s * 1e6 for s in steps[1:]], abs=0.1)
    assert row["total_modeled_time"] == pytest.approx(sum(steps))
    assert row["overall_modeled_throughput"] == pytest.approx(
        (input_len + output_len) * batch / row["total_modeled_time"])
    _match(rf"^Total\. chip modeled time: +{NUM} us", bench)

    # --profile: jax.profiler's trace of the measured run holds the chip's work of those steps.
    xplanes = list(pathlib.Path(f"{prefix}_batch{batch}_input{input_len}_output{output_len}")
                   .glob("plugins/profile/*/*.xplane.pb"))
    assert len(xplanes) == 1, (xplanes, proc.stdout[-2000:])
    events = xspace.chip_events(xplanes[0].read_bytes())
    executions = Counter(e.name for e in events if e.line == "executions")
    assert executions["jit_run_model"] == output_len, executions     # 1 prefill + 3 decodes
    kernels = Counter(e.name.split(".")[0] for e in events if e.line == "kernels")
    assert kernels["radix_attention_extend"] > 0 and kernels["paged_attention_decode"] > 0, kernels
    # The chip runs executions one after another, and a host transfer issued while an execution
    # runs overlaps it (whether one does depends on the host's timing), so the modeled clock
    # advanced by the executions' time plus at most the transfers'.
    execs_s = sum(e.duration_ps for e in events if e.line == "executions") * 1e-12
    xfers_s = sum(e.duration_ps for e in events if e.line == "transfers") * 1e-12
    total = row["total_modeled_time"]
    assert execs_s <= total * (1 + 1e-6) + 1e-9, (execs_s, xfers_s, total)
    assert total <= (execs_s + xfers_s) * (1 + 1e-6) + 1e-9, (execs_s, xfers_s, total)
    assert xfers_s < 0.2 * execs_s, (execs_s, xfers_s)


def _printed_ids(text: str, name: str) -> List:
    return [ast.literal_eval(m) for m in re.findall(rf"^{name}=(\[.*\])$", text, re.MULTILINE)]


def test_correctness_test_matches_hf(model_dirs, tmp_path) -> None:  # noqa: F811
    ref = json.loads(REF.read_text())
    assert [p["prompt"] for p in ref["prompts"]] == list(CORRECTNESS_PROMPTS)
    output_len = ref["max_new_tokens"]
    proc = _run_tool(
        [SGL_PYTHON, "-m", "jax_chip.sglang", "bench_one_batch", "--model-path", str(model_dirs["a"])]
        + SERVER_ARGS + ["--correctness-test", "--cut-len", "4", "--output-len", str(output_len)],
        _chip_env(tmp_path), timeout_s=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    out = proc.stdout
    (input_ids,) = _printed_ids(out, "input_ids")
    assert input_ids == [p["prompt_ids"] for p in ref["prompts"]]
    assert "prefill logits (first half)" in out and "prefill logits (final)" in out
    outputs = _printed_ids(out, "output_ids")
    assert len(outputs) == len(CORRECTNESS_PROMPTS), out[-3000:]
    checked = 0
    for i, (rec, got) in enumerate(zip(ref["prompts"], outputs)):
        assert f"========== Prompt {i} ==========" in out
        assert len(got) == output_len
        n = checked_length(rec["margins"])
        assert got[:n] == rec["output_ids"][:n], (i, n, got, rec["output_ids"])
        checked += n
    assert checked >= len(CORRECTNESS_PROMPTS) * output_len // 2, checked


@pytest.mark.skipif(HF_PYTHON is None, reason="set JAX_CHIP_HF_PYTHON to re-derive the HF "
                    "references (a venv from requirements-hf.lock)")
def test_committed_reference_matches_hf(model_dirs, tmp_path) -> None:  # noqa: F811
    committed = json.loads(REF.read_text())
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(list(CORRECTNESS_PROMPTS)))
    out = tmp_path / "ref.json"
    subprocess.run([HF_PYTHON, str(ROOT / "tools" / "hf_reference.py"), str(model_dirs["a"]),
                    "--prompts", str(prompts), "--max-new-tokens", str(committed["max_new_tokens"]),
                    "--out", str(out)], check=True, capture_output=True)
    fresh = json.loads(out.read_text())
    assert fresh["files_sha256"] == committed["files_sha256"]
    for a, b in zip(fresh["prompts"], committed["prompts"]):
        assert a["prompt_ids"] == b["prompt_ids"] and a["output_ids"] == b["output_ids"]
        assert a["margins"] == pytest.approx(b["margins"], abs=1e-3)
