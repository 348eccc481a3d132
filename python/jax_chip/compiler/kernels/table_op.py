"""Data movement, indexing and sorting ops: gather, scatter, dynamic_slice, dynamic_update_slice,
pad, reverse, sort, top_k, multi-operand reduce (argmax/argmin) and reduce_window.

For each op this module holds what the rest of the compiler asks of it through the op registry
(op_registry.OpSpec): how its attributes are imported (`importer`), the kernel description it is
emitted as (`emit`: an `IndexingOp` that writes and reads its own schema table), its static cost
(`cost`) and which results update an operand in place (`in_place`). Regions (scatter update,
sort comparator, reduce bodies) are kept in node.attrs["region"] (a Graph of 0-d ops; not in
node.regions, which holds control-flow regions that passes run on) and compiled into register
programs by regions.py in the indexing_lowering pass (xla_passes/indexing_lowering.py), which also rewrites top_k custom calls.

`stablehlo.reverse` is not a kernel: it is a movement op (a view with negative strides), fused
into Elementwise kernels like slice and transpose.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.errors import UnsupportedError
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.lowering.regions import (
    REGION_KIND_NAMES,
    REGION_KINDS,
    RegionProgram,
    import_region,
    program_cost,
)

if TYPE_CHECKING:
    from jaxlib.mlir import ir

# op_registry imports this module while it initializes: keep module-level imports to modules that
# do not import op_registry (executable/ew_codegen are imported where used).


def KernelCost(**kw: float) -> Any:  # noqa: N802  (the executable's KernelCost, imported lazily)
    from jax_chip.compiler.ir.executable import KernelCost as _KernelCost
    return _KernelCost(**kw)


# ---- attribute readers ---------------------------------------------------------------------------

def _i64s(attr: "ir.Attribute") -> tuple[int, ...]:
    from jaxlib.mlir import ir
    if ir.DenseI64ArrayAttr.isinstance(attr):
        return tuple(int(x) for x in ir.DenseI64ArrayAttr(attr))
    if ir.DenseIntElementsAttr.isinstance(attr):
        return tuple(int(x) for x in ir.DenseIntElementsAttr(attr))
    raise UnsupportedError(f"unexpected attribute {attr}")


def _opt_i64s(op: "ir.Operation", name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    return _i64s(op.attributes[name]) if name in op.attributes else default


def _bool(op: "ir.Operation", name: str) -> bool:
    from jaxlib.mlir import ir
    if name not in op.attributes:
        return False
    return bool(ir.BoolAttr(op.attributes[name]).value)


def _int(op: "ir.Operation", name: str) -> int:
    from jaxlib.mlir import ir
    return int(ir.IntegerAttr(op.attributes[name]).value)


def _rank(v: "ir.Value") -> int:
    from jaxlib.mlir import ir
    return ir.RankedTensorType(v.type).rank


# ---- importers -------------------------------------------------------------------------------------

def _import_gather(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    from jaxlib.mlir.dialects import stablehlo
    d = stablehlo.GatherDimensionNumbers(op.attributes["dimension_numbers"])
    return {"offset_dims": tuple(d.offset_dims),
            "collapsed_slice_dims": tuple(d.collapsed_slice_dims),
            "operand_batching_dims": tuple(d.operand_batching_dims),
            "start_indices_batching_dims": tuple(d.start_indices_batching_dims),
            "start_index_map": tuple(d.start_index_map),
            "index_vector_dim": int(d.index_vector_dim),
            "slice_sizes": _i64s(op.attributes["slice_sizes"]),
            "indices_are_sorted": _bool(op, "indices_are_sorted")}


def _import_scatter(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    from jaxlib.mlir.dialects import stablehlo
    d = stablehlo.ScatterDimensionNumbers(op.attributes["scatter_dimension_numbers"])
    body = import_region(imp, op.regions[0], "scatter update", loc)
    return {"update_window_dims": tuple(d.update_window_dims),
            "inserted_window_dims": tuple(d.inserted_window_dims),
            "input_batching_dims": tuple(d.input_batching_dims),
            "scatter_indices_batching_dims": tuple(d.scatter_indices_batching_dims),
            "scatter_dims_to_operand_dims": tuple(d.scattered_dims_to_operand_dims),
            "index_vector_dim": int(d.index_vector_dim),
            "indices_are_sorted": _bool(op, "indices_are_sorted"),
            "unique_indices": _bool(op, "unique_indices"),
            "region": body}


def _import_dynamic_slice(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    return {"slice_sizes": _i64s(op.attributes["slice_sizes"])}


def _import_pad(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    return {"edge_low": _i64s(op.attributes["edge_padding_low"]),
            "edge_high": _i64s(op.attributes["edge_padding_high"]),
            "interior": _i64s(op.attributes["interior_padding"])}


def _import_reverse(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    return {"dimensions": _i64s(op.attributes["dimensions"])}


def _import_sort(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    rank = _rank(op.operands[0])
    dim = _int(op, "dimension") if "dimension" in op.attributes else -1
    return {"dimension": dim % rank if rank else 0,
            "is_stable": _bool(op, "is_stable"),
            "region": import_region(imp, op.regions[0], "sort comparator", loc)}


def _import_reduce_window(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    rank = _rank(op.operands[0])
    ones = (1,) * rank
    padding = ((0, 0),) * rank
    if "padding" in op.attributes:
        flat = _i64s(op.attributes["padding"])
        padding = tuple((flat[2 * i], flat[2 * i + 1]) for i in range(rank))
    return {"window_dimensions": _i64s(op.attributes["window_dimensions"]),
            "window_strides": _opt_i64s(op, "window_strides", ones),
            "base_dilations": _opt_i64s(op, "base_dilations", ones),
            "window_dilations": _opt_i64s(op, "window_dilations", ones),
            "padding_low": tuple(p[0] for p in padding),
            "padding_high": tuple(p[1] for p in padding),
            "region": import_region(imp, op.regions[0], "reduce_window body", loc)}


def _import_chlo_top_k(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    return {"k": _int(op, "k"), "largest": True}


def import_general_reduce(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any]:
    """stablehlo.reduce with several operands or a body that is not one binary op: keeps the
    body as a region (the indexing_lowering pass makes it a chip.variadic_reduce)."""
    return {"dimensions": _i64s(op.attributes["dimensions"]), "reduce_op": None,
            "region": import_region(imp, op.regions[0], "reduce body", loc)}


# ---- kernel descriptions ---------------------------------------------------------------------------

# Schema fields of each table: (field name, kind). Kinds: "i64s" ([long]), "long", "bool",
# "ubyte" (an enum), "program" (RegionProgram), "keys" ([SortKey]).
TABLE_FIELDS: dict[str, list[tuple[str, str]]] = {
    "Gather": [("offset_dims", "i64s"), ("collapsed_slice_dims", "i64s"),
               ("operand_batching_dims", "i64s"), ("start_indices_batching_dims", "i64s"),
               ("start_index_map", "i64s"), ("index_vector_dim", "long"),
               ("slice_sizes", "i64s"), ("indices_are_sorted", "bool")],
    "Scatter": [("update_window_dims", "i64s"), ("inserted_window_dims", "i64s"),
                ("input_batching_dims", "i64s"), ("scatter_indices_batching_dims", "i64s"),
                ("scatter_dims_to_operand_dims", "i64s"), ("index_vector_dim", "long"),
                ("indices_are_sorted", "bool"), ("unique_indices", "bool"), ("kind", "ubyte"),
                ("update", "program")],
    "DynamicSlice": [("slice_sizes", "i64s")],
    "DynamicUpdateSlice": [],
    "Pad": [("edge_low", "i64s"), ("edge_high", "i64s"), ("interior", "i64s")],
    "Sort": [("dimension", "long"), ("is_stable", "bool"), ("comparator", "program"),
             ("keys", "keys")],
    "TopK": [("k", "long"), ("largest", "bool")],
    "VariadicReduce": [("dims", "i64s"), ("kind", "ubyte"), ("body", "program")],
    "ReduceWindow": [("window_dimensions", "i64s"), ("window_strides", "i64s"),
                     ("base_dilations", "i64s"), ("window_dilations", "i64s"),
                     ("padding_low", "i64s"), ("padding_high", "i64s"), ("kind", "ubyte"),
                     ("body", "program")],
}

SORT_COMPARE = {"FLOAT": 0, "TOTALORDER": 1, "SIGNED": 2, "UNSIGNED": 3}
SORT_COMPARE_NAMES = {v: k for k, v in SORT_COMPARE.items()}


@dataclass(frozen=True)
class SortKeySpec:
    operand: int
    transform: RegionProgram | None
    compare: str              # FLOAT, TOTALORDER, SIGNED, UNSIGNED
    descending: bool = False


@dataclass
class IndexingOp:
    """One of this module's kernel ops: the schema table `OP_TYPE` with `fields`."""
    OP_TYPE: str
    fields: dict[str, Any] = field(default_factory=dict)

    def write(self, w: Any) -> int:
        return _write_table(w, self.OP_TYPE, self.fields)

    def to_text(self) -> str:
        parts = []
        for name, kind in TABLE_FIELDS[self.OP_TYPE]:
            v = self.fields.get(name)
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


