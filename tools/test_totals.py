#!/usr/bin/env python3
"""Sums the test cases of every Bazel test's JUnit XML and prints 'N passed, N failed'."""

from __future__ import annotations

import pathlib
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bazel-testlogs")
    passed = failed = skipped = 0
    for xml in sorted(root.rglob("test.xml")):
        try:
            tree = ET.parse(xml)
        except ET.ParseError:
            continue
        for case in tree.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(f"tests: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
