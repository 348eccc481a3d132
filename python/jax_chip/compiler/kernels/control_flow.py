"""The control-flow kernels While (`stablehlo.while`) and Case (`stablehlo.case`): nested kernel
lists (schema Region) over the executable's one value numbering and memory plan.

While: the runtime copies the initial values into the carried storage (its outputs), runs cond,
stops when its 0-d pred is false, runs the body and assigns the body's results to the carried
storage in parallel. Case: runs the branch its index selects (out of range: the last) and copies
that branch's results into its outputs. No cost of their own: their regions' kernels have costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from jax_chip.compiler.ir.executable import RegionDesc
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import (
    Evaluation,
    InterpreterError,
    KernelKind,
    Lowerer,
    Reader,
    RegionText,
    Writer,
)

MAX_LOOP_ITERATIONS = 1_000_000

_WHILE = fb.module("While")
_CASE = fb.module("Case")


@dataclass
class WhileOp:
    cond: RegionDesc
    body: RegionDesc
    num_carried: int
    OP_TYPE: ClassVar[str] = "While"


@dataclass
class CaseOp:
    branches: list[RegionDesc]
    OP_TYPE: ClassVar[str] = "Case"


def _region_lines(label: str, region: RegionDesc, kernels_text: RegionText) -> list[str]:
    res = ", ".join(f"v{i}" for i in region.results)
    return [f"{label} -> ({res}):"] + ["  " + line for line in kernels_text(region)]


# ---- While ---------------------------------------------------------------------------------------

def _lower_while(node: Node, lowerer: Lowerer) -> WhileOp:
    cond, body = (lowerer.region(r) for r in node.regions)
    return WhileOp(cond, body, int(node.attrs["num_carried"]))


def _write_while(w: Writer, op: WhileOp) -> int:
    cond = w.region(op.cond)
    body = w.region(op.body)
    _WHILE.WhileStart(w.b)
    _WHILE.WhileAddCond(w.b, cond)
    _WHILE.WhileAddBody(w.b, body)
    _WHILE.WhileAddNumCarried(w.b, op.num_carried)
    return _WHILE.WhileEnd(w.b)


def _read_while(tab: object, reader: Reader) -> WhileOp:
    t = reader.table(_WHILE.While, tab)
    return WhileOp(reader.region(t.Cond()), reader.region(t.Body()), t.NumCarried())


def _text_while(op: WhileOp, kernels_text: RegionText) -> list[str]:
    return ([f"num_carried {op.num_carried}"] + _region_lines("cond", op.cond, kernels_text)
            + _region_lines("body", op.body, kernels_text))


def _evaluate_while(op: WhileOp, ev: Evaluation) -> None:
    k = ev.kernel
    ev.assign(k.inputs[:op.num_carried], k.outputs)
    for _ in range(MAX_LOOP_ITERATIONS):
        ev.run_region(op.cond)
        if not bool(ev.array(op.cond.results[0])):
            break
        ev.run_region(op.body)
        ev.assign(op.body.results, k.outputs)
    else:
        raise InterpreterError(f"{k.name}: more than {MAX_LOOP_ITERATIONS} iterations")
    return None


WHILE = KernelKind("While", ("stablehlo.while",), WhileOp, _lower_while, _write_while,
                   _read_while, _text_while, evaluate=_evaluate_while)


# ---- Case ----------------------------------------------------------------------------------------

def _lower_case(node: Node, lowerer: Lowerer) -> CaseOp:
    return CaseOp([lowerer.region(r) for r in node.regions])


def _write_case(w: Writer, op: CaseOp) -> int:
    branches = [w.region(r) for r in op.branches]
    bvec = w.offsets(_CASE.CaseStartBranchesVector, branches)
    _CASE.CaseStart(w.b)
    _CASE.CaseAddBranches(w.b, bvec)
    return _CASE.CaseEnd(w.b)


def _read_case(tab: object, reader: Reader) -> CaseOp:
    c = reader.table(_CASE.Case, tab)
    return CaseOp([reader.region(c.Branches(i)) for i in range(c.BranchesLength())])


def _text_case(op: CaseOp, kernels_text: RegionText) -> list[str]:
    lines: list[str] = []
    for b, region in enumerate(op.branches):
        lines.extend(_region_lines(f"branch {b}", region, kernels_text))
    return lines


def _evaluate_case(op: CaseOp, ev: Evaluation) -> None:
    index = int(ev.inputs[0])
    nb = len(op.branches)
    branch = op.branches[index if 0 <= index < nb else nb - 1]
    ev.run_region(branch)
    ev.assign(branch.results, ev.kernel.outputs)
    return None


CASE = KernelKind("Case", ("stablehlo.case",), CaseOp, _lower_case, _write_case, _read_case,
                  _text_case, evaluate=_evaluate_case)
