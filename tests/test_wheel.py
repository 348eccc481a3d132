"""The jax-chip wheel (tools/build_wheel.py), installed with pip into a fresh venv that holds only
jax/jaxlib 0.6.2 and their dependencies (from a local wheelhouse at requirements.lock's pins, which
the tool fills once): from a directory outside the repo, with nothing of the repo on the path,
`JAX_PLATFORMS=chip python -c ...` finds the plugin through the wheel's `jax_plugins` entry point,
computes on the chip (checked against numpy in float64), the sglang-jax autoload is active, and
jax.profiler's trace holds the chip's plane (the wheel's descriptor set and protobuf dependency).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import jax_chip
import jax_chip.plugin
from jax_chip import xspace

ROOT = pathlib.Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
sys.path.insert(0, str(ROOT / "tools"))
import build_wheel  # noqa: E402

SNIPPET = """
import json, sys
import numpy as np
import jax, jax.numpy as jnp
import jax_chip

rng = np.random.default_rng()
a = rng.standard_normal((48, 32), np.float32)
b = rng.standard_normal((32, 40), np.float32)
f = jax.jit(lambda a, b: jnp.tanh(a @ b) * 2 + 1)
f(a, b).block_until_ready()
with jax.profiler.trace(sys.argv[1]):
    y = f(a, b)
    y.block_until_ready()
ref = np.tanh(a.astype(np.float64) @ b.astype(np.float64)) * 2 + 1
# f32 products summed over k=32, then tanh (|derivative| <= 1) scaled by 2
eps = float(np.finfo(np.float32).eps)
bound = 2 * 4 * 32 * eps * float((np.abs(a) @ np.abs(b)).max()) + 4 * eps
print(json.dumps({
    "platform": y.devices().pop().platform,
    "err": float(np.max(np.abs(np.asarray(y, np.float64) - ref))),
    "bound": bound,
    "package": jax_chip.__file__,
    "autoload": any(type(f).__name__ == "SglJaxImportHook" for f in sys.meta_path),
}))
"""


def _clean_env() -> dict[str, str]:
    """The environment without anything that points into the repo or its venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CHIP_PLUGIN_LIBRARY",
                        "JAX_PLATFORMS", "PYTHONSAFEPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT)))
    return env


def test_wheel_installs_into_a_fresh_venv_and_runs_on_the_chip(tmp_path):
    package = pathlib.Path(jax_chip.__file__).parent
    wheel = build_wheel.build(tmp_path / "dist", jax_chip.plugin.library_path(), xspace.DESCRIPTOR_SET,
                              package / "_schema")
    assert wheel.name.startswith("jax_chip-") and wheel.name.endswith("-linux_x86_64.whl"), wheel.name
    build_wheel.fill_wheelhouse(WHEELHOUSE)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=_clean_env())
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    # --no-compile: byte-compiling jaxlib and scipy would triple the install time
    subprocess.run(pip + ["install", "-q", "--no-compile", "--no-index", "--find-links", str(WHEELHOUSE), str(wheel)],
                   check=True, env=_clean_env(), timeout=300)
    listed = json.loads(subprocess.run(pip + ["list", "--format=json"], check=True, capture_output=True,
                                       text=True, env=_clean_env()).stdout)
    installed = {p["name"].lower().replace("_", "-"): p["version"] for p in listed}
    assert installed.pop("jax-chip") == "0.1.0"
    assert installed["jax"] == installed["jaxlib"] == "0.6.2"
    assert set(installed) == {p.split("==")[0].lower().replace("_", "-") for p in build_wheel.pinned()}

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env()
    env["JAX_PLATFORMS"] = "chip"
    trace_dir = tmp_path / "trace"
    proc = subprocess.run([str(python), "-c", textwrap.dedent(SNIPPET), str(trace_dir)], cwd=elsewhere,
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["platform"] == "chip"
    assert pathlib.Path(result["package"]).is_relative_to(venv), result["package"]
    assert result["err"] <= result["bound"], result
    assert result["autoload"], "jax_chip_autoload.pth did not run in the fresh venv"
    (xplane,) = trace_dir.glob("plugins/profile/*/*.xplane.pb")
    kernels = [e for e in xspace.chip_events(xplane.read_bytes()) if e.line == "kernels"]
    assert any(k.stats["category"] == "dot_general" and k.duration_ps > 0 for k in kernels), kernels
