"""The C++ plugin's layers point one way: core <- kernels <- runtime <- api.

Each layer is a folder of pjrt_plugin/ and a Bazel cc_library of the same name
(pjrt_plugin/BUILD.bazel); a header include may name its own layer or a lower one, never a higher
one. The loader and the executor name no kind of kernel: every kind is one line of
kernels/kernel_registry.cc.
"""

from __future__ import annotations

import pathlib
import re

PLUGIN = pathlib.Path(__file__).parent.parent / "pjrt_plugin"

# Lower rank = lower layer. The generated schema sits between core and kernels.
RANK = {"core": 0, "schema": 1, "kernels": 2, "runtime": 3, "api": 4}
INCLUDE = re.compile(r'^\s*#\s*include\s+"pjrt_plugin/([a-z_]+)/([^"]+)"', re.MULTILINE)


def _sources(layer: str) -> list[pathlib.Path]:
    return sorted(p for p in (PLUGIN / layer).iterdir() if p.suffix in (".h", ".cc"))


def _upward_includes() -> list[str]:
    bad = []
    for layer in ("core", "kernels", "runtime", "api"):
        for path in _sources(layer):
            for target_layer, header in INCLUDE.findall(path.read_text()):
                if target_layer not in RANK:
                    bad.append(f"{path.relative_to(PLUGIN)} includes unknown layer {target_layer}/{header}")
                elif RANK[target_layer] > RANK[layer]:
                    bad.append(f"{path.relative_to(PLUGIN)} includes {target_layer}/{header}")
    return bad


def test_every_layer_has_sources():
    for layer in ("core", "kernels", "runtime", "api"):
        assert _sources(layer), f"pjrt_plugin/{layer}/ has no C++ sources"


def test_no_include_crosses_a_layer_upward():
    assert _upward_includes() == []


def test_the_include_pattern_sees_includes():
    # Guards the check itself: the pattern must match the includes the sources really use.
    text = (PLUGIN / "runtime" / "executor.cc").read_text()
    layers = {layer for layer, _ in INCLUDE.findall(text)}
    assert {"runtime", "kernels"} <= layers


def test_loader_and_executor_name_no_kernel_kind():
    for name in ("loaded_program.cc", "executor.cc"):
        text = (PLUGIN / "runtime" / name).read_text()
        kinds = sorted(set(re.findall(r"KernelOp::(\w+)", text)) - {"NONE"})
        assert kinds == [], f"runtime/{name} names kernel kinds {kinds}; register them in kernels/kernel_registry.cc"
