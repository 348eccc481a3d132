"""Import of control flow: stablehlo.while / case / if -> graph nodes with region graphs.

A region graph (Node.regions) is a function: its params are the region's block arguments
followed by the values it reads from outside (captures: StableHLO regions may use enclosing
values directly, and MLIR's canonicalizer hoists constants out of them), its outputs are the
operands of the region's stablehlo.return. Making captures explicit operands of the control-flow
node means every pass sees every use of a value, and the memory planner keeps captured values
alive for the whole loop.

- stablehlo.while -> "stablehlo.while": operands = initial values + captures, regions =
  [cond, body], attrs {"num_carried": n}; cond and body both take (carried..., captures...);
  cond returns one 0-d pred, body the n next carried values.
- stablehlo.case -> "stablehlo.case": operands = [index] + captures, regions = the branches,
  each taking (captures...).
- stablehlo.if -> a two-branch case on convert(not pred) (branch 0 is the true branch).
Captured constants are cloned into the region instead of captured (free, and they fold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jaxlib.mlir import ir

from jax_chip.compiler.frontend.mlir_types import tensor_type
from jax_chip.compiler.ir.errors import CompileError, at
from jax_chip.compiler.ir.graph import Graph, Output, Parameter, TensorType, Value

if TYPE_CHECKING:
    from jax_chip.compiler.frontend.graph_builder import _Importer


@dataclass(eq=False)
class _Scope:
    """One region being imported: its graph and how it reaches its parent's values."""
    graph: Graph
    parent_graph: Graph
    parent_values: dict[ir.Value, Value]
    captures: dict[Value, Value] = field(default_factory=dict)   # parent value -> region param
    order: list[Value] = field(default_factory=list)             # captured parent values
    clones: dict[Value, Value] = field(default_factory=dict)     # parent constant -> clone


def _capture_into(scope: _Scope, outer: Value) -> Value:
    if outer in scope.captures:
        return scope.captures[outer]
    if outer in scope.clones:
        return scope.clones[outer]
    p = outer.producer
    if p is not None and p.op == "stablehlo.constant":
        clone = scope.graph.add_node("stablehlo.constant", [], [outer.type], dict(p.attrs), p.loc)
        scope.clones[outer] = clone.result
        return clone.result
    inner = Value(outer.type, None, -1, f"{outer.name}.cap")
    scope.captures[outer] = inner
    scope.order.append(outer)
    return inner


def capture(imp: "_Importer", v: ir.Value) -> Value:
    """The value of `v` in the region being imported, capturing it from the enclosing scopes
    (through every region in between) when it is defined outside."""
    scopes: list[_Scope] = imp.scopes
    levels = [s.parent_values for s in scopes] + [imp.values]
    found = -1
    for level in range(len(levels) - 1, -1, -1):
        if v in levels[level]:
            found = level
            break
    if found < 0:
        raise CompileError(f"value {v.get_name() if hasattr(v, 'get_name') else v} is used "
                           f"before it is defined")
    val = levels[found][v]
    for k in range(found, len(scopes)):
        val = _capture_into(scopes[k], val)
        levels[k + 1][v] = val
    return val


def _enter(imp: "_Importer", name: str) -> _Scope:
    scope = _Scope(Graph(name), imp.graph, imp.values)
    imp.scopes.append(scope)
    imp.graph = scope.graph
    imp.values = {}
    return scope


def _exit(imp: "_Importer", scope: _Scope) -> None:
    assert imp.scopes and imp.scopes[-1] is scope
    imp.scopes.pop()
    imp.graph = scope.parent_graph
    imp.values = scope.parent_values


