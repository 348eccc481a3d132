#!/usr/bin/env python3
"""Builds the `jax-chip` wheel: the Python package (python/ and xla_passes/), the plugin library
and XPlane's descriptor set inside (jax_chip/lib/), the generated FlatBuffers code
(jax_chip/_schema/), the `jax_plugins` entry point and the sglang-jax autoload
(jax_chip_autoload.pth). Outside the repo:

    pip install jax_chip-*.whl        # pulls jax/jaxlib 0.6.2, numpy, flatbuffers, protobuf
    JAX_PLATFORMS=chip python -c "import jax; print(jax.devices())"

    .venv/bin/python tools/build_wheel.py [--out .whl]       # after tools/setup.sh

The wheel is tagged for this CPython and platform (the plugin is built against this Python's
headers). The package is staged in a temporary folder, so the source tree stays untouched.
`--wheelhouse DIR` also downloads, once, the wheels it depends on at the versions
requirements.lock pins (pip download; later runs find them there), so it installs with
`pip install --no-index --find-links DIR` (tests/test_wheel.py does exactly that).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "jax_chip"
# the wheel's runtime dependencies (python/pyproject.toml), pinned by requirements.lock /
# requirements-sglang.lock (protobuf), with jax's own
WHEELHOUSE_PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "ml_dtypes", "opt_einsum", "flatbuffers", "protobuf")
LOCKS = (ROOT / "requirements.lock", ROOT / "requirements-sglang.lock")


def pinned(packages: tuple[str, ...] = WHEELHOUSE_PACKAGES) -> list[str]:
    """`name==version` for each package, from the lock files."""
    pins: dict[str, str] = {}
    for lock in LOCKS:
        for line in lock.read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#;]+)", line)
            if m:
                pins.setdefault(m.group(1).lower().replace("-", "_"), m.group(0))
    missing = [p for p in packages if p not in pins]
    if missing:
        raise SystemExit(f"build_wheel: no pin for {missing} in {[str(l) for l in LOCKS]}")
    return [pins[p] for p in packages]


def fill_wheelhouse(wheelhouse: pathlib.Path) -> None:
    """Downloads the pinned dependency wheels into `wheelhouse` unless they are all there."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    have = {w.name.split("-")[0].lower() + "==" + w.name.split("-")[1] for w in wheelhouse.glob("*.whl")}
    wanted = pinned()
    if all(p.lower().replace("-", "_") in have for p in wanted):
        return
    print(f"[build_wheel] downloading {' '.join(wanted)} into {wheelhouse}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                    "-d", str(wheelhouse), *wanted], check=True)


def build(out: pathlib.Path, plugin: pathlib.Path, descriptor_set: pathlib.Path,
          schema: pathlib.Path) -> pathlib.Path:
    """Stages the package with its built files and runs `pip wheel`; returns the wheel's path."""
    for path, what in ((plugin, "the plugin library"), (descriptor_set, "XPlane's descriptor set"),
                       (schema / "__init__.py", "the generated FlatBuffers code")):
        if not path.is_file():
            raise SystemExit(f"build_wheel: {what} is missing ({path}): run tools/setup.sh")
    out.mkdir(parents=True, exist_ok=True)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "lib", "_schema", "BUILD.bazel")
    with tempfile.TemporaryDirectory(prefix="jax_chip_wheel_") as tmp:
        stage = pathlib.Path(tmp)
        shutil.copytree(ROOT / "python", stage / "python", ignore=skip)
        shutil.copytree(ROOT / "xla_passes", stage / "xla_passes", ignore=skip)
        lib = stage / "python" / "jax_chip" / "lib"
        lib.mkdir()
        shutil.copy2(plugin, lib / "pjrt_plugin_chip.so")
        shutil.copy2(descriptor_set, lib / "xplane.descriptor-set.bin")
        shutil.copytree(schema, stage / "python" / "jax_chip" / "_schema", ignore=skip)
        before = set(out.glob("jax_chip-*.whl"))
        for old in before:
            old.unlink()
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(out), str(stage / "python")], check=True)
    (wheel,) = out.glob("jax_chip-*.whl")
    return wheel


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / ".whl", help="folder for the wheel")
    ap.add_argument("--plugin", type=pathlib.Path, default=PACKAGE / "lib" / "pjrt_plugin_chip.so")
    ap.add_argument("--descriptor-set", type=pathlib.Path, default=PACKAGE / "lib" / "xplane.descriptor-set.bin")
    ap.add_argument("--schema", type=pathlib.Path, default=PACKAGE / "_schema",
                    help="the generated FlatBuffers Python code (jax_chip/_schema)")
    ap.add_argument("--wheelhouse", type=pathlib.Path, default=None,
                    help="also download the pinned dependency wheels here (once)")
    args = ap.parse_args()
    wheel = build(args.out, args.plugin, args.descriptor_set, args.schema)
    if args.wheelhouse is not None:
        fill_wheelhouse(args.wheelhouse)
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
