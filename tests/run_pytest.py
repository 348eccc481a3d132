"""Bazel py_test entry point: runs pytest on the test file(s) given as arguments.

Points the chip package at the plugin library Bazel built (runfiles), so `bazel test` always tests
the current C++ code, and keeps pytest's cache out of the read-only source tree.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys


def preload_asan_runtime() -> None:
    """Under `bazel test --config=asan` (CHIP_SANITIZER=asan) the plugin is built with
    AddressSanitizer and UBSan. The ASan runtime must be the first library in the process, so the
    test re-executes itself with it preloaded into CPython (which is not instrumented; its
    interned objects look like leaks, so leak detection is off)."""
    if os.environ.get("CHIP_SANITIZER") != "asan" or "libasan" in os.environ.get("LD_PRELOAD", ""):
        return
    # libstdc++ too: CPython does not link it, and ASan must find the real __cxa_throw at start-up
    # to intercept the C++ exceptions the plugin and jaxlib throw.
    preload = []
    for lib in ("libasan.so", "libstdc++.so.6"):
        path = subprocess.run(["gcc", f"-print-file-name={lib}"], capture_output=True, text=True,
                              check=True).stdout.strip()
        if not os.path.isabs(path):
            raise SystemExit(f"CHIP_SANITIZER=asan: gcc does not know {lib} ({path!r})")
        preload.append(path)
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(preload + ([env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else []))
    env["ASAN_OPTIONS"] = ":".join(p for p in (env.get("ASAN_OPTIONS", ""), "detect_leaks=0") if p)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def main() -> int:
    preload_asan_runtime()
    runfiles = os.environ.get("TEST_SRCDIR")
    if runfiles:
        lib = pathlib.Path(runfiles) / "chip" / "pjrt_plugin" / "pjrt_plugin_chip.so"
        if lib.is_file():
            os.environ["CHIP_PLUGIN_LIBRARY"] = str(lib)
    import pytest

    args = ["-q", "-p", "no:cacheprovider", "-rfE"]
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append(f"--junitxml={xml}")
    return pytest.main(args + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
