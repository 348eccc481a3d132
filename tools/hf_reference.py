#!/usr/bin/env python3
"""Greedy reference tokens from HF transformers (PyTorch, CPU) for a local model directory.

Runs in its own venv (requirements-hf.lock): torch in the same environment as sglang-jax
0.0.1.post1 breaks sglang-jax at start. Decodes each prompt alone (batch 1, no padding) with a
plain loop over the KV-cached model, never stopping at EOS, and writes JSON:

    {"model": DIR, "files_sha256": {...}, "dtype": "float32", "max_new_tokens": N,
     "prompts": [{"prompt": TEXT, "prompt_ids": [...], "output_ids": [...],
                  "margins": [...], "top1_logprobs": [...]}, ...]}

margins[i] is the top-1 minus top-2 log-probability of the distribution output_ids[i] was taken
from. A comparison against another implementation is only meaningful up to the first position
whose margin is small (a near-tie; tests use < 0.6): after it both may legitimately differ.

    python tools/hf_reference.py MODEL_DIR --out ref.json [--prompts prompts.json] \
        [--max-new-tokens 16] [--dtype float32|bfloat16]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
from typing import Any, Dict, List

# Prompts of varied lengths (from a few tokens to more than 64, so that several pages of 16 and
# more than one page of 64 are used); the later ones share prefixes with earlier ones.
DEFAULT_PROMPTS = [
    "The quick brown fox",
    "Attention lets every token look back",
    "Once upon a time there was a king who had three daughters and a very large garden. "
    "The train to the city leaves at seven, and the return train arrives after midnight.",
    "Numbers such as 1, 2, 3",
    "A compiler turns a program into instructions that a machine can execute quickly, "
    "and every good test compares the result with an independent reference on random "
    "inputs. Rivers flow to the sea, and the sea returns the water to the clouds as rain. "
    "In the morning the market opens early",
    "The quick brown fox jumps over the lazy dog while",
    "Once upon a time there was a king who had three daughters",
    "Colors of the rainbow: red",
]


def greedy(model: Any, torch: Any, prompt_ids: List[int], max_new_tokens: int) -> Dict[str, Any]:
    out_ids: List[int] = []
    margins: List[float] = []
    top1: List[float] = []
    ids = torch.tensor([prompt_ids], dtype=torch.long)
    past = None
    with torch.no_grad():
        for _ in range(max_new_tokens):
            res = model(input_ids=ids, past_key_values=past, use_cache=True)
            past = res.past_key_values
            logprobs = torch.log_softmax(res.logits[0, -1].float(), dim=-1)
            vals, idx = torch.topk(logprobs, 2)
            tok = int(idx[0])
            out_ids.append(tok)
            margins.append(float(vals[0] - vals[1]))
            top1.append(float(vals[0]))
            ids = torch.tensor([[tok]], dtype=torch.long)
    return {"output_ids": out_ids, "margins": margins, "top1_logprobs": top1}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path, required=True)
    ap.add_argument("--prompts", type=pathlib.Path, help="JSON list of prompt strings")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    prompts = DEFAULT_PROMPTS
    if args.prompts:
        prompts = json.loads(args.prompts.read_text())
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise SystemExit(f"{args.prompts}: expected a JSON list of strings")
    tokenizer = AutoTokenizer.from_pretrained(str(args.model))
    dtype = torch.float32 if args.dtype == "float32" else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(
        str(args.model), torch_dtype=dtype, attn_implementation="eager"
    )
    model.eval()

    results = []
    for prompt in prompts:
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        rec = {"prompt": prompt, "prompt_ids": prompt_ids}
        rec.update(greedy(model, torch, prompt_ids, args.max_new_tokens))
        results.append(rec)
    doc = {
        "model": str(args.model),
        # Identify the exact model, so a test can check a rebuilt model dir is this one.
        "files_sha256": {name: hashlib.sha256((args.model / name).read_bytes()).hexdigest()
                         for name in ("config.json", "model.safetensors", "tokenizer.json")},
        "dtype": args.dtype,
        "max_new_tokens": args.max_new_tokens,
        "prompts": results,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    all_margins = [m for r in results for m in r["margins"]]
    clear = sum(m >= 0.6 for m in all_margins)
    print(f"wrote {args.out}: {len(results)} prompts, {clear}/{len(all_margins)} positions "
          f"with top-2 margin >= 0.6 (min {min(all_margins):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
