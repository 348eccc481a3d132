#!/usr/bin/env python3
"""Write a small random-weight Qwen3 model directory, entirely offline.

The directory holds what both HF transformers (`AutoModelForCausalLM`, `AutoTokenizer`) and
sglang-jax 0.0.1.post1 load from a local path: `config.json` (Qwen3ForCausalLM), a single
`model.safetensors` (float32), `generation_config.json`, and a byte-level BPE tokenizer trained
here with the `tokenizers` library on a small built-in corpus (`tokenizer.json`,
`tokenizer_config.json`, `special_tokens_map.json`).

head_dim is always 128: sglang-jax 0.0.1.post1 pads every head to a multiple of 128 in the
model and the weight loader, so anything else would not be the same model there.

The weights are scaled so that the model is a useful test subject for greedy decoding:
- every projection has std 1/sqrt(fan_in), so each layer's attention and MLP contribute to the
  residual stream as much as the embedding does (the next token depends on the context and on
  positions, not only on the current token; attention bugs change the output);
- q_norm/k_norm weights around `--qk-gain` sharpen the attention scores;
- the (untied) lm_head has std `--logit-std`/sqrt(hidden) (tied: a small embedding and a
  final-norm gain to the same effect), so logits have about that std and greedy choices have clear margins (top-2 logprob margin >= 0.6 at most positions; tools/
  hf_reference.py reports the margin at every position).

Needs numpy, safetensors and tokenizers only (both the HF and the sglang venvs have them).

    python tools/make_tiny_qwen3.py OUT_DIR --hidden 64 --layers 2 --heads 4 --kv-heads 2 \
        --vocab 512 --seed 0

With `--experts E` (and `--top-k`, `--moe-intermediate`) it writes a Qwen3MoeForCausalLM
instead: every layer's MLP is a sparse MoE block (a router `mlp.gate` and E SwiGLU experts
`mlp.experts.{e}.{gate,up,down}_proj`), as HF transformers' Qwen3MoeSparseMoeBlock loads it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Dict

import numpy as np

HEAD_DIM = 128
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# A small corpus of plain English for the tokenizer (nothing is downloaded).
CORPUS = """\
The quick brown fox jumps over the lazy dog while the farmer watches from the hill.
A small language model reads one token at a time and predicts what comes next.
Attention lets every token look back at the tokens before it in the same sequence.
The key and value vectors of earlier tokens are kept in a paged cache on the device.
When two requests share a prefix, the radix tree lets the second one reuse the cache.
Greedy decoding always picks the token with the largest logit at every step.
Rivers flow to the sea, and the sea returns the water to the clouds as rain.
In the morning the market opens early and the bakers sell fresh bread and rolls.
Numbers such as 1, 2, 3, 42, 100 and 2025 appear in text more often than one thinks.
The chip multiplies matrices of bfloat16 values and accumulates the sums in float32.
Questions: who, what, where, when, why and how? Answers are short or long.
She said that the library would stay open until nine o'clock on Thursday evenings.
Mountains, forests, deserts and oceans cover the surface of our small blue planet.
A compiler turns a program into instructions that a machine can execute quickly.
The cat sat on the mat, and the dog slept by the warm fire in the old stone house.
Every good test compares the result with an independent reference on random inputs.
Once upon a time there was a king who had three daughters and a very large garden.
The train to the city leaves at seven, and the return train arrives after midnight.
Colors of the rainbow: red, orange, yellow, green, blue, indigo and violet.
He wrote the letter twice because the first version had too many small mistakes.
"""


def train_tokenizer(vocab_size: int, out: pathlib.Path) -> int:
    """Train a byte-level BPE tokenizer; return the id of <|endoftext|>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = CORPUS.splitlines()
    tok.train_from_iterator(lines * 4, trainer=trainer)
    if tok.get_vocab_size() > vocab_size:
        raise SystemExit(f"tokenizer vocab {tok.get_vocab_size()} exceeds --vocab {vocab_size}")
    tok.save(str(out / "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 4096,
        "bos_token": None,
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "clean_up_tokenization_spaces": False,
        "add_prefix_space": False,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "chat_template": (
            "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        ),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    special_map = {
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
    }
    (out / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n")
    return eos


def make_weights(args: argparse.Namespace) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(args.seed)
    h, v = args.hidden, args.vocab
    q_dim, kv_dim = args.heads * HEAD_DIM, args.kv_heads * HEAD_DIM
    inter = args.intermediate

    def dense(out_dim: int, in_dim: int) -> np.ndarray:
        # torch Linear layout [out, in]; std 1/sqrt(fan_in) keeps activations at unit scale.
        return (rng.standard_normal((out_dim, in_dim)) / np.sqrt(in_dim)).astype(np.float32)

    def norm_weight(n: int, center: float) -> np.ndarray:
        return (center * (1.0 + 0.1 * rng.standard_normal(n))).astype(np.float32)

    w: Dict[str, np.ndarray] = {
        "model.embed_tokens.weight": rng.standard_normal((v, h)).astype(np.float32),
        "model.norm.weight": norm_weight(h, 1.0),
    }
    for i in range(args.layers):
        p = f"model.layers.{i}"
        w[f"{p}.input_layernorm.weight"] = norm_weight(h, 1.0)
        w[f"{p}.post_attention_layernorm.weight"] = norm_weight(h, 1.0)
        w[f"{p}.self_attn.q_proj.weight"] = dense(q_dim, h)
        w[f"{p}.self_attn.k_proj.weight"] = dense(kv_dim, h)
        w[f"{p}.self_attn.v_proj.weight"] = dense(kv_dim, h)
        w[f"{p}.self_attn.o_proj.weight"] = dense(h, q_dim)
        w[f"{p}.self_attn.q_norm.weight"] = norm_weight(HEAD_DIM, args.qk_gain)
        w[f"{p}.self_attn.k_norm.weight"] = norm_weight(HEAD_DIM, args.qk_gain)
        if args.experts:
            # The router's logits have std --router-std: distinct experts win clearly (a near-tie
            # between the k-th and (k+1)-th expert would make the routing, hence the output,
            # depend on rounding). Each expert is a SwiGLU MLP of width --moe-intermediate.
            w[f"{p}.mlp.gate.weight"] = dense(args.experts, h) * np.float32(args.router_std)
            for e in range(args.experts):
                q = f"{p}.mlp.experts.{e}"
                w[f"{q}.gate_proj.weight"] = dense(args.moe_intermediate, h)
                w[f"{q}.up_proj.weight"] = dense(args.moe_intermediate, h)
                w[f"{q}.down_proj.weight"] = dense(h, args.moe_intermediate)
        else:
            w[f"{p}.mlp.gate_proj.weight"] = dense(inter, h)
            w[f"{p}.mlp.up_proj.weight"] = dense(inter, h)
            w[f"{p}.mlp.down_proj.weight"] = dense(h, inter)
    if args.tie_word_embeddings:
        # Tied: the embedding is also the lm_head. A small embedding keeps the residual stream
        # dominated by the layers' outputs (a large one makes "repeat the current token" win
        # every step); the final norm's weight then brings the logits to --logit-std.
        emb_std = 0.2
        w["model.embed_tokens.weight"] *= np.float32(emb_std)
        w["model.norm.weight"] *= np.float32(args.logit_std / (emb_std * np.sqrt(h)))
    else:
        w["lm_head.weight"] = (
            rng.standard_normal((v, h)) * (args.logit_std / np.sqrt(h))
        ).astype(np.float32)
    return w


def make_config(args: argparse.Namespace, eos: int) -> dict:
    moe = {
        "architectures": ["Qwen3MoeForCausalLM"],
        "model_type": "qwen3_moe",
        "num_experts": args.experts,
        "num_experts_per_tok": args.top_k,
        "moe_intermediate_size": args.moe_intermediate,
        "norm_topk_prob": not args.no_norm_topk_prob,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "output_router_logits": False,
        "router_aux_loss_coef": 0.001,
    } if args.experts else {}
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "vocab_size": args.vocab,
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "max_position_embeddings": args.max_positions,
        "max_window_layers": args.layers,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "use_sliding_window": False,
        "sliding_window": None,
        "tie_word_embeddings": bool(args.tie_word_embeddings),
        "use_cache": True,
        "initializer_range": 0.02,
        "bos_token_id": eos,
        "eos_token_id": eos,
        "torch_dtype": "float32",
        "transformers_version": "4.55.4",
        **moe,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=pathlib.Path, help="model directory to write")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4, help="query heads")
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--intermediate", type=int, default=0, help="MLP width (default 3*hidden)")
    ap.add_argument("--max-positions", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--logit-std", type=float, default=40.0,
                    help="approximate std of the logits (larger: clearer greedy margins)")
    ap.add_argument("--qk-gain", type=float, default=1.5,
                    help="centre of q_norm/k_norm weights (larger: sharper attention)")
    ap.add_argument("--tie-word-embeddings", action="store_true")
    ap.add_argument("--experts", type=int, default=0,
                    help="> 0: a Qwen3MoeForCausalLM with this many experts in every layer")
    ap.add_argument("--top-k", type=int, default=2, help="experts per token (MoE)")
    ap.add_argument("--moe-intermediate", type=int, default=0,
                    help="each expert's MLP width (MoE; default hidden)")
    ap.add_argument("--router-std", type=float, default=4.0,
                    help="approximate std of the router logits (MoE)")
    ap.add_argument("--no-norm-topk-prob", action="store_true",
                    help="MoE: weight the k experts by their softmax over all experts, "
                    "not renormalized over the k")
    args = ap.parse_args(argv)
    if args.heads % args.kv_heads:
        ap.error(f"--heads {args.heads} is not a multiple of --kv-heads {args.kv_heads}")
    if args.vocab < 300:
        ap.error(f"--vocab {args.vocab} too small: byte-level BPE needs 256 bytes + specials")
    if args.intermediate <= 0:
        args.intermediate = 3 * args.hidden
    if args.moe_intermediate <= 0:
        args.moe_intermediate = args.hidden
    if args.experts and not 0 < args.top_k <= args.experts:
        ap.error(f"--top-k {args.top_k} must be in 1..--experts {args.experts}")
    return args


def main(argv: list[str]) -> int:
    from safetensors.numpy import save_file

    args = parse_args(argv)
    out: pathlib.Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    eos = train_tokenizer(args.vocab, out)
    (out / "config.json").write_text(json.dumps(make_config(args, eos), indent=2) + "\n")
    gen = {"bos_token_id": eos, "eos_token_id": eos, "do_sample": False,
           "transformers_version": "4.55.4"}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
    save_file(make_weights(args), str(out / "model.safetensors"), metadata={"format": "pt"})
    moe = (f", {args.experts} experts top-{args.top_k} of width {args.moe_intermediate}"
           if args.experts else "")
    print(f"wrote {out}: hidden {args.hidden}, layers {args.layers}, heads {args.heads}/"
          f"{args.kv_heads}, head_dim {HEAD_DIM}, vocab {args.vocab}, seed {args.seed}{moe}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
