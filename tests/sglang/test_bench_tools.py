"""sglang-jax's benchmark tools on the chip, run as users run them, offline and on loopback:
`python -m sgl_jax.bench_serving` against `python -m sgl_jax.launch_server --device chip
--attention-backend chip` (random prompts cut from a local ShareGPT-format file), and
`python -m sgl_jax.bench_one_batch_server`, which starts its own chip server. Each prints its
usual report; the tests check the report's numbers against what was asked and against each
other, and that the chip ran the model (its trace stream).

(`python -m sgl_jax.bench_one_batch` cannot run in sglang-jax 0.0.1.post1 on any platform: it is
the torch version's script, importing torch and calling APIs sglang-jax does not have;
docs/sglang.md. Ours, `python -m jax_chip.sglang.bench_one_batch`, is tested in
test_bench_one_batch.py.)
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
from typing import Dict, List

import pytest

from chip_server import chip_server, free_port
from test_chip_engine import _chip_env, _chip_kernel_counts
from test_engine_vs_hf import SGL_PYTHON, model_dirs  # noqa: F401

SERVER_ARGS = ["--device", "chip", "--attention-backend", "chip",   # (chip_server passes these 4)
               "--host", "127.0.0.1", "--page-size", "16", "--max-total-tokens", "4096", "--mem-fraction-static", "0.1",
               "--disable-jax-precompile", "--random-seed", "0", "--log-level", "error"]


def _report_value(text: str, label: str) -> float:
    """The number after `label:` on its line of a tool's report."""
    m = re.search(rf"^{re.escape(label)}:\s+([0-9.]+)", text, re.MULTILINE)
    assert m, f"the report has no {label!r} line:\n{text[-3000:]}"
    return float(m.group(1))


def _sharegpt_file(path: pathlib.Path, n: int = 12) -> pathlib.Path:
    rows = [{"conversations": [
        {"from": "human", "value": f"Question {i}: how does the chip model attention and memory "
                                   f"for request number {i}, page by page and kernel by kernel?"},
        {"from": "gpt", "value": "It reads only the pages a sequence uses and reports the "
                                 "modeled time of every kernel it runs."}]} for i in range(n)]
    path.write_text(json.dumps(rows))
    return path


def _run_tool(cmd: List[str], env: Dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
    """Runs a tool in its own session and, whatever happens, ends every process it left."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc.returncode is None:
            proc.wait(timeout=30)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_bench_serving_against_a_chip_server(model_dirs, tmp_path) -> None:  # noqa: F811
    prompts, input_len, output_len = 4, 24, 6
    with chip_server(SGL_PYTHON, model_dirs["a"], tmp_path / "server.log", _chip_env(tmp_path),
                     extra=SERVER_ARGS[4:], healthy_s=240) as base:
        port = base.rsplit(":", 1)[1]
        result = tmp_path / "serving.jsonl"
        proc = _run_tool(
            [SGL_PYTHON, "-m", "sgl_jax.bench_serving", "--backend", "sgl-jax",
             "--host", "127.0.0.1", "--port", port, "--model", str(model_dirs["a"]),
             "--dataset-name", "random", "--dataset-path", str(_sharegpt_file(tmp_path / "sg.json")),
             "--random-input-len", str(input_len), "--random-output-len", str(output_len),
             "--random-range-ratio", "1", "--num-prompts", str(prompts), "--request-rate", "inf",
             "--output-file", str(result), "--disable-tqdm", "--seed", "1"],
            _chip_env(tmp_path), timeout_s=240)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-4000:]
    assert "Serving Benchmark Result" in out, out[-3000:]
    assert _report_value(out, "Successful requests") == prompts
    assert _report_value(out, "Total input tokens") == prompts * input_len
    assert _report_value(out, "Total generated tokens") == prompts * output_len
    duration = _report_value(out, "Benchmark duration (s)")
    assert duration > 0
    # the report prints the duration with 2 decimals (+-0.005 s: ~2% of a 0.28 s run) and the
    # throughput with 2: it is tokens / duration for a duration within that rounding
    throughput = _report_value(out, "Output token throughput (tok/s)")
    tokens = prompts * output_len
    low, high = duration - 0.005, duration + 0.005
    assert tokens / high - 0.005 <= throughput <= tokens / max(low, 1e-9) + 0.005
    ttft, e2e = _report_value(out, "Mean TTFT (ms)"), _report_value(out, "Mean E2E Latency (ms)")
    assert 0 < ttft <= e2e <= high * 1000

    row = json.loads(result.read_text().splitlines()[-1])
    assert row["completed"] == prompts
    assert row["total_output_tokens"] == prompts * output_len
    assert row["mean_ttft_ms"] == pytest.approx(ttft, abs=0.01)
    kernels = _chip_kernel_counts(tmp_path)
    assert kernels["radix_attention_extend"] > 0 and kernels["paged_attention_decode"] > 0, kernels


def test_bench_one_batch_server_on_chip(model_dirs, tmp_path) -> None:  # noqa: F811
    batch, input_len, output_len = 2, 16, 4
    result = tmp_path / "result.jsonl"
    # The tool starts the server itself (and stops it); no dataset file: random token ids.
    proc = _run_tool(
        [SGL_PYTHON, "-m", "sgl_jax.bench_one_batch_server", "--model-path", str(model_dirs["a"]),
         "--port", str(free_port())] + SERVER_ARGS + [
         "--batch-size", str(batch), "--input-len", str(input_len), "--output-len", str(output_len),
         "--skip-warmup", "--show-report", "--result-filename", str(result)],
        _chip_env(tmp_path), timeout_s=300)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-4000:]
    assert _report_value(out, "batch size") == batch
    assert _report_value(out, "input_len") == input_len
    latency, ttft = _report_value(out, "latency"), _report_value(out, "ttft")
    assert 0 <= ttft <= latency     # printed with 2 decimals (s): a fast prefill can print 0.00
    # the input throughput is tokens / ttft for a ttft within the printed rounding (+-0.005 s)
    thr, tokens = _report_value(out, "input throughput"), batch * input_len
    assert tokens / (ttft + 0.005) - 0.005 <= thr
    assert ttft < 0.006 or thr <= tokens / (ttft - 0.005) + 0.005
    # The markdown report's row for the batch.
    table: List[str] = [line for line in out.splitlines() if line.startswith(f"| {batch} |")]
    assert table, out[-3000:]
    rows: List[Dict] = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
    assert len(rows) == 1 and rows[0]["batch_size"] == batch and rows[0]["output_len"] == output_len
    assert rows[0]["latency"] == pytest.approx(latency, abs=0.01)
    assert rows[0]["output_throughput"] > 0 and rows[0]["last_gen_throughput"] > 0
    kernels = _chip_kernel_counts(tmp_path)
    assert kernels["radix_attention_extend"] > 0 and kernels["paged_attention_decode"] > 0, kernels
