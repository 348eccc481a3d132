"""Real-size Qwen3 model shapes with random weights, built offline (tools/make_tiny_qwen3.py) for
the benchmarks that serve them with sglang-jax on the chip (tools/what_if.py; issue 8's scale
benchmark). The directories live under build/models/ and are built once.

    from model_shapes import ensure_shape_model
    path = ensure_shape_model("qwen3-0.6b")
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ROOT / "build" / "models"

# make_tiny_qwen3.py arguments per shape (head_dim is 128, untied lm_head; the weights are written
# in float32 and served in bf16: Engine(dtype="bfloat16")).
SHAPES: dict[str, list[str]] = {
    "qwen3-0.6b": ["--hidden", "1024", "--layers", "28", "--heads", "16", "--kv-heads", "8",
                   "--intermediate", "3072", "--vocab", "151936"],
    "qwen3-1.7b": ["--hidden", "2048", "--layers", "28", "--heads", "16", "--kv-heads", "8",
                   "--intermediate", "6144", "--vocab", "151936"],
    "qwen3-4b": ["--hidden", "2560", "--layers", "36", "--heads", "32", "--kv-heads", "8",
                 "--intermediate", "9728", "--vocab", "151936"],
    # a small stand-in with the same structure, for tests and --quick runs
    "qwen3-tiny": ["--hidden", "128", "--layers", "2", "--heads", "2", "--kv-heads", "1",
                   "--intermediate", "384", "--vocab", "512"],
}


def ensure_shape_model(shape: str, seed: int = 0) -> pathlib.Path:
    """The model directory of `shape` (one of SHAPES), built if it is not there yet."""
    if shape not in SHAPES:
        raise ValueError(f"unknown model shape {shape!r}; known: {', '.join(SHAPES)}")
    path = MODELS / f"{shape}-seed{seed}"
    if not (path / "model.safetensors").exists():
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_tiny_qwen3.py"), str(path),
                        *SHAPES[shape], "--seed", str(seed)], check=True)
    return path


if __name__ == "__main__":
    for name in sys.argv[1:] or ["qwen3-0.6b"]:
        print(ensure_shape_model(name))
