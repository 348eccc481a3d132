#!/usr/bin/env python3
"""Silicon what-if: the same sglang-jax serving workload under other chip designs.

Serves a random-weight Qwen3 of the 0.6B shape (tools/model_shapes.py) with sglang-jax's own
Engine on the chip, a prefill-heavy and a decode-heavy mix of requests, records the scheduler's
chip trace, then sweeps chip configs:
- rates (HBM bandwidth, matrix rate, vector rate, launch cost, SRAM bandwidth, links): the
  recording is re-timed (jax_chip.what_if.retime: the plugin's cost model on the recorded work,
  the timeline re-laid), no re-run;
- fields that change compilation (SRAM size, matrix tile): the workload is re-run with the config.
It prints a table (TTFT, time per output token, output tokens/s, what bounds prefill and decode)
with the path each config took, plots tokens/s against each parameter and the kernel classes on
the roofline, and writes them into docs/what-if.md.

    .venv/bin/python tools/what_if.py            # the 0.6B shape, ~15 minutes on 2 cores
    .venv/bin/python tools/what_if.py --quick --no-write   # a tiny model, re-timing only
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import os
import pathlib
import sys
import time
from collections import defaultdict
from typing import Any, Iterable, Mapping

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from doc_tables import replace_section  # noqa: E402
from model_shapes import ensure_shape_model  # noqa: E402
from sglang_chip_profile import clear, phase_of, stream_pattern  # noqa: E402

DOC = ROOT / "docs" / "what-if.md"
PLOTS = ROOT / "docs" / "what-if"


@dataclasses.dataclass(frozen=True)
class Mix:
    name: str
    prompt_tokens: tuple[int, ...]   # one request per entry, all submitted at once
    new_tokens: int


@dataclasses.dataclass(frozen=True)
class Workload:
    shape: str
    mixes: tuple[Mix, ...]
    prefill_buckets: tuple[int, ...]
    max_total_tokens: int


WORKLOADS = {
    # sized for the 2-core host: a 0.6B decode step of 4 rows and a 512-token prefill each take
    # seconds of emulation; the whole tool stays under 15 minutes with its re-runs
    "full": Workload("qwen3-0.6b", (Mix("prefill-heavy", (128, 128), 2),
                                    Mix("decode-heavy", (16, 16, 16, 16), 8)),
                     prefill_buckets=(64, 128, 256, 512), max_total_tokens=2048),
    "quick": Workload("qwen3-tiny", (Mix("prefill-heavy", (64, 64), 2),
                                     Mix("decode-heavy", (8, 8), 4)),
                      prefill_buckets=(16, 32, 64, 128, 256), max_total_tokens=1024),
}


@dataclasses.dataclass(frozen=True)
class Point:
    sweep: str          # the parameter swept ("HBM bandwidth", ...)
    label: str          # its value in words ("x2", "32 MiB")
    x: float            # its value for the plots (a multiple of the default, or the value)
    config: dict[str, int | float]
    path: str           # "recorded", "re-timed" or "re-run"


def _rate_points() -> list[Point]:
    from jax_chip import what_if

    d = what_if.full_config()
    matrix = ("matrix_bf16_flops", "matrix_int8_ops", "matrix_f32_flops")
    pts = [Point("default", "default", 1.0, {}, "recorded")]
    for m in (0.25, 0.5, 2, 4, 8, 16):
        pts.append(Point("HBM bandwidth", f"x{m:g}", m, {"hbm_bandwidth": d["hbm_bandwidth"] * m},
                         "re-timed"))
    for m in (0.0625, 0.125, 0.25, 0.5, 2, 4):
        pts.append(Point("matrix rate", f"x{m:g}", m, {k: d[k] * m for k in matrix}, "re-timed"))
    for m in (0.5, 2, 4):
        pts.append(Point("vector rate", f"x{m:g}", m, {"vector_flops": d["vector_flops"] * m},
                         "re-timed"))
    for us in (0.25, 4):
        pts.append(Point("launch cost", f"{us:g} us", us / (d["kernel_launch_s"] * 1e6),
                         {"kernel_launch_s": us * 1e-6}, "re-timed"))
    for m in (0.5, 2):
        pts.append(Point("SRAM bandwidth", f"x{m:g}", m,
                         {"sram_bandwidth": d["sram_bandwidth"] * m}, "re-timed"))
    for m in (0.5, 2):   # one chip serves: no chip-to-chip transfer to move (docs/what-if.md)
        pts.append(Point("chip links", f"x{m:g}", m,
                         {"chip_link_bandwidth": d["chip_link_bandwidth"] * m}, "re-timed"))
    return pts


def _rerun_points() -> list[Point]:
    from jax_chip import what_if

    d = what_if.full_config()
    def sram(mib: int) -> Point:
        return Point("SRAM size", f"{mib} MiB", mib / (d["sram_bytes"] >> 20), {"sram_bytes": mib << 20},
                     "re-run")

    def tile(t: int) -> Point:
        return Point("matrix tile", f"{t}x{t}", t / d["matrix_tile"], {"matrix_tile": t}, "re-run")

    # the likeliest to move first (a short budget keeps the first ones: --reuse, --no-rerun)
    return [sram(32), tile(256), tile(64), sram(512)]


# ---- recording ---------------------------------------------------------------------------

def _complete_lines(path: pathlib.Path) -> int:
    return path.read_bytes().count(b"\n")


# A mix's requests are sent to the scheduler one by one (sglang-jax's tokenizer manager awaits
# between them); a scheduler that wakes up between two of them prefills them in two steps. Such a
# serving is not the workload: it is served again with fresh prompts (same lengths, so the same
# chip work; no prefix-cache hits), up to this many times.
MAX_SCHEDULE_ATTEMPTS = 6


def expected_schedule(mix: Mix, chunk: int) -> tuple[int, int]:
    """(prefill steps, decode steps) when every request of the mix reaches the scheduler before
    it schedules: the prompts in chunks of `chunk` tokens, then one decode step per new token
    after the first (which the prefill samples)."""
    return -(-sum(mix.prompt_tokens) // chunk), mix.new_tokens - 1


def served_schedule(events: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(prefill steps, decode steps) among trace events: executions whose kernels include the
    prefill (extend) or decode attention."""
    names: dict[tuple[int, int], list[str]] = defaultdict(list)
    execs = []
    for e in events:
        if e.get("cat") == "execution":
            execs.append(e)
        elif e.get("cat") != "transfer":
            names[(e["pid"], e["args"].get("launch_id", -1))].append(e["name"])
    phases = [phase_of(names[(e["pid"], e["args"].get("launch_id", -1))]) for e in execs]
    return phases.count("prefill"), phases.count("decode")


