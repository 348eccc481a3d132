"""The Concatenate kernel: `stablehlo.concatenate` along one dimension; schema table
Concatenate. Cost: memory only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import (
    Evaluation,
    KernelKind,
    Lowerer,
    Reader,
    RegionText,
    Writer,
    copies_bytes,
)

_CONCATENATE = fb.module("Concatenate")


@dataclass
class ConcatenateOp:
    dim: int
    OP_TYPE: ClassVar[str] = "Concatenate"


def _lower(node: Node, lowerer: Lowerer) -> ConcatenateOp:
    return ConcatenateOp(int(node.attrs["dimension"]))


def _write(w: Writer, op: ConcatenateOp) -> int:
    _CONCATENATE.ConcatenateStart(w.b)
    _CONCATENATE.ConcatenateAddDim(w.b, op.dim)
    return _CONCATENATE.ConcatenateEnd(w.b)


def _read(tab: object, reader: Reader) -> ConcatenateOp:
    return ConcatenateOp(reader.table(_CONCATENATE.Concatenate, tab).Dim())


def _text(op: ConcatenateOp, kernels_text: RegionText) -> list[str]:
    return [f"dim {op.dim}"]


def _evaluate(op: ConcatenateOp, ev: Evaluation) -> list[np.ndarray]:
    return [np.concatenate([np.asarray(x) for x in ev.inputs], axis=op.dim)]


KIND = KernelKind("Concatenate", ("stablehlo.concatenate",), ConcatenateOp, _lower, _write,
                  _read, _text, cost=copies_bytes, evaluate=_evaluate)
