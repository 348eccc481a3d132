#!/usr/bin/env python3
"""Soaks: long runs that must not leak. Each prints a table of its figures (and --json-out
writes them); docs/reliability.md records a full run.

    .venv/bin/python tools/soak.py decode --steps 10000 [--trace-steps 2000 --trace-cap 20000]
    .venv/bin/python tools/soak.py serve --requests 2000 [--clients 1] [--prompts 64]

`decode`: a small transformer decode step (tools/transformer_block.py's RMSNorm, RoPE and
SwiGLU; one token, attention over a KV cache written at the token's position) jitted on the chip
with the K and V caches donated, so the chip updates them in place; `--steps` executions. Device
bytes_in_use must be the same after every step as after the first, and back to the baseline once
the arrays are deleted; host RSS after warm-up must stay within 5%. Then `--trace-steps` more
steps with the chip profiler on and the trace capped at `--trace-cap` events
(CHIP_TRACE_MAX_EVENTS): the trace keeps the first events, counts the dropped ones, and RSS stays
bounded (the cap is reached in the first half of those steps: RSS must not grow in the second).
Sampled outputs are checked against JAX's cpu backend replaying the same steps.

`serve`: sglang-jax's launch_server on the chip (tools/sgl_server.py, the tiny Qwen3 test model)
serves `--requests` greedy requests from `--clients` concurrent clients; every request must be
answered; the scheduler's chip bytes_in_use (get_server_info) and the RSS of the scheduler and
the HTTP server must stay flat after warm-up. The server runs with JAX_LOG_COMPILES=1 and the soak
counts the programs compiled after the warm-up: each one costs the scheduler host memory, and
with the jax_chip.sglang performance patches the scheduler's shapes no longer follow the batch
composition of concurrent clients (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from typing import Any, Callable, Dict, List

TOOLS = pathlib.Path(__file__).resolve().parent
RSS_TOLERANCE = 0.05     # host RSS after warm-up stays within 5%


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (Linux /proc)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _table(rows: List[tuple]) -> str:
    width = max(len(str(k)) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


DOC = TOOLS.parent / "docs" / "reliability.md"


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """--json-out, --write-doc (docs/reliability.md) and --from-json (figures of a past run)."""
    parser.add_argument("--json-out", type=pathlib.Path)
    parser.add_argument("--write-doc", action="store_true",
                        help="write the figures into docs/reliability.md")
    parser.add_argument("--from-json", type=pathlib.Path,
                        help="do not run: take the figures of an earlier --json-out")


def write_doc(section: str, command: str, result: Dict[str, Any], verdict: str) -> None:
    """The figures as a markdown table in docs/reliability.md's `section` (tools/doc_tables.py)."""
    sys.path.insert(0, str(TOOLS))
    import platform

    import doc_tables

    def cell(v: Any) -> str:
        text = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
        return text.replace("|", "/")

    lines = [f"Command: `{command}` ({platform.machine()}, {os.cpu_count()} cores; {verdict}).", "",
             "| figure | value |", "| --- | --- |"]
    lines += [f"| {k} | {cell(v)} |" for k, v in result.items()]
    doc_tables.replace_section(DOC, section, "\n".join(lines))


# ---- decode loop ----------------------------------------------------------------------------

