"""sglang-jax's /start_profile and /stop_profile on `launch_server --device chip`: the scheduler
process runs jax.profiler, and the trace it writes holds the chip's device plane with the kernels
the model ran (the attention kernels among them), named, with their modeled durations. No
CHIP_TRACE_STREAM: the profile comes through sglang-jax's own endpoint."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import signal
import subprocess
import time
import urllib.request
from collections import Counter

from jax_chip import xspace
from test_chip_engine import _free_port, _post
from test_engine_vs_hf import DATA, SGL_PYTHON, model_dirs  # noqa: F401


def _wait_healthy(base: str, server: subprocess.Popen, log: pathlib.Path, limit_s: float = 300) -> None:
    deadline = time.time() + limit_s
    while True:
        assert server.poll() is None, log.read_text()[-4000:]
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        assert time.time() < deadline, f"server did not become healthy in {limit_s:.0f} s"
        time.sleep(1)


def _post_text(url: str, payload: dict, timeout: float = 120) -> str:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        assert r.status == 200
        return r.read().decode()


def test_start_profile_traces_the_chip_kernels(model_dirs, tmp_path) -> None:  # noqa: F811
    ref = json.loads((DATA / "ref-a.json").read_text())
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.pop("JAX_PLATFORMS", None)          # device="chip" sets it
    env.pop("CHIP_TRACE_STREAM", None)
    log_path = tmp_path / "server.log"
    profile_dir = tmp_path / "profile"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            ["timeout", "600", SGL_PYTHON, "-m", "sgl_jax.launch_server", "--model-path",
             str(model_dirs["a"]), "--device", "chip", "--attention-backend", "chip", "--host",
             "127.0.0.1", "--port", str(port), "--page-size", "16", "--max-total-tokens", "4096",
             "--mem-fraction-static", "0.1", "--disable-jax-precompile", "--random-seed", "0",
             "--log-level", "error"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(base, server, log_path)
            params = {"temperature": 0.0, "max_new_tokens": 4, "ignore_eos": True}
            _post(f"{base}/generate", {"input_ids": ref["prompts"][0]["prompt_ids"],
                                       "sampling_params": params})  # compiles outside the profile
            _post_text(f"{base}/start_profile", {"output_dir": str(profile_dir)})
            out = _post(f"{base}/generate", {"input_ids": ref["prompts"][1]["prompt_ids"],
                                             "sampling_params": params})
            assert out["meta_info"]["completion_tokens"] == 4
            _post_text(f"{base}/stop_profile", {}, timeout=300)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)

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
