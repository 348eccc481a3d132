#!/usr/bin/env python3
"""Regenerates the trace-viewer screenshots in docs/profiling.md: a jax.profiler trace of the
transformer block (tools/transformer_block.py) on the chip, opened in XProf's trace viewer and
captured with headless Chromium.

    .venv/bin/python tools/trace_screenshot.py            # writes docs/img/xprof-*.png

Two traces: the whole session (the host's python and runtime events beside the chip's plane) and
one with host tracing off, so that the viewer's initial range is the chip's execution and its
kernels can be read. XProf (pinned in requirements-xprof.lock) lives in .venv-xprof, which this
creates once; Chromium is Debian's (`apt-get install chromium`). The server and the browser run
in a network namespace of their own (`unshare --net`, root) that has only a loopback interface.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
XPROF_VENV = ROOT / ".venv-xprof"
XPROF_LOCK = ROOT / "requirements-xprof.lock"
PORT, GRPC_PORT = 8791, 50051
OUT = ROOT / "docs" / "img"

WORKLOAD = """
import sys
import jax, numpy as np
sys.path.insert(0, {tools!r})
import transformer_block as tb
host_tracing = {host_tracing!r}
rng = np.random.default_rng(0)
seq, hidden, heads, ffn = 128, 512, 8, 1408
chip = jax.devices("chip")[0]
args = jax.device_put((tb.make_params(rng, hidden, ffn),
                       rng.standard_normal((seq, hidden)).astype(jax.numpy.bfloat16),
                       np.arange(seq, dtype=np.int32)), chip)
f = jax.jit(tb.block, static_argnums=3)
f(*args, heads).block_until_ready()      # compiled outside the trace
options = jax.profiler.ProfileOptions()
if not host_tracing:
    options.host_tracer_level = 0
    options.python_tracer_level = 0
with jax.profiler.trace({log_dir!r}, profiler_options=options):
    f(*args, heads).block_until_ready()
"""


def ensure_xprof() -> pathlib.Path:
    python = XPROF_VENV / "bin" / "python"
    stamp = XPROF_VENV / "requirements.stamp"
    if not python.exists() or not stamp.exists() or stamp.read_text() != XPROF_LOCK.read_text():
        print(f"[trace_screenshot] installing XProf into {XPROF_VENV} ({XPROF_LOCK.name})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(XPROF_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(XPROF_LOCK)], check=True)
        stamp.write_text(XPROF_LOCK.read_text())
    return XPROF_VENV / "bin" / "xprof"


def record(log_dir: pathlib.Path, host_tracing: bool) -> None:
    code = WORKLOAD.format(tools=str(ROOT / "tools"), host_tracing=host_tracing, log_dir=str(log_dir))
    env = dict(os.environ, JAX_PLATFORMS="chip,cpu")
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, env=env, timeout=600)


def viewer_url(log_dir: pathlib.Path) -> str:
    """XProf's trace viewer page for the one run in `log_dir`, streaming its data from the server."""
    (xplane,) = log_dir.glob("plugins/profile/*/*.xplane.pb")
    run, host = xplane.parent.name, xplane.name[:-len(".xplane.pb")]
    data = "/data/plugin/profile/data?" + urllib.parse.urlencode({"run": run, "tag": "trace_viewer@", "host": host})
    return (f"http://127.0.0.1:{PORT}/trace_viewer_index.html?is_streaming=true&is_oss=true"
            f"&trace_data_url={urllib.parse.quote(data, safe='')}")


def shoot(log_dir: pathlib.Path, png: pathlib.Path, xprof: pathlib.Path, chromium: str) -> None:
    """Serves `log_dir` with XProf and captures the trace viewer (run inside `unshare --net`)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open(png.with_suffix(".xprof.log"), "w") as log:
        server = subprocess.Popen(["timeout", "300", str(xprof), "server", "--logdir", str(log_dir),
                                   "--port", str(PORT), "--grpc_port", str(GRPC_PORT)],
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=5).close()
                    break
                except OSError:
                    if server.poll() is not None or time.time() > deadline:
                        raise SystemExit(f"XProf did not start: {png.with_suffix('.xprof.log')}")
                    time.sleep(1)
            subprocess.run(["timeout", "120", chromium, "--headless", "--no-sandbox",
                            "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--hide-scrollbars",
                            "--window-size=1600,560", "--timeout=40000", f"--screenshot={png}",
                            viewer_url(log_dir)], check=True, capture_output=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    png.with_suffix(".xprof.log").unlink()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    ap.add_argument("--shoot", nargs=4, metavar=("LOG_DIR", "PNG", "XPROF", "CHROMIUM"),
                    help=argparse.SUPPRESS)   # the part that runs in the network namespace
    args = ap.parse_args()
    if args.shoot:
        log_dir, png, xprof, chromium = args.shoot
        shoot(pathlib.Path(log_dir), pathlib.Path(png), pathlib.Path(xprof), chromium)
        return 0
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("trace_screenshot: needs Debian's chromium (apt-get install chromium)")
    xprof = ensure_xprof()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chip_trace_") as tmp:
        for name, host_tracing in (("xprof-trace-session", True), ("xprof-trace-chip", False)):
            log_dir = pathlib.Path(tmp) / name
            record(log_dir, host_tracing)
            png = args.out / f"{name}.png"
            subprocess.run(["unshare", "--net", sys.executable, __file__, "--shoot", str(log_dir), str(png),
                            str(xprof), chromium], check=True, timeout=600)
            print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