def _fbmod(name: str):
    from jax_chip.compiler.kernels import schema as executable_schema  # noqa: F401  (sets up the chip.exe aliases)
    return importlib.import_module(f"chip.exe.{name}")


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def write_program(w: Any, prog: RegionProgram) -> int:
    from jax_chip.compiler.ir.ew_semantics import EWOPS
    b = w.b
    m = _fbmod("RegionProgram")
    instr = _fbmod("Instr")
    m.RegionProgramStartInstrsVector(b, len(prog.instrs))
    for ins in reversed(prog.instrs):
        instr.CreateInstr(b, EWOPS[ins.op], dtypes.info(ins.dtype).schema, ins.a, ins.b, ins.c,
                          ins.imm_i, ins.imm_f)
    instrs = b.EndVector()
    results = w.i32s(prog.results)
    m.RegionProgramStart(b)
    m.RegionProgramAddInstrs(b, instrs)
    m.RegionProgramAddResults(b, results)
    return m.RegionProgramEnd(b)


def _write_key(w: Any, key: SortKeySpec) -> int:
    b = w.b
    m = _fbmod("SortKey")
    transform = write_program(w, key.transform) if key.transform is not None else None
    m.SortKeyStart(b)
    m.SortKeyAddOperand(b, key.operand)
    if transform is not None:
        m.SortKeyAddTransform(b, transform)
    m.SortKeyAddCompare(b, SORT_COMPARE[key.compare])
    m.SortKeyAddDescending(b, key.descending)
    return m.SortKeyEnd(b)