def record(workload: Workload, config: Mapping[str, int | float], trace_dir: pathlib.Path,
           log: Any = print) -> dict[str, Any]:
    """Serves the workload's mixes one after the other in one Engine under `config` and returns
    {mix name: {"profile": the scheduler's trace of that mix, "output_tokens", "prompt_tokens"}}
    and the wall time."""
    from jax_chip.profiler import Profile
    from sgl_jax.srt.entrypoints.engine import Engine

    clear(trace_dir)
    env_keys = []
    for k, v in config.items():
        os.environ["CHIP_" + k.upper()] = repr(v)
        env_keys.append("CHIP_" + k.upper())
    os.environ["CHIP_TRACE_STREAM"] = stream_pattern(trace_dir)
    os.environ.pop("JAX_PLATFORMS", None)  # device="chip" sets it
    batch = max(len(m.prompt_tokens) for m in workload.mixes)
    chunk = 2048
    t0 = time.perf_counter()
    try:
        eng = Engine(model_path=str(ensure_shape_model(workload.shape)), device="chip",
                     attention_backend="chip", page_size=16, dtype="bfloat16",
                     max_total_tokens=workload.max_total_tokens, mem_fraction_static=0.5,
                     disable_jax_precompile=True, log_level="error", random_seed=0,
                     max_running_requests=batch, chunked_prefill_size=chunk,
                     # a prefill step, compile included, can take minutes on a busy 2-core host
                     watchdog_timeout=3600,
                     jax_precompile_decode_bs_paddings=[batch],
                     jax_precompile_prefill_token_paddings=list(workload.prefill_buckets))
    finally:
        for k in env_keys:
            os.environ.pop(k, None)
    t_start = time.perf_counter() - t0
    spans: list[tuple[dict[str, int], dict[str, int]]] = []   # per mix: trace lines before, after
    metas: list[list[dict[str, Any]]] = []
    attempts: dict[str, int] = {}

    def lines_now() -> dict[str, int]:
        return {p.name: _complete_lines(p) for p in trace_dir.glob("chip-*.jsonl")}

    try:
        for i, mix in enumerate(workload.mixes):
            want = expected_schedule(mix, chunk)
            for attempt in range(MAX_SCHEDULE_ATTEMPTS):
                before = lines_now()
                t = time.perf_counter()
                # token ids past the tiny tokenizer's vocabulary are fine: the model has the full
                # one; a new attempt starts every prompt with another token (no prefix hits)
                ids = [[(97 * r + 31 * j + i + 101 * attempt * (j == 0)) % 500 + 3 for j in range(n)]
                       for r, n in enumerate(mix.prompt_tokens)]
                params = {"temperature": 0.0, "max_new_tokens": mix.new_tokens, "ignore_eos": True}
                outs = eng.generate(input_ids=ids, sampling_params=params)
                after = lines_now()
                got = (0, 0)
                for p in trace_dir.glob("chip-*.jsonl"):
                    new = p.read_text().splitlines()[before.get(p.name, 0):after.get(p.name, 0)]
                    got = max(got, served_schedule(json.loads(ln) for ln in new))
                log(f"  {mix.name}: {len(ids)} requests in {time.perf_counter() - t:.0f} s wall, "
                    f"{got[0]} prefill and {got[1]} decode steps")
                if got == want:
                    break
                if attempt + 1 == MAX_SCHEDULE_ATTEMPTS:
                    raise RuntimeError(
                        f"{mix.name}: the scheduler never took the mix as one batch ({want[0]} "
                        f"prefill, {want[1]} decode steps) in {MAX_SCHEDULE_ATTEMPTS} servings; "
                        f"the last had {got[0]} and {got[1]}")
                log(f"  {mix.name}: expected {want[0]} prefill and {want[1]} decode steps: "
                    "served again")
            attempts[mix.name] = attempt + 1
            spans.append((before, after))
            metas.append([o["meta_info"] for o in outs])
    finally:
        eng.shutdown()
    wall = time.perf_counter() - t0
    # the scheduler: the process that ran the most executions
    files = sorted(trace_dir.glob("chip-*.jsonl"))
    lines_of = {p.name: p.read_text().splitlines() for p in files}
    sched = max(lines_of, key=lambda n: sum('"cat":"execution"' in ln for ln in lines_of[n]))
    out: dict[str, Any] = {"wall_s": wall, "startup_s": t_start, "attempts": attempts}
    for i, mix in enumerate(workload.mixes):
        a, b = spans[i][0].get(sched, 0), spans[i][1].get(sched, 0)
        events = [json.loads(ln) for ln in lines_of[sched][a:b]]
        out[mix.name] = {"profile": Profile({"traceEvents": events}),
                         "output_tokens": sum(m["completion_tokens"] for m in metas[i]),
                         "prompt_tokens": sum(m["prompt_tokens"] for m in metas[i])}
    return out


