"""sglang-jax's /start_profile and /stop_profile on `launch_server --device chip`: the scheduler
process runs jax.profiler, and the trace it writes holds the chip's device plane with the kernels
the model ran (the attention kernels among them), named, with their modeled durations. No
CHIP_TRACE_STREAM: the profile comes through sglang-jax's own endpoint."""

from __future__ import annotations

import gzip
import json
import os
import urllib.request
from collections import Counter

from jax_chip import xspace
from chip_server import chip_server
from test_chip_engine import _post
from test_engine_vs_hf import DATA, SGL_PYTHON, model_dirs  # noqa: F401


def _post_text(url: str, payload: dict, timeout: float = 120) -> str:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        assert r.status == 200
        return r.read().decode()


def test_start_profile_traces_the_chip_kernels(model_dirs, tmp_path) -> None:  # noqa: F811
    ref = json.loads((DATA / "ref-a.json").read_text())
    env = dict(os.environ)
    env.pop("JAX_PLATFORMS", None)          # device="chip" sets it
    env.pop("CHIP_TRACE_STREAM", None)
    log_path = tmp_path / "server.log"
    profile_dir = tmp_path / "profile"
    with chip_server(SGL_PYTHON, model_dirs["a"], log_path, env,
                     ["--page-size", "16", "--max-total-tokens", "4096", "--mem-fraction-static", "0.1",
                      "--disable-jax-precompile", "--random-seed", "0", "--log-level", "error"]) as base:
        params = {"temperature": 0.0, "max_new_tokens": 4, "ignore_eos": True}
        _post(f"{base}/generate", {"input_ids": ref["prompts"][0]["prompt_ids"],
                                   "sampling_params": params})  # compiles outside the profile
        _post_text(f"{base}/start_profile", {"output_dir": str(profile_dir)})
        out = _post(f"{base}/generate", {"input_ids": ref["prompts"][1]["prompt_ids"],
                                         "sampling_params": params})
        assert out["meta_info"]["completion_tokens"] == 4
        _post_text(f"{base}/stop_profile", {}, timeout=300)

    xplanes = list(profile_dir.glob("plugins/profile/*/*.xplane.pb"))
    assert len(xplanes) == 1, (xplanes, log_path.read_text()[-4000:])
    events = xspace.chip_events(xplanes[0].read_bytes())
    kernels = [e for e in events if e.line == "kernels"]
    names = Counter(e.name.split(".")[0] for e in kernels)
    # the prompt's prefill and its decodes
    assert names["radix_attention_extend"] > 0 and names["paged_attention_decode"] > 0, names
    assert names["paged_kv_write"] > 0, names
    executions = Counter(e.name for e in events if e.line == "executions")
    assert executions["jit_run_model"] >= 4, executions
    for k in kernels:
        assert k.duration_ps == round(k.stats["modeled_us"] * 1e6) > 0, k
        assert k.stats["program"] in executions, k
    # the trace viewers' conversion (jaxlib's trace.json.gz) shows the chip as a process of its own
    (chrome,) = xplanes[0].parent.glob("*.trace.json.gz")
    trace = json.load(gzip.open(chrome))["traceEvents"]
    processes = {e["pid"]: e["args"]["name"] for e in trace if e.get("name") == "process_name"}
    chip_pids = [pid for pid, name in processes.items() if name == "/device:CUSTOM:0"]
    assert chip_pids, processes
    assert sum(1 for e in trace if e.get("ph") == "X" and e["pid"] == chip_pids[0]) == len(events)
