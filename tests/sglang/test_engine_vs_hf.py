"""sglang-jax 0.0.1.post1 with jax_chip.sglang's fixes generates HF's greedy tokens (CPU).

Each case builds a tiny random-weight Qwen3 with tools/make_tiny_qwen3.py (deterministic: the
files' sha256 must equal those recorded in the committed HF reference, tests/sglang/data/), then
runs sglang-jax's Engine on JAX's cpu backend in a fresh process (tests/sglang/sgl_compare.py)
on all 8 reference prompts at once, twice (the second round hits the radix cache), and requires
the greedy tokens to equal HF's at every position before the reference's first near-tie
(top-2 logprob margin < 0.6).

Interpreters: sglang-jax cannot share a venv with torch, so the processes run in
$JAX_CHIP_SGLANG_PYTHON (default: this interpreter), a venv made from requirements.lock +
requirements-sglang.lock + `pip install --no-deps sglang-jax==0.0.1.post1`. Setting
$JAX_CHIP_HF_PYTHON (a venv from requirements-hf.lock) also re-derives the references with HF
transformers and checks the committed ones against them.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Dict, List

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).parent / "data"
COMPARE = pathlib.Path(__file__).parent / "sgl_compare.py"
SGL_PYTHON = os.environ.get("JAX_CHIP_SGLANG_PYTHON", sys.executable)
HF_PYTHON = os.environ.get("JAX_CHIP_HF_PYTHON")

MODELS: Dict[str, List[str]] = {
    # hidden 64, 4 q heads / 2 kv heads, 2 layers, vocab 512
    "a": ["--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab", "512",
          "--seed", "0"],
    # hidden 256, 8 q heads / 2 kv heads, 3 layers, vocab 800
    "b": ["--hidden", "256", "--layers", "3", "--heads", "8", "--kv-heads", "2", "--vocab",
          "800", "--seed", "1"],
    # tied embeddings, GQA 8:1
    "c": ["--hidden", "128", "--layers", "2", "--heads", "8", "--kv-heads", "1", "--vocab",
          "600", "--seed", "2", "--tie-word-embeddings"],
}
MIN_CHECKED = 80  # each reference has at least this many clear positions over its 8 prompts


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "python")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("JAX_CHIP_SGLANG_FIXES", None)
    return env


def build_models(tmp_path_factory, models: Dict[str, List[str]]) -> Dict[str, pathlib.Path]:
    """Each model of `models` rebuilt with tools/make_tiny_qwen3.py, its files checked against
    the sha256 its committed reference (data/ref-NAME.json) was made with."""
    import hashlib

    out: Dict[str, pathlib.Path] = {}
    for name, args in models.items():
        path = tmp_path_factory.mktemp(f"tiny-qwen3-{name}")
        subprocess.run([SGL_PYTHON, str(ROOT / "tools" / "make_tiny_qwen3.py"), str(path)] + args,
                       check=True, capture_output=True, env=_env())
        ref = json.loads((DATA / f"ref-{name}.json").read_text())
        for fname, digest in ref["files_sha256"].items():
            got = hashlib.sha256((path / fname).read_bytes()).hexdigest()
            assert got == digest, (f"model {name}: rebuilt {fname} differs from the one the HF "
                                   "reference was made with (make_tiny_qwen3 not deterministic?)")
        out[name] = path
    return out


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> Dict[str, pathlib.Path]:
    return build_models(tmp_path_factory, MODELS)


def _run_compare(model: pathlib.Path, ref: pathlib.Path, tmp_path: pathlib.Path,
                 *extra: str, env: Dict[str, str] | None = None) -> dict:
    out = tmp_path / "cmp.json"
    proc = subprocess.run(
        [SGL_PYTHON, str(COMPARE), str(model), str(ref), "--json-out", str(out)] + list(extra),
        capture_output=True, text=True, env=env or _env(), timeout=900)
    if not out.exists():
        pytest.fail(f"sgl_compare did not finish (rc {proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(out.read_text())


CASES = [
    pytest.param("a", ["--page-size", "1"], id="a-page1"),
    pytest.param("a", ["--page-size", "16"], id="a-page16"),
    pytest.param("b", ["--page-size", "64"], id="b-page64"),
    pytest.param("b", ["--page-size", "16", "--chunked-prefill-size", "32"],
                 id="b-page16-chunked-prefill"),
    pytest.param("c", ["--page-size", "16"], id="c-tied-page16"),
    pytest.param("a", ["--page-size", "1", "--disable-radix-cache"], id="a-page1-no-radix"),
]


@pytest.mark.parametrize("model,extra", CASES)
def test_engine_matches_hf_greedy(model_dirs, tmp_path, model: str, extra: List[str]) -> None:
    result = _run_compare(model_dirs[model], DATA / f"ref-{model}.json", tmp_path,
                          "--rounds", "2", *extra)
    for r, rnd in enumerate(result["rounds"]):
        assert rnd["checked"] >= MIN_CHECKED
        bad = {i: row for i, row in enumerate(rnd["rows"]) if row["first_mismatch"] is not None}
        assert not bad, f"round {r}: prompts differ from HF: {bad}"


def test_unfixed_sglang_jax_disagrees_with_hf(model_dirs, tmp_path) -> None:
    """Negative control: with only what sglang-jax needs to start on CPU (the KV write and the
    Qwen3 logits call), its tokens differ from HF's: the comparison detects the bugs."""
    result = _run_compare(model_dirs["a"], DATA / "ref-a.json", tmp_path, "--rounds", "1",
                          "--fixes", "kv_write,qwen3_call,device_memory")
    rnd = result["rounds"][0]
    assert rnd["matched_prefix"] < rnd["checked"] // 4, rnd


@pytest.mark.skipif(HF_PYTHON is None, reason="set JAX_CHIP_HF_PYTHON to re-derive the HF "
                    "references (a venv from requirements-hf.lock)")
@pytest.mark.parametrize("model", list(MODELS))
def test_committed_references_match_hf(model_dirs, tmp_path, model: str) -> None:
    check_committed_reference(model_dirs[model], tmp_path, model)


def check_committed_reference(model_dir: pathlib.Path, tmp_path: pathlib.Path,
                              name: str) -> None:
    """tools/hf_reference.py (in $JAX_CHIP_HF_PYTHON) gives data/ref-NAME.json again."""
    out = tmp_path / "ref.json"
    subprocess.run([HF_PYTHON, str(ROOT / "tools" / "hf_reference.py"), str(model_dir),
                    "--out", str(out)], check=True, capture_output=True)
    fresh = json.loads(out.read_text())
    committed = json.loads((DATA / f"ref-{name}.json").read_text())
    assert fresh["files_sha256"] == committed["files_sha256"]
    for a, b in zip(fresh["prompts"], committed["prompts"]):
        assert a["prompt_ids"] == b["prompt_ids"]
        assert a["output_ids"] == b["output_ids"]
        assert a["margins"] == pytest.approx(b["margins"], abs=1e-3)
