"""sglang-jax's launch_server on the chip, on loopback, for the soak and load tools and their tests.

    with Server(model_dir, work_dir, budget_s=600) as srv:
        status, body = srv.generate(greedy([1, 2, 3], 8))

The server runs under `timeout` (budget_s, then SIGTERM, then SIGKILL 30 s later), so it stops by
itself even if whoever started it does not; leaving the block stops it. Every HTTP call has a
timeout. Requests are plain /generate calls with token ids (no tokenizer round trip), greedy.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
SGL_PYTHON = os.environ.get("JAX_CHIP_SGLANG_PYTHON", sys.executable)
# model a of tests/sglang (test_engine_vs_hf.MODELS): hidden 64, 2 layers, 4/2 heads, vocab 512
TINY_MODEL_ARGS = ["--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
                   "--vocab", "512", "--seed", "0"]
Reply = Tuple[int, Any]     # HTTP status (0: no answer), decoded JSON body (or text)


def tiny_model(out: pathlib.Path) -> pathlib.Path:
    """The tiny random-weight Qwen3 (tools/make_tiny_qwen3.py), made once per directory."""
    if not (out / "config.json").exists():
        subprocess.run([SGL_PYTHON, str(ROOT / "tools" / "make_tiny_qwen3.py"), str(out)]
                       + TINY_MODEL_ARGS, check=True, capture_output=True, timeout=300)
    return out


def vocab_size(model: pathlib.Path) -> int:
    return int(json.loads((model / "config.json").read_text())["vocab_size"])


def greedy(input_ids: Sequence[int], max_new_tokens: int, **extra: Any) -> Dict[str, Any]:
    """A /generate payload: greedy, exactly max_new_tokens new tokens."""
    return {"input_ids": list(input_ids),
            "sampling_params": {"temperature": 0.0, "max_new_tokens": max_new_tokens,
                                "ignore_eos": True}, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """launch_server --device chip --attention-backend chip on 127.0.0.1, bounded by budget_s."""

    def __init__(self, model: pathlib.Path, work: pathlib.Path, budget_s: float = 600,
                 max_total_tokens: int = 4096, page_size: int = 16,
                 extra_args: Iterable[str] = (), env: Optional[Dict[str, str]] = None,
                 start_timeout_s: float = 300) -> None:
        self.model = model
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.work = work
        self.log_path = work / f"server-{self.port}.log"
        self.budget_s = budget_s
        self.start_timeout_s = start_timeout_s
        self.cmd = [
            "timeout", "--signal=TERM", "--kill-after=30", str(int(budget_s)),
            SGL_PYTHON, "-m", "sgl_jax.launch_server", "--model-path", str(model),
            "--device", "chip", "--attention-backend", "chip", "--host", "127.0.0.1",
            "--port", str(self.port), "--page-size", str(page_size),
            "--max-total-tokens", str(max_total_tokens), "--mem-fraction-static", "0.1",
            "--disable-jax-precompile", "--random-seed", "0", "--log-level", "warning",
            *extra_args]
        self.env = dict(os.environ)
        self.env.pop("JAX_PLATFORMS", None)        # device="chip" sets it (chip,cpu)
        self.env.pop("JAX_CHIP_SGLANG_FIXES", None)
        path = [str(ROOT / "python")]
        if self.env.get("PYTHONPATH"):
            path.append(self.env["PYTHONPATH"])
        self.env["PYTHONPATH"] = os.pathsep.join(path)
        self.env.update(env or {})
        self.proc: Optional[subprocess.Popen] = None

    # -- lifecycle --
    def __enter__(self) -> "Server":
        self.work.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + self.start_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"launch_server exited ({self.proc.returncode}):\n"
                                   f"{self.log_tail()}")
            if self.get("/health", timeout=5)[0] == 200:
                return self
            if time.time() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"launch_server not healthy in {self.start_timeout_s} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(1)

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            except ProcessLookupError:
                pass
        self._log.close()

    def alive(self) -> bool:
        return (self.proc is not None and self.proc.poll() is None
                and self.get("/health", timeout=10)[0] == 200)

    def log_tail(self, n: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- HTTP --
    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[Dict[str, str]] = None, timeout: float = 120) -> Reply:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (OSError, urllib.error.URLError) as e:   # refused, reset, timed out
            return 0, f"{type(e).__name__}: {e}"
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, timeout: float = 30) -> Reply:
        return self.request("GET", path, timeout=timeout)

    def post_json(self, path: str, payload: Any, timeout: float = 120) -> Reply:
        return self.request("POST", path, json.dumps(payload).encode(),
                            {"Content-Type": "application/json"}, timeout)

    def generate(self, payload: Dict[str, Any], timeout: float = 120) -> Reply:
        return self.post_json("/generate", payload, timeout)

    def generate_many(self, payloads: List[Dict[str, Any]], clients: int,
                      timeout: float = 300) -> List[Reply]:
        """The payloads from `clients` concurrent clients (each sends its next one when answered);
        replies in payload order."""
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            return list(pool.map(lambda p: self.generate(p, timeout), payloads))

    def server_info(self) -> Dict[str, Any]:
        status, body = self.get("/get_server_info")
        if status != 200:
            raise RuntimeError(f"/get_server_info: {status} {body}")
        return body["internal_states"][0]

    # -- processes --
    def _tree(self) -> List[Any]:
        import psutil
        return psutil.Process(self.proc.pid).children(recursive=True)

    def scheduler_rss(self) -> int:
        """RSS of sglang-jax's scheduler process (the one that runs the model on the chip)."""
        for p in self._tree():
            try:
                if "scheduler" in " ".join(p.cmdline()) or p.name().startswith("sglang::sched"):
                    return int(p.memory_info().rss)
            except Exception:   # noqa: BLE001 (a process that just exited)
                continue
        raise RuntimeError("no scheduler process")

    def server_rss(self) -> int:
        """RSS of the HTTP server process (the tokenizer manager runs in it)."""
        import psutil
        children = psutil.Process(self.proc.pid).children()   # timeout -> python launch_server
        return int(children[0].memory_info().rss)
