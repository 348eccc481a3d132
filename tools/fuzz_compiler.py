#!/usr/bin/env python3
"""Compiler fuzzing: mutated StableHLO modules through the PJRT compile path.

Real modules (jax.jit(...).lower(...).as_text() of a corpus of programs: matmuls, reductions,
convolution, gather/scatter, control flow, sorting, a transformer block, ...) are mutated (an
element type swapped everywhere, a shape changed, an op swapped for another of its arity, an
attribute number changed, a constant made NaN/huge, a line deleted, the text truncated) and
compiled by the chip's plugin (PJRT_Client_Compile) in a worker process. Each outcome is one of

    compiled   the mutant is a valid program and compiled
    parse      jaxlib's MLIR parser/verifier rejected the text (the chip never saw it)
    parse-hang jaxlib's MLIR parser did not finish (e.g. a convolution dim_numbers index of 2^31):
               jaxlib's, not the chip's; JAX itself never sends text
    rejected   the chip compiler rejected it with a clean error (INVALID_ARGUMENT, UNIMPLEMENTED,
               ...) naming what it cannot compile
    internal   an internal compiler error: a Python exception inside the compiler surfaced as
               INTERNAL ("internal compiler error: KeyError: ..."): a bug
    crash      the worker process died (a signal): a bug
    hang       no answer within --timeout seconds: a bug

    .venv/bin/python tools/fuzz_compiler.py --budget 10000 --seed 1 [--out /tmp/fuzz]

Exit status 1 if any mutant ended internal, crash or hang; those mutants are written to --out.
tests/test_fuzz_compiler.py runs a fixed budget; docs/compiler.md has the last 10,000 run.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import queue
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

BAD = ("internal", "crash", "hang")

# ---- the corpus ------------------------------------------------------------------------------


def corpus() -> list[tuple[str, str]]:
    """(name, StableHLO text) of real programs lowered by JAX."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import transformer_block

    f32 = np.float32
    x = np.ones((8, 16), f32)
    progs: dict[str, tuple[Callable, tuple]] = {
        "matmul_sum": (lambda a, b: jnp.sum(a @ b, axis=0), (x, np.ones((16, 4), f32))),
        "softmax": (lambda a: jax.nn.softmax(a, axis=-1), (x,)),
        "rms_norm": (lambda a, w: transformer_block.rms_norm(a, w), (x, np.ones(16, f32))),
        "elementwise": (lambda a, b: jnp.tanh(a) * jnp.exp(-b) + jnp.maximum(a, b) / (1 + b * b), (x, x)),
        "int_ops": (lambda a, b: ((a << 2) ^ (b >> 1)) + jnp.where(a > b, a % 7, b // 3),
                    (np.arange(32, dtype=np.int32), np.arange(32, dtype=np.int32)[::-1].copy())),
        "convert_compare": (lambda a: (a.astype(jnp.bfloat16) * 3).astype(jnp.int8) > 2, (x,)),
        "conv": (lambda a, k: lax.conv_general_dilated(a, k, (1, 1), "SAME"),
                 (np.ones((1, 3, 8, 8), f32), np.ones((4, 3, 3, 3), f32))),
        "gather": (lambda a, i: a[i], (x, np.array([3, 0, 7], np.int32))),
        "scatter_add": (lambda a, i, u: a.at[i].add(u), (x, np.array([1, 1, 5], np.int32), np.ones((3, 16), f32))),
        "fori_loop": (lambda a: lax.fori_loop(0, 5, lambda i, c: c * 0.5 + i, a), (x,)),
        "cond": (lambda p, a: lax.cond(p > 0, lambda v: v + 1, lambda v: v * 2, a), (np.int32(1), x)),
        "sort_topk": (lambda a: (jnp.sort(a, axis=-1), lax.top_k(a, 3)[1]), (x,)),
        "cumsum": (lambda a: jnp.cumsum(a, axis=1), (x,)),
        "max_pool": (lambda a: lax.reduce_window(a, -jnp.inf, lax.max, (1, 2, 2), (1, 2, 2), "VALID"),
                     (np.ones((2, 8, 8), f32),)),
        "dynamic_slice": (lambda a, s: lax.dynamic_update_slice(a, lax.dynamic_slice(a, (s, 0), (2, 16)) * 2, (0, s)),
                          (x, np.int32(3))),
        "shapes": (lambda a: jnp.concatenate([jnp.pad(a.T, ((1, 1), (0, 2))).reshape(-1), a.ravel()]), (x,)),
        "broadcast_iota": (lambda a: a + jnp.arange(16, dtype=f32)[None, :] * jnp.ones((8, 1), f32), (x,)),
        "argmax_mean": (lambda a: (jnp.argmax(a, axis=1), jnp.mean(a, axis=0), jnp.var(a)), (x,)),
        "transformer_block": (lambda p, a, pos: transformer_block.block(p, a, pos, 2, 32),
                              (transformer_block.make_params(np.random.default_rng(0), 32, 64),
                               np.ones((8, 32), jnp.bfloat16), np.arange(8, dtype=np.int32))),
    }
    return [(name, jax.jit(f).lower(*args).as_text()) for name, (f, args) in progs.items()]


# ---- mutations ---------------------------------------------------------------------------------

ELEMENT_TYPES = ["f32", "bf16", "f16", "f64", "i1", "i8", "i16", "i32", "i64", "ui8", "ui16", "ui32", "ui64",
                 "complex<f32>", "f8E4M3FN", "f8E5M2", "i4", "ui4"]
BINARY = ["add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum", "power", "atan2", "and",
          "or", "xor", "shift_left", "shift_right_logical", "shift_right_arithmetic"]
UNARY = ["exponential", "log", "tanh", "negate", "abs", "sqrt", "rsqrt", "cosine", "sine", "floor", "ceil", "not",
         "popcnt", "logistic", "sign", "exponential_minus_one", "log_plus_one", "round_nearest_even", "cbrt",
         "count_leading_zeros", "is_finite", "real", "imag"]
DIRECTIONS = ["EQ", "NE", "LT", "LE", "GT", "GE"]
TYPE_RE = re.compile(r"tensor<([0-9x?]*?)(x?)(" + "|".join(re.escape(t) for t in sorted(ELEMENT_TYPES, key=len,
                                                                                        reverse=True)) + r")>")


def _swap_element_type(text: str, rng: random.Random) -> str:
    found = sorted({m.group(3) for m in TYPE_RE.finditer(text)})
    if not found:
        return text
    old, new = rng.choice(found), rng.choice(ELEMENT_TYPES)
    return re.sub(r"(tensor<[0-9x?]*?)" + re.escape(old) + ">", lambda m: m.group(1) + new + ">", text)


def _change_shape(text: str, rng: random.Random) -> str:
    types = sorted({m.group(0) for m in TYPE_RE.finditer(text) if m.group(1)})
    if not types:
        return text
    old = rng.choice(types)
    m = TYPE_RE.fullmatch(old)
    assert m
    dims = [d for d in m.group(1).split("x") if d]
    i = rng.randrange(len(dims))
    d = int(dims[i]) if dims[i].isdigit() else 1
    dims[i] = str(rng.choice([0, 1, d + 1, max(d - 1, 0), 2 * d, rng.randrange(0, 70)]))
    if rng.random() < 0.2:
        dims.insert(rng.randrange(len(dims) + 1), str(rng.choice([1, 2, 3])))
    new = "tensor<" + "x".join(dims) + "x" + m.group(3) + ">"
    if rng.random() < 0.5:   # every occurrence (often still a consistent program) or one
        return text.replace(old, new)
    spots = [k.start() for k in re.finditer(re.escape(old), text)]
    at = rng.choice(spots)
    return text[:at] + new + text[at + len(old):]


def _swap_op(text: str, rng: random.Random) -> str:
    ops = [(m.start(1), m.group(1)) for m in re.finditer(r"stablehlo\.([a-z_]+)", text)
           if m.group(1) in BINARY or m.group(1) in UNARY]
    if not ops:
        return text
    at, op = rng.choice(ops)
    new = rng.choice(BINARY if op in BINARY else UNARY)
    return text[:at] + new + text[at + len(op):]


def _change_number(text: str, rng: random.Random) -> str:
    # Integers inside attributes: dimension lists, dims, slice bounds, window sizes, ...
    spots = [m for m in re.finditer(r"(?<=[\[ ,=])(-?\d+)(?=[\],> ])", text)
             if not text[max(0, m.start() - 8):m.start()].endswith(("tensor<", "x"))]
    if not spots:
        return text
    m = rng.choice(spots)
    v = int(m.group(1))
    new = rng.choice([v + 1, v - 1, 0, -1, 2 * v + 1, 1 << 31, rng.randrange(-3, 9)])
    return text[:m.start()] + str(new) + text[m.end():]


def _change_direction(text: str, rng: random.Random) -> str:
    spots = list(re.finditer(r"comparison_direction (EQ|NE|LT|LE|GT|GE)", text))
    if not spots:
        return text
    m = rng.choice(spots)
    return text[:m.start(1)] + rng.choice(DIRECTIONS) + text[m.end(1):]


def _change_constant(text: str, rng: random.Random) -> str:
    spots = list(re.finditer(r"dense<([^>]*)>", text))
    if not spots:
        return text
    m = rng.choice(spots)
    value = rng.choice(["0x7FC00000", "0x7F800000", "-1", "0", "3.400000e+38", "2147483647", "true"])
    return text[:m.start(1)] + value + text[m.end(1):]


def _delete_line(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    body = [i for i, line in enumerate(lines) if " = " in line]
    if not body:
        return text
    del lines[rng.choice(body)]
    return "\n".join(lines)


def _swap_operands(text: str, rng: random.Random) -> str:
    names = sorted(set(re.findall(r"%[a-z_]*\d+", text)))
    if len(names) < 2:
        return text
    a, b = rng.sample(names, 2)
    # Swap uses only (after the defining '=').
    lines = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" = ")
        if sep:
            tail = re.sub(re.escape(a) + r"\b|" + re.escape(b) + r"\b", lambda m: b if m.group(0) == a else a, tail)
        lines.append(head + sep + tail)
    return "\n".join(lines)


def _truncate(text: str, rng: random.Random) -> str:
    return text[: rng.randrange(len(text))]


MUTATORS: list[tuple[Callable[[str, random.Random], str], float]] = [
    (_swap_element_type, 3), (_change_shape, 4), (_swap_op, 3), (_change_number, 4), (_change_direction, 1),
    (_change_constant, 1), (_delete_line, 1), (_swap_operands, 1), (_truncate, 0.5),
]


def mutate(text: str, rng: random.Random) -> tuple[str, list[str]]:
    fns, weights = zip(*MUTATORS)
    applied = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        fn = rng.choices(fns, weights)[0]
        text = fn(text, rng)
        applied.append(fn.__name__.lstrip("_"))
    return text, applied


# ---- the worker: compiles through PJRT ---------------------------------------------------------


def classify(message: str) -> str:
    """The outcome of a failed PJRT compile, from its message."""
    if "PJRT_Compile" not in message and "PJRT_Client_Compile" not in message:
        return "parse"     # jaxlib's parser or verifier: the chip never saw it
    if message.startswith("INTERNAL") or "internal compiler error" in message:
        return "internal"
    return "rejected"


def _reply(job_id: int, **fields: str) -> None:
    print(json.dumps({"id": job_id, **fields}), flush=True)


def worker() -> int:
    os.environ.setdefault("JAX_PLATFORMS", "chip")
    import jax
    import jax.extend
    from jax._src import compiler
    from jax._src.lib import xla_client as xc

    from jax._src.interpreters import mlir as jax_mlir
    from jaxlib.mlir import ir

    backend = jax.extend.backend.get_backend("chip")
    devices = xc.DeviceList(tuple(jax.devices("chip")[:1]))
    options = compiler.get_compile_options(num_replicas=1, num_partitions=1)
    context = jax_mlir.make_ir_context()
    for line in sys.stdin:
        job = json.loads(line)
        # jaxlib parses and verifies the text first (as backend.compile would), then the chip
        # compiles the module's bytecode, as JAX sends it.
        try:
            with context:
                module = ir.Module.parse(job["text"])
                code = jax_mlir.module_to_bytecode(module)
        except Exception as e:  # noqa: BLE001 - jaxlib's parser rejected it
            _reply(job["id"], outcome="parse", message=str(e)[:2000])
            continue
        _reply(job["id"], stage="parsed")
        try:
            backend.compile(code, devices, options)
            outcome, message = "compiled", ""
        except Exception as e:  # noqa: BLE001 - every failure is classified
            message = str(e)
            outcome = classify(message)
            if not isinstance(e, xc.XlaRuntimeError):
                outcome, message = "internal", f"{type(e).__name__} escaped the PJRT call: {message}"
        _reply(job["id"], outcome=outcome, message=message[:2000])
    return 0


class Worker:
    """One worker process; restarted after a crash or a hang. A thread reads its replies into a
    queue, so a reply is never left sitting in a pipe buffer while the parent waits."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.replies: queue.Queue[str | None] = queue.Queue()
        self.fresh = False

    def _start(self) -> subprocess.Popen[str]:
        self.fresh = self.proc is None or self.proc.poll() is not None
        if self.fresh:
            self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                         bufsize=1)
            self.replies = queue.Queue()
            threading.Thread(target=self._read, args=(self.proc, self.replies), daemon=True).start()
        return self.proc

    @staticmethod
    def _read(proc: subprocess.Popen[str], replies: queue.Queue[str | None]) -> None:
        assert proc.stdout
        for line in proc.stdout:
            replies.put(line)
        replies.put(None)   # the worker exited

    def run(self, job_id: int, text: str, timeout: float) -> tuple[str, str]:
        proc = self._start()
        assert proc.stdin
        try:
            proc.stdin.write(json.dumps({"id": job_id, "text": text}) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            return self._died(proc)
        # The first job of a new worker also pays for starting JAX and the plugin.
        deadline = time.monotonic() + timeout + (60 if self.fresh else 0)
        parsed = False
        while True:
            try:
                line = self.replies.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                proc.kill()
                proc.wait()
                self.proc = None
                if not parsed:
                    return "parse-hang", f"jaxlib's parser gave no answer within {timeout:.0f} s"
                return "hang", f"the chip compiler gave no answer within {timeout:.0f} s"
            if line is None:
                return self._died(proc)
            reply = json.loads(line)
            if reply["id"] != job_id:
                continue
            if reply.get("stage") == "parsed":
                parsed = True
                continue
            return reply["outcome"], reply["message"]

    def _died(self, proc: subprocess.Popen[str]) -> tuple[str, str]:
        rc = proc.wait()
        self.proc = None
        return "crash", f"worker exited with status {rc}"

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Report:
    counts: collections.Counter[str]
    bad: list[dict[str, str]]
    seconds: float

    def table(self) -> str:
        total = sum(self.counts.values())
        rows = ["| outcome | mutants |", "|---|---|"]
        for outcome in ("compiled", "parse", "parse-hang", "rejected") + BAD:
            rows.append(f"| {outcome} | {self.counts.get(outcome, 0)} |")
        rows.append(f"| total | {total} ({self.seconds:.0f} s) |")
        return "\n".join(rows)


def fuzz(budget: int, seed: int, timeout: float, out: pathlib.Path | None,
         log: Callable[[str], None] = print) -> Report:
    rng = random.Random(seed)
    programs = corpus()
    counts: collections.Counter[str] = collections.Counter()
    bad: list[dict[str, str]] = []
    worker_proc = Worker()
    t0 = time.monotonic()
    try:
        for i in range(budget):
            name, text = programs[rng.randrange(len(programs))]
            mutant, applied = mutate(text, rng)
            outcome, message = worker_proc.run(i, mutant, timeout)
            counts[outcome] += 1
            if outcome in BAD or outcome == "parse-hang":
                record = {"id": str(i), "program": name, "mutations": ",".join(applied), "outcome": outcome,
                          "message": message}
                if outcome in BAD:
                    bad.append(record)
                log(f"[{i}] {outcome}: {name} ({record['mutations']}): {message.splitlines()[0][:200]}")
                if out is not None:
                    out.mkdir(parents=True, exist_ok=True)
                    (out / f"{i:05d}-{outcome}.mlir").write_text(mutant)
                    (out / f"{i:05d}-{outcome}.txt").write_text(json.dumps(record, indent=1))
            if (i + 1) % 500 == 0:
                log(f"{i + 1}/{budget}: {dict(counts)}")
    finally:
        worker_proc.close()
    return Report(counts, bad, time.monotonic() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=int, default=1000, help="mutants to compile")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds one compile may take")
    ap.add_argument("--out", type=pathlib.Path, help="write failing mutants here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker()
    os.environ.setdefault("JAX_PLATFORMS", "chip")
    report = fuzz(args.budget, args.seed, args.timeout, args.out)
    print(report.table())
    seen: set[str] = set()
    for record in report.bad:
        key = record["outcome"] + record["message"].splitlines()[0][:120] if record["message"] else record["outcome"]
        if key not in seen:
            seen.add(key)
            print(f"- {record['outcome']} ({record['program']}, {record['mutations']}): "
                  f"{record['message'].splitlines()[0][:300] if record['message'] else ''}")
    return 1 if report.bad else 0


if __name__ == "__main__":
    sys.exit(main())
