"""The one door to the FlatBuffers code generated from pjrt_plugin/schema/chip_executable.fbs.

flatc 2.0.8 writes modules that import each other absolutely as `chip.exe.X`; they live in
jax_chip._schema.chip.exe, so `chip` and `chip.exe` are aliased in sys.modules before importing.
Generate them with tools/setup.sh.
"""

from __future__ import annotations

import importlib
import sys

try:
    _chip = importlib.import_module("jax_chip._schema.chip")
    _exe = importlib.import_module("jax_chip._schema.chip.exe")
except ImportError as e:  # pragma: no cover - setup problem
    raise ImportError("the FlatBuffers code for the chip executable schema is missing; run "
                      "tools/setup.sh --no-build to generate python/jax_chip/_schema") from e

if sys.modules.get("chip") not in (None, _chip):  # pragma: no cover
    raise ImportError("another top-level module named 'chip' is already imported; it clashes "
                      "with the generated schema code")
sys.modules["chip"] = _chip
sys.modules["chip.exe"] = _exe

from chip.exe import (  # noqa: E402  (needs the aliases above)
    Case,
    Region,
    While,
    Concatenate,
    Constant,
    Copy,
    DotGeneral,
    DType,
    Elementwise,
    ElementwiseResult,
    EwOp,
    Executable,
    Instr,
    Kernel,
    KernelCost,
    KernelOp,
    Output,
    Parameter,
    Reduce,
    ReduceOp,
    StorageKind,
    TensorType,
    Value,
    View,
)

FILE_IDENTIFIER = b"CHPX"
FORMAT_VERSION = 1

__all__ = [
    "Case", "Region", "While",
    "Concatenate", "Constant", "Copy", "DotGeneral", "DType", "Elementwise", "ElementwiseResult",
    "EwOp", "Executable", "Instr", "Kernel", "KernelCost", "KernelOp", "Output", "Parameter",
    "Reduce", "ReduceOp", "StorageKind", "TensorType", "Value", "View", "FILE_IDENTIFIER",
    "FORMAT_VERSION",
]