def _write_table(w: Any, table: str, values: dict[str, Any]) -> int:
    b = w.b
    m = _fbmod(table)
    offsets: dict[str, int] = {}
    for name, kind in TABLE_FIELDS[table]:
        v = values.get(name)
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
    for name, kind in TABLE_FIELDS[table]:
        add = getattr(m, f"{table}Add{_camel(name)}")
        if name in offsets:
            add(b, offsets[name])
        elif kind in ("long", "ubyte") and values.get(name) is not None:
            add(b, int(values[name]))
        elif kind == "bool" and values.get(name) is not None:
            add(b, bool(values[name]))
    return getattr(m, f"{table}End")(b)


def _read_program(p: Any) -> RegionProgram | None:
    from jax_chip.compiler.lowering.ew_codegen import InstrSpec
    from jax_chip.compiler.ir.ew_semantics import EWOP_NAMES
    if p is None:
        return None
    instrs = []
    for i in range(p.InstrsLength()):
        ins = p.Instrs(i)
        instrs.append(InstrSpec(EWOP_NAMES.get(ins.Op(), f"EWOP{ins.Op()}"),
                                dtypes.SCHEMA_TO_NAME.get(ins.Dtype(), f"dtype{ins.Dtype()}"),
                                ins.A(), ins.B(), ins.C(), ins.ImmI(), ins.ImmF()))
    return RegionProgram(tuple(instrs), tuple(int(p.Results(i)) for i in range(p.ResultsLength())))


