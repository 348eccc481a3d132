"""Qwen3-MoE (sglang-jax 0.0.1.post1's Qwen3MoeForCausalLM with jax_chip.sglang's patches) on the
chip: greedy tokens equal HF transformers' Qwen3MoeForCausalLM at every position before the
reference's first near-tie, on two random-weight MoE shapes (8 experts and 16 experts, top-2),
page sizes 1 and 16, a batch of 8 prompts, and a second round served from the radix cache with the
same tokens; the expert matmuls are the chip's RaggedDot kernel; and one MoE block's modeled time
follows its top-k, not its number of experts.

The HF references (tests/sglang/data/ref-moe-*.json) were made with tools/hf_reference.py in the
HF venv; test_committed_moe_references_match_hf re-derives them when $JAX_CHIP_HF_PYTHON is set.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
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


@pytest.fixture(scope="session")
def moe_dirs(tmp_path_factory) -> Dict[str, pathlib.Path]:
    return build_models(tmp_path_factory, MOE_MODELS)


CASES = [
    pytest.param("moe-a", 1, id="moe-a-page1"),
    pytest.param("moe-a", 16, id="moe-a-page16"),
    pytest.param("moe-b", 1, id="moe-b-page1"),
    pytest.param("moe-b", 16, id="moe-b-page16"),
]


@pytest.mark.parametrize("model,page", CASES)
def test_moe_engine_on_chip_matches_hf(moe_dirs, tmp_path, model: str, page: int) -> None:
    out = tmp_path / "cmp.json"
    proc = subprocess.run(
        [SGL_PYTHON, str(COMPARE), str(moe_dirs[model]), str(DATA / f"ref-{model}.json"),
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
    assert result["outputs"][1] == result["outputs"][0]
    counts = _chip_kernel_counts(tmp_path)
    assert counts["paged_attention_decode"] > 0, counts
    ragged = _category_counts(tmp_path, "ragged_dot")
    # the expert matmuls ran as the chip's RaggedDot kernel, in the model step
    assert ragged.get("jit_run_model", 0) > 0, ragged


def _category_counts(trace_dir: pathlib.Path, category: str) -> Dict[str, int]:
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


def _layer_runs(*extra: str) -> List[dict]:
    env = _env()
    env.pop("JAX_PLATFORMS")          # the script runs on the chip
    proc = subprocess.run([SGL_PYTHON, str(LAYER), *extra], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_moe_block_time_scales_with_top_k_not_experts() -> None:
    """8192 tokens, hidden 128, experts of width 128 (f32): the same block with 8 and 64 experts
    at top-2, and 8 experts at top-4; the output within the f32 error bound of a float64
    reference of HF's block each time. With as many rows per expert as here (256 at 64 experts,
    top-2) the grouped matmuls are compute-bound; JAX's dense fallback would multiply every row by
    every expert (8x the work at 64 experts)."""
    runs = {(r["experts"], r["top_k"]): r for r in _layer_runs("--configs", "8:2,64:2,8:4",
                                                               "--tokens", "8192")}
    for r in runs.values():
        assert r["max_err_over_bound"] <= 1.0, r
        assert r["kernel_counts"].get("ragged_dot") == 3, r
        assert "dot_general" not in r["kernel_counts"], r     # no dense expert matmul
    t = {key: r["modeled_us"] for key, r in runs.items()}
    assert t[(64, 2)] < 1.2 * t[(8, 2)], t        # 8x the experts: about the same time
    assert t[(8, 4)] > 1.5 * t[(8, 2)], t         # 2x the rows routed: much more time


@pytest.mark.skipif(HF_PYTHON is None, reason="set JAX_CHIP_HF_PYTHON to re-derive the HF "
                    "references (a venv from requirements-hf.lock)")
@pytest.mark.parametrize("model", list(MOE_MODELS))
def test_committed_moe_references_match_hf(moe_dirs, tmp_path, model: str) -> None:
    out = tmp_path / "ref.json"
    subprocess.run([HF_PYTHON, str(ROOT / "tools" / "hf_reference.py"), str(moe_dirs[model]),
                    "--out", str(out)], check=True, capture_output=True)
    fresh = json.loads(out.read_text())
    committed = json.loads((DATA / f"ref-{model}.json").read_text())
    assert fresh["files_sha256"] == committed["files_sha256"]
    for a, b in zip(fresh["prompts"], committed["prompts"]):
        assert a["prompt_ids"] == b["prompt_ids"]
        assert a["output_ids"] == b["output_ids"]
        assert a["margins"] == pytest.approx(b["margins"], abs=1e-3)
