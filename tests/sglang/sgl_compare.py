#!/usr/bin/env python3
"""Run sglang-jax's Engine (JAX_PLATFORMS=cpu) on a model dir and compare its greedy tokens
with an HF reference JSON written by tools/hf_reference.py.

Used by tests/sglang/test_engine_vs_hf.py; also a CLI for investigation:

    JAX_PLATFORMS=cpu python tests/sglang/sgl_compare.py MODEL REF.json --page-size 16 \
        [--fixes all|none|name,name] [--rounds 2] [--one-by-one]

A position is compared only while the reference's top-2 margin is >= MARGIN: the first
near-tie and everything after it are skipped (both implementations may legitimately differ
there).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from typing import Any, Dict, List, Optional, Tuple

MARGIN = 0.6

if "--device" not in sys.argv:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))


def checked_length(margins: List[float], margin: float = MARGIN) -> int:
    """Number of leading positions whose reference choice is clear."""
    for i, m in enumerate(margins):
        if m < margin:
            return i
    return len(margins)


def compare(ref: Dict[str, Any], outputs: List[List[int]]) -> Dict[str, Any]:
    """Per prompt: compared positions, first mismatch (or None)."""
    rows = []
    for rec, out in zip(ref["prompts"], outputs):
        n = checked_length(rec["margins"])
        want = rec["output_ids"][:n]
        got = list(out[:n])
        first_bad: Optional[int] = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b),
                                        None if len(got) == n else len(got))
        rows.append({"checked": n, "first_mismatch": first_bad, "want": want, "got": got})
    checked = sum(r["checked"] for r in rows)
    matched = sum(r["checked"] if r["first_mismatch"] is None else r["first_mismatch"]
                  for r in rows)
    return {"rows": rows, "checked": checked, "matched_prefix": matched,
            "all_match": all(r["first_mismatch"] is None for r in rows)}


def run_engine(model: str, ref: Dict[str, Any], page_size: int, fixes: Optional[str],
               rounds: int, one_by_one: bool = False, max_total_tokens: int = 4096,
               engine_kwargs: Optional[Dict[str, Any]] = None
               ) -> Tuple[List[List[List[int]]], List[List[int]]]:
    """Returns outputs[round][prompt] (greedy token ids) and cached_tokens[round][prompt]."""
    if fixes != "none":
        import jax_chip.sglang as integration

        names = None if fixes in (None, "all") else [s for s in fixes.split(",") if s]
        integration.apply(names)
    from sgl_jax.srt.entrypoints.engine import Engine

    kwargs: Dict[str, Any] = dict(
        model_path=model, page_size=page_size, max_total_tokens=max_total_tokens,
        mem_fraction_static=0.1, disable_jax_precompile=True, log_level="error",
        random_seed=0, max_running_requests=16, chunked_prefill_size=-1,
        skip_tokenizer_init=True,
    )
    kwargs.update(engine_kwargs or {})
    engine = Engine(**kwargs)
    try:
        n_new = ref["max_new_tokens"]
        params = {"temperature": 0.0, "max_new_tokens": n_new, "ignore_eos": True}
        ids = [p["prompt_ids"] for p in ref["prompts"]]
        results, cached = [], []
        for _ in range(rounds):
            if one_by_one:
                outs = [engine.generate(input_ids=[x], sampling_params=params)[0] for x in ids]
            else:
                outs = engine.generate(input_ids=ids, sampling_params=params)
            results.append([list(o["output_ids"]) for o in outs])
            cached.append([int(o.get("meta_info", {}).get("cached_tokens", 0)) for o in outs])
        return results, cached
    finally:
        engine.shutdown()


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("ref", type=pathlib.Path)
    ap.add_argument("--page-size", type=int, default=1)
    ap.add_argument("--fixes", default="all", help="all | none | comma-separated patch names (jax_chip.sglang.PATCHES)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--one-by-one", action="store_true")
    ap.add_argument("--disable-radix-cache", action="store_true")
    ap.add_argument("--chunked-prefill-size", type=int, default=-1)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--json-out", type=pathlib.Path, help="write the comparison here")
    ap.add_argument("--device", default=None, help="sglang-jax device (e.g. chip); default: "
                    "from JAX_PLATFORMS")
    ap.add_argument("--attention-backend", default=None)
    args = ap.parse_args(argv)
    ref = json.loads(args.ref.read_text())
    extra: Dict[str, Any] = {"chunked_prefill_size": args.chunked_prefill_size,
                             "dtype": args.dtype}
    if args.disable_radix_cache:
        extra["disable_radix_cache"] = True
    if args.device:
        extra["device"] = args.device
    if args.attention_backend:
        extra["attention_backend"] = args.attention_backend
    results, cached = run_engine(args.model, ref, args.page_size, args.fixes, args.rounds,
                         args.one_by_one, engine_kwargs=extra)
    ok = True
    report = []
    for r, outs in enumerate(results):
        c = compare(ref, outs)
        report.append(c)
        ok &= c["all_match"]
        print(f"round {r}: {c['matched_prefix']}/{c['checked']} checked tokens match "
              f"(matching prefix per prompt)")
        for i, row in enumerate(c["rows"]):
            if row["first_mismatch"] is not None:
                print(f"  prompt {i}: first mismatch at {row['first_mismatch']} of "
                      f"{row['checked']}: want {row['want']} got {row['got']}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"rounds": report, "outputs": results,
                                             "cached_tokens": cached}) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