def _import_region(imp: "_Importer", region: ir.Region, name: str, loc: str,
                   arg_types: list[TensorType] | None = None) -> _Scope:
    """Imports `region` (one block) into a new scope. Block arguments become the first params."""
    blocks = list(region.blocks)
    if len(blocks) != 1:
        raise CompileError(f"{name} region has {len(blocks)} blocks; expected one{at(loc)}")
    block = blocks[0]
    scope = _enter(imp, name)
    try:
        for i, a in enumerate(block.arguments):
            t = tensor_type(a.type, f"block argument {i} of the {name} region", loc)
            if arg_types is not None and i < len(arg_types) and arg_types[i] != t:
                raise CompileError(f"{name} region argument {i} has type {t.mlir_str()}, the "
                                   f"operand has {arg_types[i].mlir_str()}{at(loc)}")
            pv = Value(t, None, i, f"%{name}.arg{i}")
            scope.graph.params.append(Parameter(pv, name=f"arg{i}"))
            imp.values[a] = pv
        terminator = None
        for inner in block.operations:
            inner = inner.operation
            if inner.name == "stablehlo.return":
                terminator = inner
            else:
                imp.import_op(inner)
        if terminator is None:
            raise CompileError(f"{name} region does not end with stablehlo.return{at(loc)}")
        for r in terminator.operands:
            scope.graph.outputs.append(Output(imp.value(r)))
    finally:
        _exit(imp, scope)
    return scope


def _finish_params(scopes: list[_Scope]) -> list[Value]:
    """Gives every region one param per captured value (in one shared order, after the block
    arguments); returns the captured parent values in that order."""
    order: list[Value] = []
    seen: set[Value] = set()
    for s in scopes:
        for v in s.order:
            if v not in seen:
                seen.add(v)
                order.append(v)
    for s in scopes:
        g = s.graph
        for outer in order:
            pv = s.captures.get(outer)
            if pv is None:
                pv = Value(outer.type, None, -1, f"{outer.name}.cap")
            pv.index = len(g.params)
            g.params.append(Parameter(pv, name=f"capture{len(g.params)}"))
    return order


def _result_types(op: ir.Operation, loc: str) -> list[TensorType]:
    return [tensor_type(r.type, f"result of {op.name}", loc) for r in op.results]


def _check_outputs(scope: _Scope, want: list[TensorType], what: str, loc: str) -> None:
    got = [o.value.type for o in scope.graph.outputs]
    if got != want and not any(t.dtype == "invalid" for t in got):
        raise CompileError(f"{what} returns ({', '.join(t.mlir_str() for t in got)}), expected "
                           f"({', '.join(t.mlir_str() for t in want)}){at(loc)}")


def import_region_op(imp: "_Importer", op: ir.Operation, loc: str) -> None:
    results = _result_types(op, loc)
    if op.name == "stablehlo.while":
        inits = [imp.value(o) for o in op.operands]
        types = [v.type for v in inits]
        cond = _import_region(imp, op.regions[0], "while.cond", loc, types)
        body = _import_region(imp, op.regions[1], "while.body", loc, types)
        _check_outputs(cond, [TensorType("pred", ())], "the while condition", loc)
        _check_outputs(body, types, "the while body", loc)
        captured = _finish_params([cond, body])
        node = imp.graph.add_node("stablehlo.while", inits + captured, results,
                                  {"num_carried": len(inits)}, loc)
        node.regions = [cond.graph, body.graph]
    else:
        if op.name == "stablehlo.if":
            pred = imp.value(op.operands[0])
            not_pred = imp.graph.add_node("stablehlo.not", [pred], [pred.type], {}, loc)
            index = imp.graph.add_node("stablehlo.convert", [not_pred.result],
                                       [TensorType("s32", ())], {}, loc).result
        else:
            index = imp.value(op.operands[0])
        branches = [_import_region(imp, r, f"case.branch{i}", loc)
                    for i, r in enumerate(op.regions)]
        for i, b in enumerate(branches):
            _check_outputs(b, results, f"case branch {i}", loc)
        captured = _finish_params(branches)
        node = imp.graph.add_node("stablehlo.case", [index] + captured, results, {}, loc)
        node.regions = [b.graph for b in branches]
    for mv, v in zip(op.results, node.results):
        imp.values[mv] = v
