"""Kernels whose schema table is a flat list of fields (the indexing, sorting and windowed
kernels: Gather, Scatter, DynamicSlice, DynamicUpdateSlice, Pad, Sort, TopK, VariadicReduce,
ReduceWindow): one description type, `TableOp`, written, read and printed from the kernel
module's field list, so such a kernel's module only says which fields its table has, how a
node fills them and what the kernel costs (`table_kind`).

Field kinds: "i64s" ([long]), "long", "bool", "ubyte" (an enum), "program" (a RegionProgram:
lowering/regions.py), "keys" ([SortKey]: kernels/sort.py's SortKeySpec).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import Evaluation, KernelKind, Lowerer, Reader, RegionText, Writer
from jax_chip.compiler.lowering.regions import (
    REGION_KIND_NAMES,
    REGION_KINDS,
    RegionProgram,
    program_cost,
)

Fields = list[tuple[str, str]]


@dataclass(frozen=True)
class SortKeySpec:
    operand: int
    transform: RegionProgram | None
    compare: str              # FLOAT, TOTALORDER, SIGNED, UNSIGNED
    descending: bool = False


SORT_COMPARE = {"FLOAT": 0, "TOTALORDER": 1, "SIGNED": 2, "UNSIGNED": 3}
SORT_COMPARE_NAMES = {v: k for k, v in SORT_COMPARE.items()}


@dataclass
class TableOp:
    """The description of a kernel whose schema table is `OP_TYPE` with `fields`."""
    OP_TYPE: str
    fields: dict[str, Any] = field(default_factory=dict)


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def to_text(op: TableOp, spec: Fields) -> str:
    parts = []
    for name, kind in spec:
        v = op.fields.get(name)
        if v is None:
            continue
        if kind == "program":
            v = "{" + v.to_text() + "}"
        elif kind == "keys":
            v = "[" + ", ".join(f"operand {k.operand} {k.compare}"
                                f"{' desc' if k.descending else ''}"
                                f"{' transform' if k.transform else ''}" for k in v) + "]"
        elif name == "kind":
            v = REGION_KIND_NAMES.get(int(v), v)
        elif isinstance(v, tuple):
            v = list(v)
        parts.append(f"{name}={v}")
    return " ".join(parts)


def write_program(w: Writer, prog: RegionProgram) -> int:
    m = fb.module("RegionProgram")
    instrs = w.instrs(m.RegionProgramStartInstrsVector, prog.instrs)
    results = w.i32s(prog.results)
    m.RegionProgramStart(w.b)
    m.RegionProgramAddInstrs(w.b, instrs)
    m.RegionProgramAddResults(w.b, results)
    return m.RegionProgramEnd(w.b)


def _write_key(w: Writer, key: SortKeySpec) -> int:
    b = w.b
    m = fb.module("SortKey")
    transform = write_program(w, key.transform) if key.transform is not None else None
    m.SortKeyStart(b)
    m.SortKeyAddOperand(b, key.operand)
    if transform is not None:
        m.SortKeyAddTransform(b, transform)
    m.SortKeyAddCompare(b, SORT_COMPARE[key.compare])
    m.SortKeyAddDescending(b, key.descending)
    return m.SortKeyEnd(b)


def write_table(w: Writer, op: TableOp, spec: Fields) -> int:
    b = w.b
    table = op.OP_TYPE
    m = fb.module(table)
    offsets: dict[str, int] = {}
    for name, kind in spec:
        v = op.fields.get(name)
        if v is None:
            continue
        if kind == "i64s":
            offsets[name] = w.i64s(v)
        elif kind == "program":
            offsets[name] = write_program(w, v)
        elif kind == "keys":
            keys = [_write_key(w, k) for k in v]
            offsets[name] = w.offsets(getattr(m, f"{table}Start{_camel(name)}Vector"), keys)
    getattr(m, f"{table}Start")(b)
    for name, kind in spec:
        add = getattr(m, f"{table}Add{_camel(name)}")
        if name in offsets:
            add(b, offsets[name])
        elif kind in ("long", "ubyte") and op.fields.get(name) is not None:
            add(b, int(op.fields[name]))
        elif kind == "bool" and op.fields.get(name) is not None:
            add(b, bool(op.fields[name]))
    return getattr(m, f"{table}End")(b)


def _read_program(p: Any) -> RegionProgram | None:
    if p is None:
        return None
    return RegionProgram(tuple(Reader.instrs(p)),
                         tuple(int(p.Results(i)) for i in range(p.ResultsLength())))


def read_table(table: str, spec: Fields, tab: Any) -> TableOp:
    m = fb.module(table)
    obj = Reader.table(getattr(m, table), tab)
    values: dict[str, Any] = {}
    for name, kind in spec:
        c = _camel(name)
        if kind == "i64s":
            values[name] = Reader.i64s(obj, c)
        elif kind in ("long", "ubyte"):
            values[name] = int(getattr(obj, c)())
        elif kind == "bool":
            values[name] = bool(getattr(obj, c)())
        elif kind == "program":
            values[name] = _read_program(getattr(obj, c)())
        elif kind == "keys":
            keys = []
            for i in range(getattr(obj, c + "Length")()):
                k = getattr(obj, c)(i)
                keys.append(SortKeySpec(k.Operand(), _read_program(k.Transform()),
                                        SORT_COMPARE_NAMES.get(k.Compare(), str(k.Compare())),
                                        bool(k.Descending())))
            values[name] = keys or None
    return TableOp(table, values)


# ---- costs shared by these kernels ---------------------------------------------------------------

def program_flops(node: Node, evaluations: float) -> tuple[float, float]:
    """(vector flops, transcendentals) of evaluating the node's region `evaluations` times:
    native kinds cost one op, SET none, a register program its instructions."""
    prog = node.attrs.get("program")
    kind = node.attrs.get("kind", "PROGRAM")
    if kind == "SET":
        return 0.0, 0.0
    if prog is None or kind != "PROGRAM":
        return evaluations, 0.0
    vec, trans = program_cost(prog)
    return evaluations * vec, evaluations * trans


def region_fields(node: Node, spec: Fields, program_field: str) -> dict[str, Any]:
    """The fields of a kernel with a per-element region: the node's attributes of the same
    names, its region's kind and its register program (indexing_lowering put both there)."""
    vals = {k: node.attrs.get(k) for k, _ in spec}
    vals["kind"] = REGION_KINDS[node.attrs["kind"]]
    vals[program_field] = node.attrs["program"]
    return vals