def save_recording(rec: Mapping[str, Any], workload: str, path: pathlib.Path) -> None:
    """The recording (per mix: the scheduler's events and token counts) as gzipped JSON."""
    data = {"workload": workload, "wall_s": rec["wall_s"], "startup_s": rec["startup_s"],
            "attempts": rec.get("attempts", {}),
            "mixes": {m.name: {"events": rec[m.name]["profile"].events,
                               "output_tokens": rec[m.name]["output_tokens"],
                               "prompt_tokens": rec[m.name]["prompt_tokens"]}
                      for m in WORKLOADS[workload].mixes}}
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(data, f)


def load_recording(path: pathlib.Path) -> tuple[str, dict[str, Any]]:
    from jax_chip.profiler import Profile

    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    rec: dict[str, Any] = {"wall_s": data["wall_s"], "startup_s": data["startup_s"],
                           "attempts": data.get("attempts", {})}
    for name, m in data["mixes"].items():
        rec[name] = {"profile": Profile({"traceEvents": m["events"]}),
                     "output_tokens": m["output_tokens"], "prompt_tokens": m["prompt_tokens"]}
    return data["workload"], rec


# ---- metrics -------------------------------------------------------------------------------

@dataclasses.dataclass
class MixMetrics:
    ttft_us: float           # first prefill of the mix -> its first decode step (all prompts prefilled)
    tpot_us: float           # per decode step (one output token per running request)
    tokens_per_s: float      # output tokens over the mix's modeled time
    prefill_bound: dict[str, float]   # us by what binds, before the first decode step
    decode_bound: dict[str, float]    # and from it on
    decode_steps: int


