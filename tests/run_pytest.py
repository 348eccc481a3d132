"""Bazel py_test entry point: runs pytest on the test file(s) given as arguments.

Points the chip package at the plugin library Bazel built (runfiles), so `bazel test` always tests
the current C++ code, and keeps pytest's cache out of the read-only source tree.
"""

from __future__ import annotations

import os
import pathlib
import sys


def main() -> int:
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