def read_op(type_name: str, tab: Any) -> IndexingOp | None:
    """The IndexingOp of a kernel whose op is schema table `type_name` (None: not one of ours)."""
    if type_name not in TABLE_FIELDS:
        return None
    m = _fbmod(type_name)
    obj = getattr(m, type_name)()
    obj.Init(tab.Bytes, tab.Pos)
    values: dict[str, Any] = {}
    for name, kind in TABLE_FIELDS[type_name]:
        c = _camel(name)
        if kind == "i64s":
            values[name] = tuple(int(getattr(obj, c)(i)) for i in range(getattr(obj, c + "Length")()))
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
    return IndexingOp(type_name, values)


# ---- emit ------------------------------------------------------------------------------------------

def _emit_gather(node: Node) -> IndexingOp:
    a = node.attrs
    return IndexingOp("Gather", {k: a[k] for k, _ in TABLE_FIELDS["Gather"]})


def _emit_scatter(node: Node) -> IndexingOp:
    a = node.attrs
    vals = {k: a.get(k) for k, _ in TABLE_FIELDS["Scatter"]}
    vals["kind"] = REGION_KINDS[a["kind"]]
    vals["update"] = a["program"]
    return IndexingOp("Scatter", vals)


def _emit_dynamic_slice(node: Node) -> IndexingOp:
    return IndexingOp("DynamicSlice", {"slice_sizes": node.attrs["slice_sizes"]})


def _emit_dus(node: Node) -> IndexingOp:
    return IndexingOp("DynamicUpdateSlice", {})


def _emit_pad(node: Node) -> IndexingOp:
    a = node.attrs
    return IndexingOp("Pad", {"edge_low": a["edge_low"], "edge_high": a["edge_high"],
                              "interior": a["interior"]})


def _emit_sort(node: Node) -> IndexingOp:
    a = node.attrs
    return IndexingOp("Sort", {"dimension": a["dimension"], "is_stable": a["is_stable"],
                               "comparator": a["program"], "keys": a.get("keys") or None})


def _emit_top_k(node: Node) -> IndexingOp:
    return IndexingOp("TopK", {"k": node.attrs["k"], "largest": node.attrs.get("largest", True)})


def _emit_variadic_reduce(node: Node) -> IndexingOp:
    a = node.attrs
    return IndexingOp("VariadicReduce", {"dims": a["dimensions"], "kind": REGION_KINDS[a["kind"]],
                                         "body": a["program"]})


def _emit_reduce_window(node: Node) -> IndexingOp:
    a = node.attrs
    vals = {k: a.get(k) for k, _ in TABLE_FIELDS["ReduceWindow"]}
    vals["kind"] = REGION_KINDS[a["kind"]]
    vals["body"] = a["program"]
    return IndexingOp("ReduceWindow", vals)


# ---- cost ------------------------------------------------------------------------------------------

def _program_flops(node: Node, evaluations: float) -> tuple[float, float]:
    prog = node.attrs.get("program")
    kind = node.attrs.get("kind", "PROGRAM")
    if kind == "SET":
        return 0.0, 0.0
    if prog is None or kind != "PROGRAM":
        return evaluations, 0.0
    vec, trans = program_cost(prog)
    return evaluations * vec, evaluations * trans


def _cost_gather(node: Node) -> KernelCost:
    out = node.result.type
    return KernelCost(bytes_read=float(out.nbytes + node.operands[1].type.nbytes),
                      bytes_written=float(out.nbytes))