def mix_metrics(profile: Any, output_tokens: int) -> MixMetrics:
    from jax_chip import what_if

    events = profile.events
    names: dict[tuple[int, int], list[str]] = defaultdict(list)
    for e in events:
        if e.get("cat") not in ("execution", "transfer"):
            names[(e["pid"], e["args"].get("launch_id", -1))].append(e["name"])
    execs = sorted((e for e in events if e.get("cat") == "execution"), key=lambda e: e["ts"])
    phases = [phase_of(names[(e["pid"], e["args"].get("launch_id", -1))]) for e in execs]
    decode = [e for e, ph in zip(execs, phases) if ph == "decode"]
    prefill = [e for e, ph in zip(execs, phases) if ph == "prefill"]
    # the mix starts with its first prefill: the one-time work sglang-jax does at a first request
    # (eager set-up programs, a varying number from run to run) is not serving time
    t0 = prefill[0]["ts"] if prefill else min(e["ts"] for e in events)
    events = [e for e in events if e["ts"] >= t0]
    t1 = max(e["ts"] + e["dur"] for e in events)
    first = decode[0]["ts"] if decode else t1
    before = [e for e in events if e["ts"] < first]
    after = [e for e in events if e["ts"] >= first]

    def bound(evs: list[dict[str, Any]]) -> dict[str, float]:
        split = what_if.time_by_bound(evs)
        split["host link"] = sum(e["dur"] for e in evs if e.get("cat") == "transfer")
        return split

    return MixMetrics(ttft_us=first - t0,
                      tpot_us=(t1 - first) / len(decode) if decode else float("nan"),
                      tokens_per_s=output_tokens / ((t1 - t0) * 1e-6),
                      prefill_bound=bound(before), decode_bound=bound(after),
                      decode_steps=len(decode))


def binding(split: Mapping[str, float], top: int = 3) -> str:
    total = sum(split.values()) or 1.0
    ranked = sorted(split.items(), key=lambda kv: -kv[1])[:top]
    return " · ".join(f"{'**' + k + '**' if i == 0 else k} {100 * v / total:.0f}%"
                      for i, (k, v) in enumerate(ranked) if v > 0)


# ---- the sweep -----------------------------------------------------------------------------

def sweep(base: Mapping[str, Any], points: Iterable[Point], mixes: Iterable[Mix],
          reruns: Mapping[str, Mapping[str, Any]] | None = None) -> list[tuple[Point, dict[str, MixMetrics]]]:
    """Metrics per point: re-timed points from the base recording, re-run points from theirs."""
    from jax_chip import what_if

    rows = []
    for pt in points:
        per_mix = {}
        for mix in mixes:
            if pt.path == "re-run":
                rec = (reruns or {})[pt.label][mix.name]
                prof = rec["profile"]
            else:
                rec = base[mix.name]
                prof = rec["profile"] if pt.path == "recorded" else what_if.retime(rec["profile"], pt.config)
            per_mix[mix.name] = mix_metrics(prof, rec["output_tokens"])
        rows.append((pt, per_mix))
    return rows


def table(rows: list[tuple[Point, dict[str, MixMetrics]]], mixes: tuple[Mix, ...]) -> str:
    pre, dec = mixes[0].name, mixes[1].name
    lines = [f"| parameter | value | path | {pre}: TTFT (ms) | {pre}: tokens/s | prefill bound by | "
             f"{dec}: TTFT (ms) | {dec}: time/token (ms) | {dec}: tokens/s | decode bound by |",
             "|---|---|---|---:|---:|---|---:|---:|---:|---|"]
    for pt, m in rows:
        p, d = m[pre], m[dec]
        lines.append(f"| {pt.sweep} | {pt.label} | {pt.path} | {p.ttft_us / 1e3:,.3f} | "
                     f"{p.tokens_per_s:,.0f} | {binding(p.prefill_bound)} | {d.ttft_us / 1e3:,.3f} | "
                     f"{d.tpot_us / 1e3:,.3f} | {d.tokens_per_s:,.0f} | {binding(d.decode_bound)} |")
    return "\n".join(lines)


# ---- plots ---------------------------------------------------------------------------------

