"""`python -m sgl_jax.launch_server --device chip --attention-backend chip` for a test: on loopback,
bounded by `timeout`, healthy before it is used, its whole process group stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request
from typing import Dict, Iterator, Sequence


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def chip_server(python: str, model_dir: pathlib.Path, log_path: pathlib.Path, env: Dict[str, str],
                extra: Sequence[str] = (), limit_s: int = 600, healthy_s: float = 300) -> Iterator[str]:
    """Yields the server's base URL once /health answers; the server lives at most `limit_s`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            ["timeout", str(limit_s), python, "-m", "sgl_jax.launch_server", "--model-path", str(model_dir),
             "--device", "chip", "--attention-backend", "chip", "--host", "127.0.0.1", "--port", str(port),
             *extra],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.time() + healthy_s
            while True:
                assert server.poll() is None, log_path.read_text()[-4000:]
                try:
                    with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                assert time.time() < deadline, f"server did not become healthy in {healthy_s:.0f} s"
                time.sleep(1)
            yield base
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)
