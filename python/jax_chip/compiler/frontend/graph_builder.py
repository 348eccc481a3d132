"""Import: StableHLO func.main (jaxlib.mlir) -> the compiler's graph IR (graph.py).

Reads attributes through the MLIR Python API (DenseElementsAttr, DenseI64ArrayAttr, stablehlo's
attribute classes); constants become numpy arrays (bf16 data is read exactly through StableHLO's
interpreter, since jaxlib cannot expose bf16 buffers). Ops outside the registry raise
UnsupportedError naming the op, its types and its JAX source location.
"""

from __future__ import annotations

from typing import Any, Callable

from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo

from jax_chip.compiler.frontend import attributes, region_import
from jax_chip.compiler.frontend.layout_modes import check_layout_modes
from jax_chip.compiler.frontend.mlir_types import (
    BUFFER_DTYPES,
    i64s,
    int_attr,
    mlir_element_type_name,
    read_constant,
    tensor_type,
)
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.ir.custom_calls import handles
from jax_chip.compiler.ir.errors import CompileError, UnsupportedError, at
from jax_chip.compiler.ir.graph import Graph, Output, TensorType, Value
from jax_chip.compiler.ir.locations import format_location

__all__ = ["build_graph", "read_constant", "tensor_type"]

REDUCE_BODY_OPS = {
    "stablehlo.add": "SUM", "stablehlo.multiply": "PRODUCT", "stablehlo.maximum": "MAX",
    "stablehlo.minimum": "MIN", "stablehlo.and": "AND", "stablehlo.or": "OR",
    "stablehlo.xor": "XOR",
}
# On pred, add is logical or and multiply logical and.
PRED_REDUCE = {"SUM": "OR", "PRODUCT": "AND", "MAX": "OR", "MIN": "AND"}

MAX_REPORTED_UNSUPPORTED = 5


def _str_attr(attr: ir.Attribute) -> str:
    if ir.StringAttr.isinstance(attr):
        return ir.StringAttr(attr).value
    return str(attr)


# ---- ops -------------------------------------------------------------------------------------

class _Importer:
    def __init__(self, graph: Graph, funcs: dict[str, ir.Operation]):
        self.graph = graph
        self.funcs = funcs
        self.call_stack: list[str] = []
        self.values: dict[ir.Value, Value] = {}
        self.unsupported: list[str] = []
        # enclosing scopes while a control-flow region is imported (region_import.py)
        self.scopes: list[Any] = []

    def value(self, v: ir.Value) -> Value:
        found = self.values.get(v)
        if found is not None:
            return found
        if not self.scopes:
            raise KeyError(v)
        return region_import.capture(self, v)

    def import_op(self, op: ir.Operation) -> None:
        name = op.name
        loc = format_location(op.location)
        if name == "func.return":
            return
        if name == "func.call":
            self.import_call(op, loc)
            return
        if name in ("stablehlo.while", "stablehlo.case", "stablehlo.if"):
            region_import.import_region_op(self, op, loc)
            return
        if name == "stablehlo.custom_call":
            target = _str_attr(op.attributes["call_target_name"])
            if target in attributes.CHLO_CUSTOM_CALLS:
                name = target   # a CHLO op the StableHLO serializer carried as a custom call
        spec = op_registry.lookup(name)
        if spec is None:
            self._unsupported(op, loc)
            return
        handler = _HANDLERS.get(name) or attributes.IMPORTERS.get(name) or _import_generic
        result_types = [tensor_type(r.type, f"result of {name}", loc) for r in op.results]
        operands = [self.value(o) for o in op.operands]
        attrs = handler(self, op, loc)
        if attrs is None:   # handler recorded an unsupported feature
            return
        node = self.graph.add_node(name, operands, result_types, attrs, loc)
        for mv, v in zip(op.results, node.results):
            self.values[mv] = v

    def import_call(self, op: ir.Operation, loc: str) -> None:
        """Inlines a func.call (jaxlib's MLIR registry has no func inliner interface, so the
        frontend's inline pass leaves calls in place)."""
        callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
        fop = self.funcs.get(callee)
        if fop is None:
            raise CompileError(f"func.call to unknown function @{callee}{at(loc)}")
        if callee in self.call_stack:
            raise UnsupportedError(f"recursive call to @{callee} is not supported{at(loc)}")
        block = fop.regions[0].blocks[0]
        for a, o in zip(block.arguments, op.operands):
            self.values[a] = self.value(o)
        self.call_stack.append(callee)
        try:
            for inner in block.operations:
                inner = inner.operation
                if inner.name == "func.return":
                    results = [self.value(v) for v in inner.operands]
                    for r, v in zip(op.results, results):
                        self.values[r] = v
                else:
                    self.import_op(inner)
        finally:
            self.call_stack.pop()

    def _unsupported(self, op: ir.Operation, loc: str, what: str = "") -> None:
        ins = ", ".join(str(o.type) for o in op.operands)
        outs = ", ".join(str(r.type) for r in op.results)
        what = what or f"{op.name} is not supported on the chip"
        self.unsupported.append(f"{what}{at(loc)} [({ins}) -> ({outs})]")
        # keep importing: later ops may depend on this one, so define placeholders
        for r in op.results:
            try:
                t = tensor_type(r.type, "result", loc)
            except CompileError:
                t = TensorType("invalid", ())
            self.values[r] = Value(t)


