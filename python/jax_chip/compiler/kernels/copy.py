"""The Copy kernel: `chip.copy` (output_aliasing writes returned parameters, constants and
aliases with it); schema table Copy. Cost: memory only."""

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
    Writer,
    copies_bytes,
    no_lines,
)

_COPY = fb.module("Copy")


@dataclass
class CopyOp:
    OP_TYPE: ClassVar[str] = "Copy"


def _lower(node: Node, lowerer: Lowerer) -> CopyOp:
    return CopyOp()


def _write(w: Writer, op: CopyOp) -> int:
    _COPY.CopyStart(w.b)
    return _COPY.CopyEnd(w.b)


def _read(tab: object, reader: Reader) -> CopyOp:
    return CopyOp()


def _evaluate(op: CopyOp, ev: Evaluation) -> list[np.ndarray]:
    return [np.array(ev.inputs[0], copy=True)]


KIND = KernelKind("Copy", ("chip.copy",), CopyOp, _lower, _write, _read, no_lines,
                  cost=copies_bytes, evaluate=_evaluate)