def in_place_copy_bytes(node: Node, pairs: list[tuple[int, int]]) -> float:
    """Bytes the kernel copies from operand to result, unless it updates the operand in place
    (output_aliasing and loop_carry_inplace mark those)."""
    if node.attrs.get("in_place"):
        return 0.0
    return float(sum(node.results[r].type.nbytes for r, _ in pairs))


def table_kind(name: str, ops: tuple[str, ...], spec: Fields,
               lower: Callable[[Node], dict[str, Any]],
               cost: Callable[[Node], KernelCost],
               evaluate: Callable[[TableOp, Evaluation], list[np.ndarray]] | None = None,
               in_place: Callable[[Node], list[tuple[int, int]]] | None = None) -> KernelKind:
    """The KernelKind of a flat-table kernel: `lower(node)` gives the table's field values."""

    def _lower(node: Node, lowerer: Lowerer) -> TableOp:
        return TableOp(name, lower(node))

    def _write(w: Writer, op: TableOp) -> int:
        return write_table(w, op, spec)

    def _read(tab: Any, reader: Reader) -> TableOp:
        return read_table(name, spec, tab)

    def _text(op: TableOp, kernels_text: RegionText) -> list[str]:
        return [to_text(op, spec)]

    def _cost(node: Node, ctx: PassContext) -> KernelCost:
        return cost(node)

    return KernelKind(name, ops, TableOp, _lower, _write, _read, _text, cost=_cost,
                      evaluate=evaluate, in_place=in_place)