def decode_soak(steps: int, trace_steps: int, trace_cap: int, hidden: int = 128, heads: int = 4,
                ffn: int = 256, max_len: int = 128, check_every: int = 250,
                log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Runs the decode soak in this process; the environment must already say JAX_PLATFORMS
    (chip first) and CHIP_TRACE_MAX_EVENTS=trace_cap (read when the plugin loads)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(TOOLS))
    import transformer_block as tb

    import jax_chip.profiler as chip_prof

    hd = hidden // heads

    def step(params, kc, vc, x, pos):
        """One decode token: x [1, hidden] at position pos; kc, vc [max_len, heads, hd]."""
        y = tb.rms_norm(x, params["ln1"])
        q = (y @ params["wq"]).reshape(1, heads, hd)
        k = (y @ params["wk"]).reshape(1, heads, hd)
        v = (y @ params["wv"]).reshape(1, heads, hd)
        cos, sin = jnp.split(tb.rope_cache(hd, max_len)[pos][None], 2, axis=-1)
        q, k = tb.rope(q, cos, sin), tb.rope(k, cos, sin)
        kc = jax.lax.dynamic_update_slice(kc, k, (pos, 0, 0))
        vc = jax.lax.dynamic_update_slice(vc, v, (pos, 0, 0))
        s = jnp.einsum("qhd,khd->hqk", q, kc) / np.sqrt(hd)
        s = jnp.where((jnp.arange(max_len) <= pos)[None, None], s, -1e30)
        attn = jnp.einsum("hqk,khd->qhd", jax.nn.softmax(s, axis=-1), vc).reshape(1, hidden)
        x = x + attn @ params["wo"]
        y = tb.rms_norm(x, params["ln2"])
        mlp = (jax.nn.silu(y @ params["w_gate"]) * (y @ params["w_up"])) @ params["w_down"]
        return x + mlp, kc, vc

    rng = np.random.default_rng(0)
    params = {k: v.astype(np.float32) for k, v in tb.make_params(rng, hidden, ffn).items()}
    # step i feeds tokens[i % 997]
    tokens = rng.standard_normal((997, 1, hidden)).astype(np.float32)
    chip = jax.devices("chip")[0]
    cpu = jax.devices("cpu")[0]
    f = jax.jit(step, donate_argnums=(1, 2))

    def in_use() -> int:
        return int(chip.memory_stats()["bytes_in_use"])

    base_bytes = in_use()
    base_rss = rss_bytes()
    p_chip = jax.device_put(params, chip)
    tok_chip = [jax.device_put(t, chip) for t in tokens]
    kc = jax.device_put(np.zeros((max_len, heads, hd), np.float32), chip)
    vc = jax.device_put(np.zeros((max_len, heads, hd), np.float32), chip)
    samples: Dict[int, np.ndarray] = {}

    def run(first: int, count: int, record: bool) -> None:
        nonlocal kc, vc
        for i in range(first, first + count):
            out, kc, vc = f(p_chip, kc, vc, tok_chip[i % len(tok_chip)], np.int32(i % max_len))
            if record and i % check_every == check_every - 1:
                samples[i] = np.asarray(out)
            else:
                del out

    t0 = time.perf_counter()
    run(0, 1, True)            # compile
    jax.block_until_ready((kc, vc))
    loaded_bytes = in_use()    # weights, tokens and the two caches: what every step leaves behind
    warmup = max(1, steps // 10)
    run(1, warmup - 1, True)
    jax.block_until_ready((kc, vc))
    warm_rss = rss_bytes()
    bytes_series, rss_series = [], []
    done = warmup
    chunk = max(1, (steps - warmup) // 20)
    while done < steps:
        n = min(chunk, steps - done)
        run(done, n, True)
        done += n
        jax.block_until_ready((kc, vc))
        bytes_series.append(in_use())
        rss_series.append(rss_bytes())
    wall = time.perf_counter() - t0
    log(f"decode soak: {steps} executions in {wall:.1f} s")

    # tracing on, capped
    trace_rss_before = rss_bytes()
    chip_prof.start()
    half = trace_steps // 2
    run(steps, half, False)
    jax.block_until_ready((kc, vc))
    trace_rss_half = rss_bytes()
    run(steps + half, trace_steps - half, False)
    jax.block_until_ready((kc, vc))
    trace_rss_after = rss_bytes()
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile = chip_prof.stop()
    kept = len(profile.events)
    dropped = profile.dropped_events
    del profile
    # per step: its execution and kernels (the cap is a number of events)
    jax.block_until_ready((kc, vc))
    after_bytes = in_use()
    del p_chip, tok_chip, kc, vc
    end_bytes = in_use()

    # the same steps on cpu: the sampled outputs must agree (f32; the error bound of a few chained
    # matmuls and a softmax of this size)
    f_cpu = jax.jit(step)
    p_cpu = jax.device_put(params, cpu)
    kc_c = jax.device_put(np.zeros((max_len, heads, hd), np.float32), cpu)
    vc_c = jax.device_put(np.zeros((max_len, heads, hd), np.float32), cpu)
    worst = 0.0
    for i in range(steps):
        out, kc_c, vc_c = f_cpu(p_cpu, kc_c, vc_c, tokens[i % len(tokens)], np.int32(i % max_len))
        if i in samples:
            want = np.asarray(out)
            worst = max(worst, float(np.max(np.abs(samples[i] - want)) / np.max(np.abs(want))))
    rss_growth = max(rss_series) / warm_rss - 1
    return {
        "steps": steps,
        "wall_s": round(wall, 1),
        "baseline_bytes_in_use": base_bytes,
        "loaded_bytes_in_use": loaded_bytes,
        "bytes_in_use_min_max": [min(bytes_series), max(bytes_series)],
        "bytes_in_use_after_trace": after_bytes,
        "bytes_in_use_after_delete": end_bytes,
        "rss_start_mb": round(base_rss / 2**20, 1),
        "rss_after_warmup_mb": round(warm_rss / 2**20, 1),
        "rss_max_mb": round(max(rss_series) / 2**20, 1),
        "rss_end_mb": round(rss_series[-1] / 2**20, 1),
        "rss_growth_after_warmup": round(rss_growth, 4),
        "trace_steps": trace_steps,
        "trace_cap": trace_cap,
        "trace_events_kept": kept,
        "trace_events_dropped": dropped,
        "trace_warning": str(caught[0].message) if caught else "",
        "trace_rss_growth_first_half_mb": round((trace_rss_half - trace_rss_before) / 2**20, 1),
        "trace_rss_growth_second_half_mb": round((trace_rss_after - trace_rss_half) / 2**20, 1),
        "outputs_checked": len(samples),
        "max_rel_err_vs_cpu": worst,
    }


def check_decode(r: Dict[str, Any]) -> List[str]:
    """What is wrong with a decode soak's figures (empty: nothing)."""
    bad = []
    if r["bytes_in_use_min_max"] != [r["loaded_bytes_in_use"]] * 2:
        bad.append(f"device bytes_in_use moved during the soak: {r['bytes_in_use_min_max']} "
                   f"(after the first step: {r['loaded_bytes_in_use']})")
    if r["bytes_in_use_after_trace"] != r["loaded_bytes_in_use"]:
        bad.append(f"bytes_in_use after the traced steps {r['bytes_in_use_after_trace']} != "
                   f"{r['loaded_bytes_in_use']}")
    if r["bytes_in_use_after_delete"] != r["baseline_bytes_in_use"]:
        bad.append(f"bytes_in_use after deleting everything {r['bytes_in_use_after_delete']} != "
                   f"baseline {r['baseline_bytes_in_use']}")
    if r["rss_growth_after_warmup"] > RSS_TOLERANCE:
        bad.append(f"host RSS grew {100 * r['rss_growth_after_warmup']:.1f}% after warm-up")
    expected = min(r["trace_cap"], r["trace_events_kept"] + r["trace_events_dropped"])
    if r["trace_events_kept"] != expected or r["trace_events_kept"] > r["trace_cap"]:
        bad.append(f"trace kept {r['trace_events_kept']} events with a cap of {r['trace_cap']}")
    total = r["trace_events_kept"] + r["trace_events_dropped"]
    if r["trace_events_dropped"] >= total / 2 and \
            r["trace_rss_growth_second_half_mb"] > 0.01 * r["rss_after_warmup_mb"]:
        # the cap is reached in the first half: past it, tracing must not grow the process
        bad.append(f"RSS grew {r['trace_rss_growth_second_half_mb']} MB with the trace full")
    if r["trace_events_dropped"] and "dropped" not in r["trace_warning"]:
        bad.append("the profiler dropped events without saying so")
    if r["max_rel_err_vs_cpu"] > 1e-4:
        bad.append(f"outputs differ from cpu: max relative error {r['max_rel_err_vs_cpu']:.3g}")
    return bad


# ---- serving --------------------------------------------------------------------------------

def compiles(srv: Any) -> int:
    """Programs the server has compiled so far (its log, with JAX_LOG_COMPILES=1: jax's own log
    line, which names its module; sglang-jax's handler prints each message a second time)."""
    return sum(1 for line in srv.log_tail(1 << 30).splitlines()
               if "Compiling " in line and "interpreters.pxla" in line)


def serve_soak(srv: Any, requests: int, clients: int, max_new_tokens: int = 8,
               n_prompts: int = 64, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """`requests` greedy requests (cycling through `n_prompts` random prompts) from `clients`
    concurrent clients to a running tools/sgl_server.Server, sampling the chip's bytes_in_use,
    the RSS of the scheduler and the HTTP server and the number of programs compiled after the
    warm-up (the first tenth, and at least three passes over the prompts: the later ones find
    them in the radix cache) and after every further tenth."""
    sys.path.insert(0, str(TOOLS))
    import sgl_server

    import numpy as np

    rng = np.random.default_rng(1)
    vocab = sgl_server.vocab_size(srv.model)
    prompts = [rng.integers(3, vocab, size=int(rng.integers(4, 40))).tolist()
               for _ in range(n_prompts)]
    t0 = time.perf_counter()
    base = srv.server_info()
    samples: List[Dict[str, Any]] = []
    errors: List[str] = []
    served = 0
    warmup = max(clients, requests // 10, 3 * n_prompts)
    chunk = max(clients, (requests - warmup) // 10)
    done = 0
    while done < requests:
        n = warmup if done == 0 else min(chunk, requests - done)
        batch = [sgl_server.greedy(prompts[(done + i) % len(prompts)], max_new_tokens)
                 for i in range(n)]
        for status, body in srv.generate_many(batch, clients):
            if (status == 200 and body["meta_info"]["finish_reason"]["type"] == "length"
                    and body["meta_info"]["completion_tokens"] == max_new_tokens):
                served += 1
            else:
                errors.append(f"{status}: {str(body)[:200]}")
        done += n
        info = srv.server_info()
        samples.append({"done": done, "bytes_in_use": info["device_memory"]["bytes_in_use"],
                        "kv_tokens_in_use": info["kv_pool"]["tokens_in_use"],
                        "scheduler_rss": srv.scheduler_rss(), "server_rss": srv.server_rss(),
                        "compiles": compiles(srv)})
        log(f"  {done}/{requests} requests, {len(errors)} errors, "
            f"bytes_in_use {samples[-1]['bytes_in_use']:,}, "
            f"scheduler RSS {samples[-1]['scheduler_rss'] / 2**20:.0f} MB, "
            f"{samples[-1]['compiles']} programs compiled")
    alive = srv.alive()
    wall = time.perf_counter() - t0
    warm = samples[0]
    after = samples[1:] or samples

    def growth(key: str) -> float:
        return round(max(s[key] for s in after) / warm[key] - 1, 4)

    return {
        "requests": requests,
        "clients": clients,
        "prompts": n_prompts,
        "max_new_tokens": max_new_tokens,
        "served": served,
        "errors": len(errors),
        "first_errors": errors[:5],
        "server_alive_at_end": alive,
        "wall_s": round(wall, 1),
        "bytes_in_use_idle_at_start": base["device_memory"]["bytes_in_use"],
        "bytes_in_use_after_warmup": warm["bytes_in_use"],
        "bytes_in_use_min_max": [min(s["bytes_in_use"] for s in after),
                                 max(s["bytes_in_use"] for s in after)],
        "kv_tokens_in_use_at_end": samples[-1]["kv_tokens_in_use"],
        "scheduler_rss_after_warmup_mb": round(warm["scheduler_rss"] / 2**20, 1),
        "scheduler_rss_max_mb": round(max(s["scheduler_rss"] for s in after) / 2**20, 1),
        "scheduler_rss_growth": growth("scheduler_rss"),
        "server_rss_after_warmup_mb": round(warm["server_rss"] / 2**20, 1),
        "server_rss_max_mb": round(max(s["server_rss"] for s in after) / 2**20, 1),
        "server_rss_growth": growth("server_rss"),
        "compiles_during_warmup": warm["compiles"],
        "compiles_after_warmup": samples[-1]["compiles"] - warm["compiles"],
    }


# bytes_in_use between requests may differ by the last batch's small arrays (sglang-jax keeps
# the last batch): at most this much, and never growing
BATCH_BYTES_SLACK = 64 << 10


def check_serve(r: Dict[str, Any]) -> List[str]:
    """What is wrong with a serving soak's figures: a request not answered with its tokens, the
    server gone, the chip's bytes_in_use or either process's RSS not flat after the warm-up
    (programs compiled after it are reported, not excused: their memory counts)."""
    bad = []
    if r["served"] != r["requests"] or r["errors"]:
        bad.append(f"served {r['served']} of {r['requests']}; errors: {r['first_errors']}")
    if not r["server_alive_at_end"]:
        bad.append("the server died")
    lo, hi = r["bytes_in_use_min_max"]
    if hi - lo > BATCH_BYTES_SLACK or abs(hi - r["bytes_in_use_after_warmup"]) > BATCH_BYTES_SLACK:
        bad.append(f"chip bytes_in_use moved after warm-up: {r['bytes_in_use_after_warmup']} -> "
                   f"{r['bytes_in_use_min_max']}")
    for proc in ("scheduler", "server"):
        if r[f"{proc}_rss_growth"] > RSS_TOLERANCE:
            bad.append(f"{proc} RSS grew {100 * r[f'{proc}_rss_growth']:.1f}% after warm-up "
                       f"({r['compiles_after_warmup']} programs compiled after it)")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    d = sub.add_parser("decode", help="the jitted decode loop")
    d.add_argument("--steps", type=int, default=10_000)
    d.add_argument("--trace-steps", type=int, default=2_000)
    d.add_argument("--trace-cap", type=int, default=20_000)
    s = sub.add_parser("serve", help="sglang-jax launch_server on the chip")
    s.add_argument("--requests", type=int, default=2_000)
    s.add_argument("--clients", type=int, default=1)
    s.add_argument("--prompts", type=int, default=64, help="distinct prompts, cycled")
    s.add_argument("--max-new-tokens", type=int, default=8)
    s.add_argument("--timeout", type=float, default=3600, help="the server's own time limit (s)")
    s.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/chip-soak"))
    for p in (d, s):
        add_output_args(p)
    args = ap.parse_args()

    if args.from_json:
        result = json.loads(args.from_json.read_text())
        bad = check_decode(result) if args.what == "decode" else check_serve(result)
    elif args.what == "decode":
        os.environ.setdefault("JAX_PLATFORMS", "chip,cpu")
        os.environ["CHIP_TRACE_MAX_EVENTS"] = str(args.trace_cap)
        result = decode_soak(args.steps, args.trace_steps, args.trace_cap)
        bad = check_decode(result)
    else:
        sys.path.insert(0, str(TOOLS))
        import sgl_server
        args.work.mkdir(parents=True, exist_ok=True)
        model = sgl_server.tiny_model(args.work / "model")
        with sgl_server.Server(model, args.work, budget_s=args.timeout,
                               env={"JAX_LOG_COMPILES": "1"}) as srv:
            result = serve_soak(srv, args.requests, args.clients, args.max_new_tokens,
                                args.prompts)
        bad = check_serve(result)
    print(_table([(k, v) for k, v in result.items()]))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1))
    if args.write_doc:
        section = "decode-soak" if args.what == "decode" else f"serve-soak-{args.clients}"
        argv = [a for a in sys.argv[1:] if a != "--write-doc"]
        if args.from_json:
            i = argv.index("--from-json")
            del argv[i:i + 2]
        write_doc(section, ".venv/bin/python tools/soak.py " + " ".join(argv),
                  result, "FAILED: " + "; ".join(bad) if bad else "all checks passed")
    if bad:
        raise SystemExit("FAILED:\n  " + "\n  ".join(bad))
    print("OK")


if __name__ == "__main__":
    main()
