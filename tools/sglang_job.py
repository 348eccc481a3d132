#!/usr/bin/env python3
"""sglang-jax generating text on the chip, with where the chip's time went.

Builds a small random-weight Qwen3 model (tools/make_tiny_qwen3.py, offline, deterministic),
starts sglang-jax's own Engine with device="chip" and attention_backend="chip", generates for a
batch of prompts twice (the second round reuses the shared prefix from the radix cache), prints
the text, and profiles the chip: top kernels by modeled time, modeled tokens/s for prefill and
decode, and the KV pool pages in use.

    .venv/bin/python tools/sglang_job.py [--model DIR] [--page-size 16] [--max-new-tokens 16]

The scheduler process streams its chip trace (CHIP_TRACE_STREAM) into --trace-dir; the merged
Chrome trace is written there too (open it in https://ui.perfetto.dev).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from sglang_chip_profile import (  # noqa: E402
    clear,
    execution_times_by_phase,
    load_scheduler_profile,
    stream_pattern,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "build" / "models" / "qwen3-tiny-h256"
MODEL_ARGS = ["--hidden", "256", "--layers", "3", "--heads", "8", "--kv-heads", "2",
              "--vocab", "800", "--seed", "1"]
SHARED_PREFIX = ("You are a helpful assistant running on the chip. Answer briefly and precisely. "
                 "The chip emulator reports modeled time. ")
PROMPTS = ["The capital of France is", "Paged attention reads", "Once upon a time",
           "The radix cache"]


def ensure_model(path: pathlib.Path) -> pathlib.Path:
    if not (path / "config.json").exists():
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_tiny_qwen3.py"), str(path)]
                       + MODEL_ARGS, check=True)
    return path


def profile_report(trace_dir: pathlib.Path, tokens: dict[str, int]) -> str:
    profile = load_scheduler_profile(trace_dir)
    if profile is None:
        return "no chip executions were recorded"
    profile.save(trace_dir / "chip_trace.json")
    phase_us = {k: sum(v) for k, v in execution_times_by_phase(profile).items()}
    lines = [profile.summary().table(top=10), ""]
    for phase in ("prefill", "decode"):
        us = phase_us.get(phase, 0.0)
        rate = tokens[phase] / (us * 1e-6) if us else float("nan")
        lines.append(f"modeled {phase}: {tokens[phase]} tokens in {us:,.1f} us of chip time "
                     f"-> {rate:,.0f} tokens/s")
    if phase_us.get("other"):
        lines.append(f"other chip work (sampling, cache bookkeeping, eager ops): "
                     f"{phase_us['other']:,.1f} us")
    lines.append(f"trace: {trace_dir / 'chip_trace.json'}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=pathlib.Path, default=DEFAULT_MODEL)
    ap.add_argument("--page-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--max-total-tokens", type=int, default=8192)
    ap.add_argument("--trace-dir", type=pathlib.Path, default=ROOT / "build" / "sglang_job_trace")
    args = ap.parse_args()

    model = ensure_model(args.model)
    clear(args.trace_dir)
    # Inherited by sglang-jax's scheduler process, where the chip runs the model.
    os.environ["CHIP_TRACE_STREAM"] = stream_pattern(args.trace_dir)
    os.environ.pop("JAX_PLATFORMS", None)  # device="chip" sets it (chip,cpu)

    from sgl_jax.srt.entrypoints.engine import Engine

    engine = Engine(model_path=str(model), device="chip", attention_backend="chip",
                    page_size=args.page_size, max_total_tokens=args.max_total_tokens,
                    mem_fraction_static=0.5, disable_jax_precompile=True, log_level="error",
                    random_seed=0, max_running_requests=16)
    tokens = {"prefill": 0, "decode": 0}
    try:
        params = {"temperature": 0.0, "max_new_tokens": args.max_new_tokens}
        prompts = [SHARED_PREFIX + p for p in PROMPTS]
        for round_ in (1, 2):
            outs = engine.generate(prompt=prompts, sampling_params=params)
            print(f"--- round {round_} (sglang-jax Engine on the chip, page size {args.page_size})")
            for p, o in zip(PROMPTS, outs):
                m = o["meta_info"]
                tokens["prefill"] += m["prompt_tokens"] - m.get("cached_tokens", 0)
                tokens["decode"] += max(m["completion_tokens"] - 1, 0)
                print(f"{p!r} -> {o['text']!r}  (prompt {m['prompt_tokens']} tokens, "
                      f"{m.get('cached_tokens', 0)} from the radix cache)")
        info = engine.get_server_info()
        kv = info["internal_states"][0].get("kv_pool", {})
    finally:
        engine.shutdown()

    print()
    print(f"KV pool: {kv.get('pages_in_use')} of {kv.get('pages_total')} pages in use "
          f"({kv.get('tokens_in_use')} tokens, page size {kv.get('page_size')})")
    print(profile_report(args.trace_dir, tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
