"""sglang-jax's launch_server on the chip under load and faults, at a reduced load (the full 32
clients x 20 requests is tools/server_load.py, the 2,000-request soak tools/soak.py serve; their
figures are in docs/reliability.md). Every server runs on loopback under `timeout`
(tools/sgl_server.py) and every request has a timeout.

Two servers: a small one (KV pool of 256 tokens, no radix cache) answers every request alone
(the reference for greedy identity) and then takes more load than its pool holds; a normal one
takes concurrent clients, the serving soak, malformed bodies and chip faults, in that order.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any, Dict, List, Tuple

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import server_load  # noqa: E402
import sgl_server  # noqa: E402
import soak  # noqa: E402

CLIENTS, PER_CLIENT = 8, 5
POOL_TOKENS = 256
BUDGET_S = 900     # each server's own time limit

QUIET = {"log": lambda s: None}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> pathlib.Path:
    return sgl_server.tiny_model(tmp_path_factory.mktemp("tiny-qwen3") / "model")


@pytest.fixture(scope="module")
def payloads(model) -> Dict[str, List[Dict[str, Any]]]:
    vocab = sgl_server.vocab_size(model)
    return {"load": server_load.load_payloads(CLIENTS, PER_CLIENT, vocab),
            "pool": server_load.pool_payloads(POOL_TOKENS, CLIENTS, vocab)}


@pytest.fixture(scope="module")
def small(model, tmp_path_factory):
    with server_load.small_pool_server(model, tmp_path_factory.mktemp("small"), BUDGET_S,
                                       POOL_TOKENS) as srv:
        yield srv


@pytest.fixture(scope="module")
def alone(small, payloads) -> Dict[str, List[Tuple[int, Any]]]:
    """Every request sent alone to the small server (no radix cache: nothing reused)."""
    return {k: server_load.one_at_a_time(small, v) for k, v in payloads.items()}


@pytest.fixture(scope="module")
def fault_file(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("fault") / "fault"


@pytest.fixture(scope="module")
def server(model, tmp_path_factory, fault_file):
    with sgl_server.Server(model, tmp_path_factory.mktemp("server"), budget_s=BUDGET_S,
                           env={"CHIP_FAULT_INJECT_FILE": str(fault_file),
                                "JAX_LOG_COMPILES": "1"}) as srv:
        yield srv


def test_small_kv_pool_queues_and_rejects_what_cannot_fit(small, payloads, alone):
    assert all(server_load.answered(r, p) for r, p in zip(alone["pool"], payloads["pool"]))
    r = server_load.small_pool(small, payloads["pool"], alone["pool"], CLIENTS, **QUIET)
    assert r["pool_tokens"] == POOL_TOKENS and r["offered_tokens"] > 1.5 * POOL_TOKENS, r
    assert r["answered"] == r["identical_to_alone"] == len(payloads["pool"]), r
    assert r["too_big_status"] == 400, r
    assert "exceeds the maximum allowed length" in r["too_big_message"], r
    assert r["served_after"] and small.alive()


def test_concurrent_clients_get_what_each_request_gets_alone(server, payloads, alone):
    assert all(server_load.answered(r, p) for r, p in zip(alone["load"], payloads["load"]))
    r = server_load.concurrent(server, payloads["load"], alone["load"], CLIENTS, **QUIET)
    assert r["answered"] == len(payloads["load"]), r
    assert r["identical_to_alone"] == len(payloads["load"]), r


def test_serving_soak_short_budget(server):
    """tools/soak.py serve at 64 requests, one client cycling through 8 prompts: all answered;
    after the warm-up (three passes) no program is compiled (the scheduler's bookkeeping runs on
    the host: jax_chip.sglang's performance patches), the chip's bytes_in_use stays put (give or
    take the last batch's arrays) and the scheduler's and HTTP server's RSS stay within 5%."""
    r = soak.serve_soak(server, requests=64, clients=1, n_prompts=8, **QUIET)
    assert r["compiles_during_warmup"] > 0, "JAX_LOG_COMPILES output not found in the server log"
    assert r["compiles_after_warmup"] == 0, r
    assert soak.check_serve(r) == [], r
    assert r["served"] == 64
    for proc in ("scheduler", "server"):
        assert r[f"{proc}_rss_growth"] <= soak.RSS_TOLERANCE, r


def test_malformed_requests_get_4xx(server):
    bad = server_load.malformed(server, **QUIET)
    for row in bad["rows"]:
        assert 400 <= row["status"] < 500 and row["message"], row
    assert {r["request"] for r in bad["rows"]} >= {
        "bad JSON", "negative max_new_tokens", "unknown field", "1 MB text prompt"}
    assert bad["served_after"]


def test_chip_error_fails_its_requests_and_the_server_goes_on(server, fault_file):
    f = server_load.chip_fault(server, fault_file, clients=4, requests=8, **QUIET)
    assert f["before_answered"] and f["fault_consumed"], f
    assert f["faulted_type"] == "abort" and f["faulted_status"] == 500, f
    assert "injected chip fault" in f["faulted_message"], f
    assert "jit_run_model" in f["faulted_message"], f
    assert f["after_answered_same"], f            # the next request: served, same text
    assert f["load_failed"] >= 1 and f["load_others"] == 0, f
    assert f["load_failed"] + f["load_answered"] == 8 and f["last_answered_same"], f
    assert server.alive(), server.log_tail()