def _in_place_copy_bytes(node: Node, pairs: list[tuple[int, int]]) -> float:
    """Bytes the kernel copies from operand to result, unless it updates a donated operand in
    place (output_aliasing marks those)."""
    if node.attrs.get("in_place"):
        return 0.0
    return float(sum(node.results[r].type.nbytes for r, _ in pairs))


def _scatter_pairs(node: Node) -> list[tuple[int, int]]:
    return [(i, i) for i in range(len(node.results))]


def _cost_scatter(node: Node) -> KernelCost:
    n = len(node.results)
    updates = node.operands[n + 1:]
    upd_elems = float(updates[0].type.num_elements)
    upd_bytes = float(sum(u.type.nbytes for u in updates))
    copy = _in_place_copy_bytes(node, _scatter_pairs(node))
    vec, trans = _program_flops(node, upd_elems)
    return KernelCost(vector_flops=vec, transcendentals=trans,
                      bytes_read=upd_bytes * (1 if node.attrs.get("kind") == "SET" else 2)
                      + node.operands[n].type.nbytes + copy,
                      bytes_written=upd_bytes + copy)


def _cost_dynamic_slice(node: Node) -> KernelCost:
    b = float(node.result.type.nbytes)
    return KernelCost(bytes_read=b + 4 * (len(node.operands) - 1), bytes_written=b)


def _cost_dus(node: Node) -> KernelCost:
    upd = float(node.operands[1].type.nbytes)
    copy = _in_place_copy_bytes(node, [(0, 0)])
    return KernelCost(bytes_read=upd + copy + 4 * (len(node.operands) - 2),
                      bytes_written=upd + copy)


def _cost_pad(node: Node) -> KernelCost:
    return KernelCost(bytes_read=float(node.operands[0].type.nbytes),
                      bytes_written=float(node.result.type.nbytes))


def _cost_sort(node: Node) -> KernelCost:
    t = node.operands[0].type
    n = t.shape[node.attrs["dimension"]] if t.rank else 1
    rows = t.num_elements // n if n else 0
    compares = float(rows * n * max(1.0, math.log2(max(n, 1))))
    prog: RegionProgram | None = node.attrs.get("program")
    per = max(1, program_cost(prog)[0]) if prog is not None else 1
    nbytes = float(sum(o.type.nbytes for o in node.operands))
    return KernelCost(vector_flops=compares * per, bytes_read=nbytes, bytes_written=nbytes)