def _import_generic(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {}


def _import_constant(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    t = tensor_type(op.results[0].type, "constant", loc)
    if t.dtype not in BUFFER_DTYPES and t.dtype != "bf16":
        # Not readable (and never accepted: check_types reports the type). Do not even touch
        # the attribute: jaxlib aborts the process when it downcasts e.g. a complex dense attr.
        return {"value": None, "splat": False}
    value, splat = read_constant(op.attributes["value"], t, loc)
    return {"value": value, "splat": splat}


def _import_compare(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    attrs = {"comparison_direction":
             stablehlo.ComparisonDirectionAttr(op.attributes["comparison_direction"]).value}
    if "compare_type" in op.attributes:
        attrs["compare_type"] = stablehlo.ComparisonTypeAttr(op.attributes["compare_type"]).value
    return attrs


def _import_iota(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"iota_dimension": int_attr(op.attributes["iota_dimension"])}


def _import_broadcast(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"broadcast_dimensions": i64s(op.attributes["broadcast_dimensions"])}


def _import_transpose(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"permutation": i64s(op.attributes["permutation"])}


def _import_slice(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"start_indices": i64s(op.attributes["start_indices"]),
            "limit_indices": i64s(op.attributes["limit_indices"]),
            "strides": i64s(op.attributes["strides"])}


def _import_concatenate(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"dimension": int_attr(op.attributes["dimension"])}


def _import_reduce_precision(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"exponent_bits": int_attr(op.attributes["exponent_bits"]),
            "mantissa_bits": int_attr(op.attributes["mantissa_bits"])}


def _import_dot_general(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    d = stablehlo.DotDimensionNumbers(op.attributes["dot_dimension_numbers"])
    return {"lhs_batch": tuple(d.lhs_batching_dimensions),
            "rhs_batch": tuple(d.rhs_batching_dimensions),
            "lhs_contracting": tuple(d.lhs_contracting_dimensions),
            "rhs_contracting": tuple(d.rhs_contracting_dimensions)}


def _import_reduce(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any] | None:
    n_in = len(op.operands) // 2
    body = op.regions[0].blocks[0]
    body_ops = list(body.operations)
    args = list(body.arguments)
    ok = (n_in == 1 and len(body_ops) == 2 and body_ops[1].name == "stablehlo.return"
          and body_ops[0].name in REDUCE_BODY_OPS
          and set(body_ops[0].operands) == set(args) and len(args) == 2
          and list(body_ops[1].operands) == [body_ops[0].results[0]])
    if not ok:
        # several operands (argmax/argmin) or another body: a VariadicReduce kernel evaluating
        # the body as a register program (xla_passes/indexing_lowering.py)
        return attributes.import_general_reduce(imp, op, loc)
    reduce_op = REDUCE_BODY_OPS[body_ops[0].name]
    dtype = mlir_element_type_name(ir.RankedTensorType(op.results[0].type).element_type)
    if dtype == "pred":
        reduce_op = PRED_REDUCE.get(reduce_op, reduce_op)
    return {"dimensions": i64s(op.attributes["dimensions"]), "reduce_op": reduce_op}


def _import_custom_call(imp: _Importer, op: ir.Operation, loc: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {"call_target_name": _str_attr(op.attributes["call_target_name"])}
    if "has_side_effect" in op.attributes:
        attrs["has_side_effect"] = bool(ir.BoolAttr(op.attributes["has_side_effect"]).value)
    if "backend_config" in op.attributes:
        attrs["backend_config"] = _str_attr(op.attributes["backend_config"])
    if "api_version" in op.attributes:
        attrs["api_version"] = int_attr(op.attributes["api_version"])
    if handles(attrs["call_target_name"]):
        attrs.update(attributes.import_attributes(op, loc))
    return attrs


_HANDLERS: dict[str, Callable[[_Importer, ir.Operation, str], dict[str, Any] | None]] = {
    "stablehlo.constant": _import_constant,
    "stablehlo.compare": _import_compare,
    "stablehlo.iota": _import_iota,
    "stablehlo.broadcast_in_dim": _import_broadcast,
    "stablehlo.transpose": _import_transpose,
    "stablehlo.slice": _import_slice,
    "stablehlo.concatenate": _import_concatenate,
    "stablehlo.reduce_precision": _import_reduce_precision,
    "stablehlo.dot_general": _import_dot_general,
    "stablehlo.reduce": _import_reduce,
    "stablehlo.custom_call": _import_custom_call,
}


# ---- module ----------------------------------------------------------------------------------

def _functions(module: ir.Module) -> dict[str, ir.Operation]:
    return {ir.StringAttr(op.operation.attributes["sym_name"]).value: op.operation
            for op in module.body.operations if op.operation.name == "func.func"}


def _find_main(funcs: dict[str, ir.Operation]) -> ir.Operation:
    if "main" in funcs:
        return funcs["main"]
    raise CompileError(f"the program has no func.func @main (functions: {sorted(funcs) or 'none'})")


def _dict_attrs(fop: ir.Operation, key: str, n: int) -> list[ir.DictAttr | None]:
    if key not in fop.attributes:
        return [None] * n
    arr = ir.ArrayAttr(fop.attributes[key])
    return [ir.DictAttr(a) if ir.DictAttr.isinstance(a) else None for a in arr]


def _name_of_loc(loc: ir.Location) -> str:
    try:
        if loc.is_a_name():
            return loc.name_str
    except Exception:
        pass
    return ""


def build_graph(module: ir.Module) -> Graph:
    """Builds the graph of func.main. Must be called inside the module's context."""
    name = "main"
    if "sym_name" in module.operation.attributes:
        name = ir.StringAttr(module.operation.attributes["sym_name"]).value
    funcs = _functions(module)
    fop = _find_main(funcs)
    graph = Graph(name)
    imp = _Importer(graph, funcs)
    block = fop.regions[0].blocks[0]
    args = list(block.arguments)
    arg_attrs = _dict_attrs(fop, "arg_attrs", len(args))
    check_layout_modes("parameter", arg_attrs, [ir.RankedTensorType(a.type).rank for a in args])
    for i, a in enumerate(args):
        t = tensor_type(a.type, f"parameter {i}")
        v = graph.add_param(t, _name_of_loc(a.location) or f"arg{i}")
        imp.values[a] = v
    for op in block.operations:
        imp.import_op(op.operation)
    if imp.unsupported:
        more = len(imp.unsupported) - MAX_REPORTED_UNSUPPORTED
        msg = "; ".join(imp.unsupported[:MAX_REPORTED_UNSUPPORTED])
        if more > 0:
            msg += f"; and {more} more unsupported ops"
        raise UnsupportedError(msg)
    ret = list(block.operations)[-1].operation
    if ret.name != "func.return":
        raise CompileError(f"func.main does not end with func.return (found {ret.name})")
    res_attrs = _dict_attrs(fop, "res_attrs", len(ret.operands))
    check_layout_modes("result", res_attrs, [ir.RankedTensorType(r.type).rank for r in ret.operands])
    for j, r in enumerate(ret.operands):
        d = res_attrs[j] if j < len(res_attrs) else None
        oname = ""
        if d is not None and "jax.result_info" in d:
            oname = _str_attr(d["jax.result_info"])
        graph.outputs.append(Output(imp.value(r), name=oname or f"result{j}"))
    _import_aliasing(graph, arg_attrs)
    return graph


def _import_aliasing(graph: Graph, arg_attrs: list[ir.DictAttr | None]) -> None:
    for i, d in enumerate(arg_attrs):
        if d is None or i >= len(graph.params):
            continue
        p = graph.params[i]
        if "tf.aliasing_output" in d:
            j = int_attr(d["tf.aliasing_output"])
            if not 0 <= j < len(graph.outputs):
                raise CompileError(f"parameter {i} is aliased to output {j}, but the program has "
                                   f"{len(graph.outputs)} outputs")
            o = graph.outputs[j]
            if o.value.type != p.value.type:
                raise CompileError(f"parameter {i} ({p.value.type}) is aliased to output {j} of a "
                                   f"different type ({o.value.type})")
            if o.aliased_parameter >= 0:
                raise CompileError(f"output {j} is aliased to both parameters "
                                   f"{o.aliased_parameter} and {i}")
            p.aliased_output = j
            o.aliased_parameter = i
        elif "jax.buffer_donor" in d and ir.BoolAttr(d["jax.buffer_donor"]).value:
            p.donor = True
    for i, p in enumerate(graph.params):
        if not p.donor or p.aliased_output >= 0:
            continue
        for j, o in enumerate(graph.outputs):
            if o.aliased_parameter < 0 and o.value.type == p.value.type:
                p.aliased_output = j
                o.aliased_parameter = i
                break
