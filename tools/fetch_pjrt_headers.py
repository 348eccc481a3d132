#!/usr/bin/env python3
"""Fetches the PJRT C API headers (PJRT 0.72) and XPlane's schema at build time into an ignored folder.

jaxlib ships only the XLA FFI headers; the tensorflow-cpu 2.20.0 wheel ships
`tensorflow/include/xla/pjrt/c/*.h` (and the profiler plugin C API header the profiler extension
includes, and XPlane's descriptor set). This downloads that wheel once (pip, no deps) into a cache
folder and unpacks only those headers, checking the main header's SHA-256. Nothing is committed.
"""
from __future__ import annotations

import argparse
import hashlib
import pathlib
import subprocess
import sys
import zipfile

WHEEL_REQ = "tensorflow-cpu==2.20.0"
WHEEL_GLOB = "tensorflow_cpu-2.20.0-*.whl"
PREFIX = "tensorflow/include/xla/pjrt/c/"
MAIN_HEADER = "pjrt_c_api.h"
MAIN_SHA256 = "892be1b24f0fa2ef97a6e9ae659192a311f9bc93eb9d07c4ddb0f151f51fe532"
# the profiler extension's header includes the profiler plugin C API; jax_chip.xspace reads XPlane's
# schema (the jax.profiler XSpace) from its descriptor set
EXTRA = {"tensorflow/include/xla/backends/profiler/plugin/profiler_c_api.h":
         "xla/backends/profiler/plugin/profiler_c_api.h",
         "tensorflow/include/tsl/profiler/protobuf/xplane_proto-descriptor-set.proto.bin":
         "tsl/profiler/protobuf/xplane_proto-descriptor-set.proto.bin"}


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=pathlib.Path, required=True, help="folder to hold include/xla/pjrt/c")
    ap.add_argument("--cache", type=pathlib.Path, required=True, help="wheel cache folder")
    args = ap.parse_args()

    dest = args.out / "include" / "xla" / "pjrt" / "c"
    extras = {name: args.out / "include" / path for name, path in EXTRA.items()}
    if ((dest / MAIN_HEADER).exists() and sha256(dest / MAIN_HEADER) == MAIN_SHA256
            and all(p.exists() for p in extras.values())):
        return 0

    args.cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(args.cache.glob(WHEEL_GLOB))
    if not wheels:
        print(f"[fetch_pjrt_headers] downloading {WHEEL_REQ} (about 259 MB, once)", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
             "-d", str(args.cache), WHEEL_REQ],
            check=True,
        )
        wheels = sorted(args.cache.glob(WHEEL_GLOB))
    if not wheels:
        print(f"[fetch_pjrt_headers] no {WHEEL_GLOB} in {args.cache}", file=sys.stderr)
        return 1

    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as zf:
        names = [n for n in zf.namelist() if n.startswith(PREFIX) and n.endswith(".h")]
        for name in names:
            (dest / name[len(PREFIX):]).write_bytes(zf.read(name))
        for name, path in extras.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zf.read(name))
    got = sha256(dest / MAIN_HEADER)
    if got != MAIN_SHA256:
        print(f"[fetch_pjrt_headers] {MAIN_HEADER} sha256 {got} != expected {MAIN_SHA256}", file=sys.stderr)
        return 1
    print(f"[fetch_pjrt_headers] unpacked {len(names)} headers into {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