def _cost_top_k(node: Node) -> KernelCost:
    t = node.operands[0].type
    k = max(1, int(node.attrs["k"]))
    return KernelCost(vector_flops=float(t.num_elements * max(1.0, math.log2(k + 1))),
                      bytes_read=float(t.nbytes),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


def _cost_variadic_reduce(node: Node) -> KernelCost:
    n = len(node.results)
    vec, trans = _program_flops(node, float(node.operands[0].type.num_elements))
    return KernelCost(vector_flops=vec, transcendentals=trans,
                      bytes_read=float(sum(o.type.nbytes for o in node.operands[:n])),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


def is_scan_window(a: dict[str, Any], shape: tuple[int, ...]) -> bool:
    """A cumulative (prefix or suffix) window along one dimension, as jnp.cumsum emits."""
    dims = [d for d, w in enumerate(a["window_dimensions"]) if w != 1]
    if len(dims) != 1 or any(s != 1 for s in a["window_strides"]):
        return False
    if any(x != 1 for x in a["base_dilations"]) or any(x != 1 for x in a["window_dilations"]):
        return False
    d = dims[0]
    n, w = shape[d], a["window_dimensions"][d]
    lo, hi = a["padding_low"], a["padding_high"]
    if any(lo[k] or hi[k] for k in range(len(shape)) if k != d):
        return False
    return w == n and ((lo[d], hi[d]) in ((n - 1, 0), (0, n - 1)))


def _cost_reduce_window(node: Node) -> KernelCost:
    n = len(node.results)
    a = node.attrs
    out = node.results[0].type
    if is_scan_window(a, node.operands[0].type.shape):
        evals = float(out.num_elements)
    else:
        evals = float(out.num_elements * math.prod(a["window_dimensions"]))
    vec, trans = _program_flops(node, evals)
    return KernelCost(vector_flops=vec, transcendentals=trans,
                      bytes_read=float(sum(o.type.nbytes for o in node.operands[:n])),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


# ---- registration ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    name: str
    kind: str
    types: str
    kernel: str
    notes: str
    importer: Callable[..., Any] | None = None
    emit: Callable[[Node], Any] | None = None
    cost: Callable[..., Any] | None = None
    in_place: Callable[[Node], list[tuple[int, int]]] | None = None


ENTRIES = [
    _Entry("stablehlo.gather", "indexing", "all", "Gather",
           "full StableHLO semantics (batching dims, index_vector_dim, collapsed dims); start "
           "indices are clamped into the operand like XLA; indices of any integer type",
           _import_gather, _emit_gather, _cost_gather),
    _Entry("stablehlo.scatter", "indexing", "all", "Scatter",
           "several operands; update computations add/multiply/max/min/and/or/xor/set run "
           "natively, any other elementwise body as a register program; windows outside the "
           "operand are skipped whole (mode='drop'); duplicate indices combine in order; in place "
           "on a donated operand", _import_scatter, _emit_scatter, _cost_scatter, _scatter_pairs),
    _Entry("stablehlo.dynamic_slice", "indexing", "all", "DynamicSlice",
           "starts clamped like XLA; constant starts become a static slice (a view)",
           _import_dynamic_slice, _emit_dynamic_slice, _cost_dynamic_slice),
    _Entry("stablehlo.dynamic_update_slice", "indexing", "all", "DynamicUpdateSlice",
           "starts clamped like XLA; in place on a donated operand (no copy)",
           None, _emit_dus, _cost_dus, lambda n: [(0, 0)]),
    _Entry("stablehlo.pad", "indexing", "all", "Pad",
           "negative (cropping) and interior padding", _import_pad, _emit_pad, _cost_pad),
    _Entry("stablehlo.sort", "indexing", "all", "Sort",
           "several operands, stable or not; the comparator becomes a register program; "
           "lexicographic comparators (jnp.sort/argsort) compare keys natively",
           _import_sort, _emit_sort, _cost_sort),
    _Entry("chip.top_k", "indexing", "numeric", "TopK",
           "from chlo.top_k / custom_call @mhlo.topk (lax.top_k); largest first by total order, "
           "ties by lower index", None, _emit_top_k, _cost_top_k),
    _Entry("chlo.top_k", "rewritten", "numeric", "TopK", "rewritten to chip.top_k",
           _import_chlo_top_k),
    _Entry("chip.variadic_reduce", "indexing", "all", "VariadicReduce",
           "stablehlo.reduce with several operands (argmax/argmin) or a body other than one "
           "binary op: the body as a register program", None, _emit_variadic_reduce,
           _cost_variadic_reduce),
    _Entry("stablehlo.reduce_window", "indexing", "all", "ReduceWindow",
           "cumulative windows (jnp.cumsum/cumprod/cummax/cummin, lax.cumlogsumexp) run as "
           "scans; general windows, strides, padding and dilations", _import_reduce_window,
           _emit_reduce_window, _cost_reduce_window),
]


def register_ops(register: Callable[[Any], Any], spec_cls: type, all_types: frozenset[str],
                 numeric: frozenset[str]) -> None:
    """Registers this module's ops (called by op_registry)."""
    for e in ENTRIES:
        types = all_types if e.types == "all" else numeric
        register(spec_cls(e.name, e.kind, types, kernel=e.kernel, notes=e.notes, foldable=False,
                          fusible=False, importer=e.importer, emit=e.emit, cost=e.cost,
                          in_place=e.in_place))
    register(spec_cls("stablehlo.reverse", "movement", all_types, kernel="view",
                      notes="a negative-stride view; standalone: an Elementwise copy",
                      importer=_import_reverse))
