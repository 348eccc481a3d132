#!/usr/bin/env python3
"""sglang-jax's launch_server on the chip under load and faults (loopback; everything bounded).

    .venv/bin/python tools/server_load.py [--clients 32] [--requests-per-client 20] \
        [--json-out load.json]

Scenarios (each a function the tests call with a smaller load, tests/sglang/test_server_load.py):
- `concurrent`: `clients` concurrent clients each send `per_client` greedy requests (distinct
  random prompts of 4-60 tokens, 4-16 new tokens); every request must be answered with all its
  tokens, and the texts must equal those of the same requests sent one at a time (`one_at_a_time`,
  to `small_pool_server`, which has no radix cache, so that nothing is reused: sglang-jax's
  /flush_cache answers 500).
- `small_pool`: a server whose KV pool (`--max-total-tokens`) holds a few requests at a time,
  offered many at once: they queue (or are retracted and re-run) and every one is answered with
  the text it gets alone; a prompt larger than the whole pool is rejected with a 400 that says so;
  the server goes on serving.
- `malformed`: bad JSON, a JSON array, negative / mistyped max_new_tokens, unknown fields (top
  level and in sampling_params), token ids outside the vocabulary, no input, a 1 MB text prompt and
  a 1 MB list of token ids: each a 4xx with a message; the server goes on serving.
- `chip_fault`: with CHIP_FAULT_INJECT_FILE, one model step fails on the chip: the request in
  flight fails alone (finish_reason abort, status 500, the chip's message), the next one is
  answered with the same text as before the fault; then a fault under concurrent load fails the
  requests of that step and every other request is answered.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import sgl_server  # noqa: E402
import soak  # noqa: E402
from sgl_server import Reply, Server, greedy  # noqa: E402

Log = Callable[[str], None]


def prompts(n: int, vocab: int, seed: int, lo: int = 4, hi: int = 60) -> List[Dict[str, Any]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [greedy(rng.integers(3, vocab, size=int(rng.integers(lo, hi + 1))).tolist(),
                   int(rng.integers(4, 17))) for _ in range(n)]


def answered(reply: Tuple[int, Any], payload: Dict[str, Any]) -> bool:
    status, body = reply
    return (status == 200 and isinstance(body, dict)
            and body["meta_info"]["finish_reason"]["type"] == "length"
            and body["meta_info"]["completion_tokens"]
            == payload["sampling_params"]["max_new_tokens"])


def small_pool_server(model: pathlib.Path, work: pathlib.Path, budget_s: float,
                      pool_tokens: int) -> Server:
    """A KV pool of pool_tokens and no radix cache: the reference runs here (one request at a
    time: nothing is reused between requests), then the small-pool load."""
    return Server(model, work, budget_s=budget_s, max_total_tokens=pool_tokens,
                  extra_args=["--disable-radix-cache"])


def one_at_a_time(srv: Server, payloads: List[Dict[str, Any]]) -> List[Tuple[int, Any]]:
    """The reference: each request alone (on small_pool_server: no prefix is ever reused)."""
    return [srv.generate(p) for p in payloads]


def load_payloads(clients: int, per_client: int, vocab: int) -> List[Dict[str, Any]]:
    return prompts(clients * per_client, vocab, seed=0)


def pool_payloads(pool: int, requests: int, vocab: int) -> List[Dict[str, Any]]:
    """Prompts of pool/8 to pool/4 tokens with pool/8 new tokens each."""
    payloads = prompts(requests, vocab, seed=1, lo=pool // 8, hi=pool // 4)
    for p in payloads:
        p["sampling_params"]["max_new_tokens"] = pool // 8
    return payloads


def _same_text(a: Tuple[int, Any], b: Tuple[int, Any]) -> bool:
    return a[0] == b[0] == 200 and a[1]["text"] == b[1]["text"]


def concurrent(srv: Server, payloads: List[Dict[str, Any]], alone: List[Tuple[int, Any]],
               clients: int, log: Log = print) -> Dict[str, Any]:
    t0 = time.perf_counter()
    together = srv.generate_many(payloads, clients)
    wall = time.perf_counter() - t0
    log(f"  {len(payloads)} requests from {clients} clients in {wall:.1f} s")
    return {"clients": clients, "requests": len(payloads),
            "answered": sum(answered(r, p) for r, p in zip(together, payloads)),
            "answered_alone": sum(answered(r, p) for r, p in zip(alone, payloads)),
            "identical_to_alone": sum(map(_same_text, together, alone)),
            "new_tokens": sum(p["sampling_params"]["max_new_tokens"] for p in payloads),
            "wall_s": round(wall, 1),
            "failures": [str(r)[:300] for r, p in zip(together, payloads)
                         if not answered(r, p)][:3]}


def small_pool(srv: Server, payloads: List[Dict[str, Any]], alone: List[Tuple[int, Any]],
               clients: int, log: Log = print) -> Dict[str, Any]:
    """srv has a small KV pool; all of `payloads` offered at once."""
    pool = srv.server_info()["kv_pool"]["token_capacity"]
    offered = sum(len(p["input_ids"]) + p["sampling_params"]["max_new_tokens"] for p in payloads)
    result = concurrent(srv, payloads, alone, clients, log)
    log(f"  ({offered} tokens offered to a pool of {pool} tokens)")
    too_big = srv.generate(greedy(list(range(3, 3 + pool + 16)), 4))
    after = srv.generate(payloads[0])
    return {**result, "pool_tokens": pool, "offered_tokens": offered,
            "too_big_status": too_big[0], "too_big_message": str(too_big[1])[:300],
            "served_after": answered(after, payloads[0]) and _same_text(after, alone[0])}


MB = 1 << 20


def malformed_requests(vocab: int) -> List[Tuple[str, bytes]]:
    """(name, raw /generate body) pairs that must each get a 4xx."""
    def j(obj: Any) -> bytes:
        return json.dumps(obj).encode()
    return [
        ("bad JSON", b'{"input_ids": [1, 2, 3], "sampling_params": {'),
        ("not an object", j([1, 2, 3])),
        ("negative max_new_tokens", j(greedy([1, 2, 3], -1))),
        ("max_new_tokens a string", j({"input_ids": [1, 2, 3],
                                        "sampling_params": {"max_new_tokens": "8"}})),
        ("unknown field", j({**greedy([1, 2, 3], 4), "no_such_field": 1})),
        ("unknown sampling field", j({"input_ids": [1, 2, 3],
                                      "sampling_params": {"max_new_tokens": 4, "no_such": 1}})),
        ("token id past the vocabulary", j(greedy([1, vocab + 5, 3], 4))),
        ("negative token id", j(greedy([1, -2, 3], 4))),
        ("no input", j({"sampling_params": {"max_new_tokens": 4}})),
        ("1 MB text prompt", j({"text": "chip " * (MB // 5),
                                "sampling_params": {"max_new_tokens": 4}})),
        ("1 MB of token ids", j(greedy([7] * (MB // 3), 4))),
    ]


def malformed(srv: Server, log: Log = print) -> Dict[str, Any]:
    rows = []
    for name, body in malformed_requests(sgl_server.vocab_size(srv.model)):
        status, reply = srv.request("POST", "/generate", body, {"Content-Type": "application/json"})
        message = reply.get("error", {}).get("message", reply.get("message")) \
            if isinstance(reply, dict) else str(reply)
        rows.append({"request": name, "bytes": len(body), "status": status,
                     "message": str(message)[:160]})
        log(f"  {name}: {status} {str(message)[:100]}")
    probe = greedy([5, 6, 7, 8, 9], 6)
    return {"rows": rows, "all_4xx": all(400 <= r["status"] < 500 for r in rows),
            "served_after": answered(srv.generate(probe), probe)}


def arm_fault(fault_file: pathlib.Path, executable: str = "run_model") -> None:
    """The next execution of `executable` fails on the chip (CHIP_FAULT_INJECT_FILE). Written
    under another name and renamed: the chip reads the file at every execution, and a file it
    found empty (created, not yet written) would fail whichever execution came first."""
    tmp = fault_file.with_name(fault_file.name + ".tmp")
    tmp.write_text(executable)
    os.replace(tmp, fault_file)


def chip_fault(srv: Server, fault_file: pathlib.Path, clients: int, requests: int,
               log: Log = print) -> Dict[str, Any]:
    """srv was started with CHIP_FAULT_INJECT_FILE=fault_file."""
    probe = greedy([5, 6, 7, 8, 9], 8)
    before = srv.generate(probe)
    arm_fault(fault_file)                     # the next model step fails on the chip
    failed = srv.generate(probe)
    after = srv.generate(probe)
    reason = failed[1]["meta_info"]["finish_reason"] if failed[0] == 200 else {}
    log(f"  faulted request: {failed[0]} {str(reason)[:160]}")

    payloads = prompts(requests, sgl_server.vocab_size(srv.model), seed=3)
    for p in payloads:
        p["sampling_params"]["max_new_tokens"] = 16
    # the fault is armed when the first of them is answered: the clients (fewer than the
    # requests) still have requests in flight, so the next model step runs some of them
    armed = threading.Lock()

    def send(payload: Dict[str, Any]) -> Reply:
        reply = srv.generate(payload)
        if armed.acquire(blocking=False):
            arm_fault(fault_file)
        return reply

    assert clients < requests, "the fault must hit a step while requests are in flight"
    with ThreadPoolExecutor(clients) as pool:
        replies = list(pool.map(send, payloads))
    aborted = [r for r in replies if r[0] == 200
               and r[1]["meta_info"]["finish_reason"]["type"] == "abort"]
    ok = sum(answered(r, p) for r, p in zip(replies, payloads))
    last = srv.generate(probe)
    log(f"  fault under load: {len(aborted)} failed, {ok} answered of {requests}")
    return {
        "before_answered": answered(before, probe),
        "faulted_status": reason.get("status_code"), "faulted_type": reason.get("type"),
        "faulted_message": str(reason.get("message", ""))[-400:],
        "after_answered_same": answered(after, probe) and after[1]["text"] == before[1]["text"],
        "load_requests": requests, "load_failed": len(aborted), "load_answered": ok,
        "load_others": requests - ok - len(aborted),
        "fault_consumed": not fault_file.exists(),
        "last_answered_same": answered(last, probe) and last[1]["text"] == before[1]["text"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests-per-client", type=int, default=20)
    ap.add_argument("--pool-tokens", type=int, default=256, help="the small KV pool")
    ap.add_argument("--timeout", type=float, default=3000, help="each server's time limit (s)")
    ap.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/chip-server-load"))
    soak.add_output_args(ap)
    args = ap.parse_args()
    if args.from_json:
        result = json.loads(args.from_json.read_text())
        finish(args, result)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    model = sgl_server.tiny_model(args.work / "model")
    fault = args.work / "fault"
    fault.unlink(missing_ok=True)
    result: Dict[str, Any] = {}
    vocab = sgl_server.vocab_size(model)
    load = load_payloads(args.clients, args.requests_per_client, vocab)
    pool = pool_payloads(args.pool_tokens, args.clients, vocab)
    with small_pool_server(model, args.work, args.timeout, args.pool_tokens) as srv:
        print(f"reference: {len(load) + len(pool)} requests one at a time")
        load_alone, pool_alone = one_at_a_time(srv, load), one_at_a_time(srv, pool)
        print(f"small KV pool ({args.pool_tokens} tokens)")
        result["small_pool"] = small_pool(srv, pool, pool_alone, args.clients)
        result["small_pool_alive"] = srv.alive()
    with Server(model, args.work, budget_s=args.timeout,
                env={"CHIP_FAULT_INJECT_FILE": str(fault)}) as srv:
        print(f"load: {args.clients} clients x {args.requests_per_client} requests")
        result["load"] = concurrent(srv, load, load_alone, args.clients)
        print("malformed requests")
        result["malformed"] = malformed(srv)
        print("chip fault")
        result["fault"] = chip_fault(srv, fault, min(args.clients, 8), 16)
        result["alive"] = srv.alive()
    finish(args, result)


def finish(args: argparse.Namespace, result: Dict[str, Any]) -> None:
    print(json.dumps(result, indent=1))
    if args.json_out and not args.from_json:
        args.json_out.write_text(json.dumps(result, indent=1))
    bad = problems(result)
    if args.write_doc:
        write_doc(result, f".venv/bin/python tools/server_load.py --clients {args.clients} "
                          f"--requests-per-client {args.requests_per_client} "
                          f"--pool-tokens {args.pool_tokens}", bad)
    if bad:
        raise SystemExit("FAILED:\n  " + "\n  ".join(bad))
    print("OK")


def write_doc(result: Dict[str, Any], command: str, bad: List[str]) -> None:
    import doc_tables

    flat: Dict[str, Any] = {}
    for part, value in result.items():
        if isinstance(value, dict):
            flat.update({f"{part}.{k}": v for k, v in value.items() if k != "rows"})
        else:
            flat[part] = value
    soak.write_doc("server-load", command, flat,
                   "FAILED: " + "; ".join(bad) if bad else "all checks passed")
    rows = result.get("malformed", {}).get("rows", [])
    body = ["| malformed request | bytes | status | message |", "| --- | ---: | ---: | --- |"]
    body += [f"| {r['request']} | {r['bytes']:,} | {r['status']} | "
             f"{str(r['message'])[:110].replace('|', '/')} |" for r in rows]
    doc_tables.replace_section(soak.DOC, "server-load-malformed", "\n".join(body))


def problems(r: Dict[str, Any]) -> List[str]:
    bad = []
    if "load" in r:
        ld = r["load"]
        if not ld["answered"] == ld["answered_alone"] == ld["identical_to_alone"] == ld["requests"]:
            bad.append(f"load: {ld}")
    if "malformed" in r and not (r["malformed"]["all_4xx"] and r["malformed"]["served_after"]):
        bad.append(f"malformed: {r['malformed']}")
    if "fault" in r:
        f = r["fault"]
        if not (f["before_answered"] and f["faulted_type"] == "abort" and f["faulted_status"] == 500
                and "injected chip fault" in f["faulted_message"] and f["after_answered_same"]
                and f["load_failed"] >= 1 and f["load_others"] == 0 and f["fault_consumed"]
                and f["last_answered_same"]):
            bad.append(f"fault: {f}")
    if "small_pool" in r:
        s = r["small_pool"]
        if not (s["answered"] == s["answered_alone"] == s["identical_to_alone"] == s["requests"]
                and s["too_big_status"] == 400 and s["served_after"]):
            bad.append(f"small pool: {s}")
    for k in ("alive", "small_pool_alive"):
        if k in r and not r[k]:
            bad.append(f"{k}: the server died")
    return bad


if __name__ == "__main__":
    main()
