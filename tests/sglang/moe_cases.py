"""Shared by the Qwen3-MoE tests (test_moe_engine_a.py, test_moe_engine_b.py,
test_moe_block.py): the two random-weight MoE models, their HF references' check, and one
Engine run on the chip compared with HF.

sglang-jax 0.0.1.post1's Qwen3MoeForCausalLM with jax_chip.sglang's patches: greedy tokens equal
HF transformers' Qwen3MoeForCausalLM at every position before the reference's first near-tie, on
a batch of 8 prompts, then a second round served from the radix cache with the same tokens; the
expert matmuls run as the chip's RaggedDot kernel. The HF references
(tests/sglang/data/ref-moe-*.json) were made with tools/hf_reference.py in the HF venv;
check_reference re-derives one when $JAX_CHIP_HF_PYTHON is set.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Dict, List

import pytest

from test_chip_engine import _chip_env, _chip_kernel_counts
from test_engine_vs_hf import COMPARE, DATA, HF_PYTHON, ROOT, SGL_PYTHON, _env, build_models

MOE_MODELS: Dict[str, List[str]] = {
    # 8 experts of width 64, top-2; hidden 64, 4 q heads / 2 kv heads, 2 layers, vocab 512
    "moe-a": ["--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab",
              "512", "--seed", "4", "--experts", "8", "--top-k", "2", "--moe-intermediate", "64"],
    # 16 experts of width 96, top-2; hidden 128, 8 q heads / 2 kv heads, 3 layers, vocab 600
    "moe-b": ["--hidden", "128", "--layers", "3", "--heads", "8", "--kv-heads", "2", "--vocab",
              "600", "--seed", "6", "--experts", "16", "--top-k", "2", "--moe-intermediate",
              "96"],
}
MIN_CHECKED = 80     # clear positions over the 8 prompts: moe-a 99, moe-b 88
LAYER = pathlib.Path(__file__).parent / "moe_layer.py"


def build(tmp_path_factory, name: str) -> pathlib.Path:
    return build_models(tmp_path_factory, {name: MOE_MODELS[name]})[name]


def category_counts(trace_dir: pathlib.Path, category: str) -> Dict[str, int]:
    """program -> number of kernels of `category` in the scheduler's streamed chip trace."""
    counts: Dict[str, int] = {}
    for path in trace_dir.glob("chip-*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("cat") == category:
                program = e.get("args", {}).get("program", "")
                counts[program] = counts.get(program, 0) + 1
    return counts


def engine_on_chip_matches_hf(model_dir: pathlib.Path, tmp_path: pathlib.Path, model: str,
                              page: int) -> None:
    out = tmp_path / "cmp.json"
    proc = subprocess.run(
        [SGL_PYTHON, str(COMPARE), str(model_dir), str(DATA / f"ref-{model}.json"),
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
    assert second > first, result["cached_tokens"]      # round 2 came from the radix cache
    assert result["outputs"][1] == result["outputs"][0], "the radix cache changed the output"
    counts = _chip_kernel_counts(tmp_path)
    assert counts["paged_attention_decode"] > 0, counts
    ragged = category_counts(tmp_path, "ragged_dot")
    # the expert matmuls ran as the chip's RaggedDot kernel, in the model step
    assert ragged.get("jit_run_model", 0) > 0, ragged


def layer_runs(*extra: str) -> List[dict]:
    env = _env()
    env.pop("JAX_PLATFORMS")          # the script runs on the chip
    proc = subprocess.run([SGL_PYTHON, str(LAYER), *extra], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def check_reference(model_dir: pathlib.Path, tmp_path: pathlib.Path, model: str) -> None:
    out = tmp_path / "ref.json"
    subprocess.run([HF_PYTHON, str(ROOT / "tools" / "hf_reference.py"), str(model_dir),
                    "--out", str(out)], check=True, capture_output=True)
    fresh = json.loads(out.read_text())
    committed = json.loads((DATA / f"ref-{model}.json").read_text())
    assert fresh["files_sha256"] == committed["files_sha256"]
    for a, b in zip(fresh["prompts"], committed["prompts"]):
        assert a["prompt_ids"] == b["prompt_ids"]
        assert a["output_ids"] == b["output_ids"]
        assert a["margins"] == pytest.approx(b["margins"], abs=1e-3)