def plot_tokens_per_s(rows: list[tuple[Point, dict[str, MixMetrics]]], mixes: tuple[Mix, ...],
                      path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    default = next(m for pt, m in rows if pt.path == "recorded")
    sweeps = [s for s in dict.fromkeys(pt.sweep for pt, _ in rows) if s != "default"]
    cols = 4
    fig, axes = plt.subplots((len(sweeps) + cols - 1) // cols, cols, figsize=(16, 3.6 * ((len(sweeps) + cols - 1) // cols)),
                             squeeze=False)
    for ax, s in zip(axes.flat, sweeps):
        pts = sorted([(1.0, default, "recorded")] + [(pt.x, m, pt.path) for pt, m in rows if pt.sweep == s],
                     key=lambda t: t[0])
        for mix, style in zip(mixes, ("o-", "s--")):
            ax.plot([x for x, _, _ in pts], [m[mix.name].tokens_per_s for _, m, _ in pts], style,
                    label=mix.name)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{s} ({pts[-1][2] if pts[-1][2] != 'recorded' else pts[0][2]})")
        ax.set_xlabel("x default")
        ax.set_ylabel("output tokens/s (modeled)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(sweeps):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def kernel_classes(profile: Any) -> dict[str, tuple[float, float, float]]:
    """{kernel class: (flops, HBM bytes, modeled s)} summed over the profile's kernels."""
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for e in profile.events:
        if e.get("cat") in ("execution", "transfer"):
            continue
        a = e["args"]
        c = out[a.get("category", e.get("cat", "?"))]
        c[0] += float(a.get("matrix_flops") or 0) + float(a.get("vector_flops") or 0)
        c[1] += float(a.get("bytes_read") or 0) + float(a.get("bytes_written") or 0)
        c[2] += e["dur"] * 1e-6
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def plot_roofline(base: Mapping[str, Any], mixes: tuple[Mix, ...], path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from jax_chip import what_if

    d = what_if.full_config()
    variants = [("default", {}), ("HBM x4", {"hbm_bandwidth": 4 * d["hbm_bandwidth"]}),
                ("matrix x4", {k: 4 * d[k] for k in ("matrix_bf16_flops", "matrix_int8_ops", "matrix_f32_flops")})]
    fig, axes = plt.subplots(1, len(mixes), figsize=(14, 5.5), squeeze=False)
    for ax, mix in zip(axes.flat, mixes):
        prof = base[mix.name]["profile"]
        classes = {name: kernel_classes(what_if.retime(prof, cfg) if cfg else prof) for name, cfg in variants}
        ai = np.logspace(-2, 4, 200)
        for (name, cfg), ls in zip(variants, ("-", "--", ":")):
            c = what_if.full_config(cfg)
            ax.plot(ai, np.minimum(c["matrix_bf16_flops"], ai * c["hbm_bandwidth"]), "k" + ls, lw=0.8,
                    label=f"roof, {name}")
        ax.axhline(d["vector_flops"], color="grey", lw=0.8, ls="-.", label="vector unit, default")
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, cls in enumerate(sorted(classes["default"], key=lambda k: -classes["default"][k][2])[:8]):
            xs, ys = [], []
            for name, _ in variants:
                flops, hbm, secs = classes[name][cls]
                if flops > 0 and hbm > 0 and secs > 0:
                    xs.append(flops / hbm)
                    ys.append(flops / secs)
            if xs:
                color = colors[i % len(colors)]
                ax.plot(xs[:1], ys[:1], "o", color=color, label=cls)
                for x, y, mk in zip(xs[1:], ys[1:], ("^", "s")):
                    ax.plot([xs[0], x], [ys[0], y], "-", color=color, lw=0.8)
                    ax.plot([x], [y], mk, color=color, fillstyle="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (flop / HBM byte)")
        ax.set_ylabel("achieved flop/s (modeled)")
        ax.set_title(f"{mix.name}: kernel classes (o default, ^ HBM x4, s matrix x4)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _recording_path(args: argparse.Namespace, workload: str, config: Mapping[str, Any]) -> pathlib.Path:
    slug = "-".join(f"{k}={v}" for k, v in sorted(config.items())) or "default"
    # a changed workload never reuses an old recording
    digest = hashlib.sha256(repr(WORKLOADS[workload]).encode()).hexdigest()[:10]
    return args.recordings / f"{workload}-{digest}" / f"{slug}.json.gz"


def _recording(workload: Workload, name: str, config: Mapping[str, Any], what: str,
               args: argparse.Namespace) -> dict[str, Any]:
    """The workload served under `config`: loaded from --recordings with --reuse, else recorded
    (and saved there)."""
    path = _recording_path(args, name, config)
    if args.reuse and path.exists():
        print(f"{what}: reusing {path}")
        return load_recording(path)[1]
    print(f"{what}: serving {workload.shape} under {dict(config) or 'the default chip config'}")
    ensure_shape_model(workload.shape)
    rec = record(workload, config, args.trace_dir)
    print(f"  wall {rec['wall_s']:.0f} s (engine start {rec['startup_s']:.0f} s)")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_recording(rec, name, path)
    return rec


# ---- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tiny model and no re-runs (the test's path)")
    ap.add_argument("--no-rerun", action="store_true",
                    help="skip the configs that need a re-run (except those --reuse finds)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/what-if.md")
    ap.add_argument("--plots", type=pathlib.Path, default=None, help="where the PNGs go (default docs/what-if/)")
    ap.add_argument("--trace-dir", type=pathlib.Path, default=ROOT / "build" / "what_if_trace")
    ap.add_argument("--save-recording", type=pathlib.Path, help="write the default recording (.json.gz)")
    ap.add_argument("--from-recording", type=pathlib.Path,
                    help="re-time a saved recording instead of running the workload (no re-runs)")
    ap.add_argument("--recordings", type=pathlib.Path, default=ROOT / "build" / "what_if_recordings",
                    help="every recording is saved here as it completes")
    ap.add_argument("--reuse", action="store_true",
                    help="load the recordings already in --recordings instead of serving again")
    ap.add_argument("--record", type=json.loads, metavar="CONFIG_JSON",
                    help="only serve the workload under this config into --recordings (for running "
                         "re-runs side by side, then --reuse)")
    args = ap.parse_args(argv)
    t_all = time.perf_counter()
    if args.record is not None:
        name = "quick" if args.quick else "full"
        _recording(WORKLOADS[name], name, args.record, "record", args)
        return 0

    if args.from_recording:
        name, base = load_recording(args.from_recording)
        workload = WORKLOADS[name]
        print(f"re-timing the {name} recording {args.from_recording}")
    else:
        name = "quick" if args.quick else "full"
        workload = WORKLOADS[name]
        base = _recording(workload, name, {}, "default", args)
        if args.save_recording:
            save_recording(base, name, args.save_recording)
    points = _rate_points()
    reruns: dict[str, Any] = {}
    if not (args.quick or args.from_recording):
        for pt in _rerun_points():
            saved = _recording_path(args, name, pt.config)
            if args.no_rerun and not (args.reuse and saved.exists()):
                continue
            reruns[pt.label] = _recording(workload, name, pt.config, f"{pt.sweep} {pt.label}", args)
            points.append(pt)
    order = list(dict.fromkeys(pt.sweep for pt in points))
    points.sort(key=lambda pt: (order.index(pt.sweep), pt.x))
    t_sweep = time.perf_counter()
    rows = sweep(base, points, workload.mixes, reruns)
    t_sweep = time.perf_counter() - t_sweep
    text = table(rows, workload.mixes)
    print(text)
    plots = args.plots or (PLOTS if not args.no_write else args.trace_dir)
    plots.mkdir(parents=True, exist_ok=True)
    plot_tokens_per_s(rows, workload.mixes, plots / "tokens_per_s.png")
    plot_roofline(base, workload.mixes, plots / "roofline.png")
    wall = time.perf_counter() - t_all
    print(f"re-timing {len([p for p in points if p.path == 're-timed'])} configs took {t_sweep:.1f} s; "
          f"whole tool {wall / 60:.1f} min wall; plots in {plots}")
    if not args.no_write:
        mixes = "; ".join(f"{m.name}: {len(m.prompt_tokens)} requests of {m.prompt_tokens[0]} prompt tokens, "
                          f"{m.new_tokens} new tokens each" for m in workload.mixes)
        recs = [base] + list(reruns.values())
        serve_wall = sum(r["wall_s"] for r in recs)
        n_retimed = len([p for p in points if p.path == "re-timed"])
        extra = sum(n - 1 for r in recs for n in r.get("attempts", {}).values())
        how = ("this run reused saved recordings" if args.reuse else
               f"the whole tool took {wall / 60:.1f} min wall")
        body = (f"Command: `.venv/bin/python tools/what_if.py` ({workload.shape}, bf16, sglang-jax Engine "
                f"on the chip, page size 16, decode batch padded to the batch; {mixes}).\n\n"
                f"Host time: {how}: {len(recs)} servings of the workload (the default and "
                f"{len(reruns)} re-runs, each starting an Engine, which builds and compiles the "
                f"model) took {serve_wall / 60:.1f} min, with {extra} mix(es) served again because "
                f"their requests reached the scheduler in two batches; re-timing the {n_retimed} rate "
                f"configs took {t_sweep:.0f} s. Load average of the 2-core host at the end: "
                f"{os.getloadavg()[0]:.1f}.\n\n{text}")
        replace_section(DOC, "what-if-table", body)
        print(f"written to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
