"""Constant folding with the chip's numerics, cost-aware.

- Splat constants with more than one element become a 0-d constant + broadcast_in_dim (so a big
  splat costs a CONST instruction, not CONSTANT bytes).
- An op whose operands are all constants is evaluated when all operands are splats (the result
  is then a splat, kept as a 0-d constant + broadcast) or when its result is small (at most
  options.fold_limit_elements elements): elementwise ops through the Elementwise reference
  evaluator (ew_semantics: the kernels' own functions, so the folded value is bit-identical to
  what the chip computes), movement ops and concatenates with numpy.
- Bigger results, up to options.fold_materialized_limit_elements, are folded only where the
  value is materialized anyway: it reaches a kernel that reads memory (gather, dot_general,
  concatenate, reduce, sort, custom call, control flow, a function output), through
  elementwise and movement ops on constants only (`_materialized`). There iota and
  broadcasts of constants count as constants too, so a table computed from iota (a RoPE
  cos/sin cache gathered by runtime positions) becomes one stored constant instead of kernels
  recomputing and writing it on every call. A constant expression read only by fusible
  elementwise consumers keeps the small limit: fused, it costs registers, not memory, and a
  big stored constant would only add reads (and executable size). Like XLA, a bare iota or
  broadcast is never turned into a big constant: its kernel is a plain write.
"""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.analysis.fusibility import is_fusible
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.pass_api import Pass, Scope
from jax_chip.compiler.lowering.ew_codegen import NotFusible, generate_body
from jax_chip.compiler.kernels.elementwise import ElementwiseOp, eval_elementwise
from jax_chip.compiler.ir.graph import Graph, Node, Output, Parameter, TensorType, Value

FOLD_KINDS = ("elementwise", "movement", "concatenate")
# (value, splat): a splat gives its 0-d scalar, others the full array (maybe a broadcast view)
Known = tuple[np.ndarray, bool]


def _foldable(node: Node) -> bool:
    spec = op_registry.lookup(node.op)
    return (spec is not None and spec.foldable and spec.kind in FOLD_KINDS
            and len(node.results) == 1 and bool(node.operands))


def _const_value(v: Value, lazy: bool, cap: int) -> Known | None:
    """The value of `v` if it is a constant or the broadcast of a splat constant; with `lazy`
    also an iota (at most `cap` elements) or a movement op (broadcast, reshape, slice, ...) of
    any such value."""
    p = v.producer
    if p is None:
        return None
    if p.op == "stablehlo.constant":
        if p.attrs.get("value") is None:
            return None
        if p.attrs.get("splat") or p.result.type.num_elements == 1:
            return np.asarray(p.attrs["value"]).reshape(-1)[:1].reshape(()), True
        return np.asarray(p.attrs["value"]), False
    if lazy and p.op == "stablehlo.iota" and v.type.num_elements <= cap:
        value = _eval_elementwise(p, {})
        return None if value is None else (value, False)
    if p.op in op_registry.MOVEMENT_OPS and (lazy or p.op == "stablehlo.broadcast_in_dim"):
        inner = _const_value(p.operands[0], lazy, cap)
        if inner is None:
            return None
        if inner[1] and p.op == "stablehlo.broadcast_in_dim":
            return inner
        if lazy:
            x = np.broadcast_to(inner[0], p.operands[0].type.shape)
            return _eval_movement(p, x), False
    return None


def _materialized(graph: Graph, cap: int) -> set[Value]:
    """Results of constant expressions (constants, iota, foldable ops on them, each at most `cap`
    elements) that the compiled program holds in memory anyway: returned, produced by a
    non-fusible kernel (concatenate), read by one, or feeding such a value through constant
    expressions. A constant expression whose readers are all fusible and not constant (x * c)
    is computed in its readers' registers instead."""
    expr: set[Node] = set()
    for node in graph.nodes:
        if len(node.results) != 1 or node.result.type.num_elements > cap:
            continue
        if node.op in ("stablehlo.constant", "stablehlo.iota") or (
                _foldable(node) and all(o.producer in expr for o in node.operands)):
            expr.add(node)
    users = graph.users()
    outputs = graph.output_values()
    need: set[Value] = set()
    for node in reversed(graph.nodes):
        if node not in expr:
            continue
        v = node.result
        if v in outputs or not is_fusible(node) or any(
                u.result in need if u in expr else not is_fusible(u) for u in users.get(v, [])):
            need.add(v)
    return need


def _constant(graph: Graph, value: np.ndarray, t: TensorType, loc: str) -> Node:
    value = np.asarray(value)
    splat = value.ndim == 0 and t.rank > 0
    return graph.make_node("stablehlo.constant", [], [t], {"value": value, "splat": splat}, loc)


def _scalar_and_broadcast(graph: Graph, scalar: np.ndarray, t: TensorType, loc: str) -> list[Node]:
    c = _constant(graph, np.asarray(scalar).reshape(()), TensorType(t.dtype, ()), loc)
    b = graph.make_node("stablehlo.broadcast_in_dim", [c.result], [t],
                        {"broadcast_dimensions": ()}, loc)
    return [c, b]


def _eval_elementwise(node: Node, values: dict[Value, np.ndarray]) -> np.ndarray | None:
    """Evaluates `node` on constant operands with the chip's Elementwise semantics."""
    shape = node.result.type.shape
    body = Graph("fold")
    params = []
    for o in node.operands:
        pv = Value(o.type)
        body.params.append(Parameter(pv))
        params.append(pv)
    clone = body.make_node(node.op, params, [node.result.type], dict(node.attrs), node.loc)
    body.nodes = [clone]
    body.outputs = [Output(clone.result)]
    try:
        prog = generate_body(body, shape)
    except NotFusible:
        return None
    op = ElementwiseOp(prog.dims, prog.views, prog.instrs, prog.results)
    (out,) = eval_elementwise(op, [values[o] for o in node.operands],
                              [o.type.dtype for o in node.operands])
    return out


def _eval_movement(node: Node, x: np.ndarray) -> np.ndarray:
    t = node.result.type
    if node.op == "stablehlo.reshape":
        return x.reshape(t.shape)
    if node.op == "stablehlo.transpose":
        return np.transpose(x, node.attrs["permutation"])
    if node.op == "stablehlo.slice":
        sl = tuple(slice(s, l, st) for s, l, st in zip(
            node.attrs["start_indices"], node.attrs["limit_indices"], node.attrs["strides"]))
        return x[sl]
    if node.op == "stablehlo.reverse":
        return np.flip(x, axis=tuple(node.attrs["dimensions"])) if x.ndim else x
    if node.op == "stablehlo.broadcast_in_dim":
        dims = node.attrs["broadcast_dimensions"]
        shape = [1] * t.rank
        for j, d in enumerate(dims):
            shape[d] = x.shape[j]
        return np.broadcast_to(x.reshape(shape), t.shape)
    raise AssertionError(node.op)


def _fold_splats(graph: Graph, node: Node, kind: str, known: list[Known]) -> list[Node] | None:
    """All operands splats: evaluate one element; the result is a splat."""
    t = node.result.type
    if node.op == "stablehlo.broadcast_in_dim" and node.operands[0].type.rank == 0:
        return None     # already the canonical splat form
    scalars = {o: k[0] for o, k in zip(node.operands, known)}
    if kind == "movement":
        value = scalars[node.operands[0]]
    else:
        tmp = graph.make_node(node.op, [Value(TensorType(o.type.dtype, ()))
                                        for o in node.operands],
                              [TensorType(t.dtype, ())], dict(node.attrs), node.loc)
        vals = {tv: scalars[o] for tv, o in zip(tmp.operands, node.operands)}
        value = _eval_elementwise(tmp, vals)
        if value is None:
            return None
    if t.num_elements <= 1:
        return [_constant(graph, np.asarray(value).reshape(t.shape), t, node.loc)]
    return _scalar_and_broadcast(graph, value, t, node.loc)


def _try_fold(graph: Graph, node: Node, limit: int, big_limit: int,
              materialized: set[Value]) -> list[Node] | None:
    if not _foldable(node):
        return None
    kind = op_registry.lookup(node.op).kind
    t = node.result.type
    # a movement op is stored big only when it moves a stored constant (a slice of a folded
    # table), never as a bare broadcast or a view of an iota
    big = (node.result in materialized and t.num_elements <= big_limit
           and (kind != "movement" or (node.op != "stablehlo.broadcast_in_dim"
                                       and node.operands[0].producer is not None
                                       and node.operands[0].producer.op == "stablehlo.constant")))
    known = [_const_value(o, big, big_limit) for o in node.operands]
    if any(k is None for k in known):
        return None
    if all(k[1] for k in known) and kind in ("elementwise", "movement"):
        return _fold_splats(graph, node, kind, known)
    if t.num_elements > limit and not big:
        return None
    values = {o: np.broadcast_to(k[0], o.type.shape) for o, k in zip(node.operands, known)}
    if kind == "movement":
        value = _eval_movement(node, values[node.operands[0]])
    elif kind == "concatenate":
        value = np.concatenate([values[o] for o in node.operands], axis=node.attrs["dimension"])
    else:
        value = _eval_elementwise(node, values)
        if value is None:
            return None
    return [_constant(graph, np.ascontiguousarray(value).reshape(t.shape), t, node.loc)]


def run(graph: Graph, ctx: PassContext) -> bool:
    limit = ctx.options.fold_limit_elements
    big_limit = max(limit, ctx.options.fold_materialized_limit_elements)
    materialized = _materialized(graph, big_limit)
    repl: dict[Value, Value] = {}
    out: list[Node] = []
    for node in graph.nodes:
        node.operands = [repl.get(o, o) for o in node.operands]
        if node.op == "stablehlo.constant":
            t = node.result.type
            if node.attrs.get("splat") and t.num_elements > 1:
                new = _scalar_and_broadcast(graph, node.attrs["value"], t, node.loc)
                out.extend(new)
                repl[node.result] = new[-1].result
                continue
            out.append(node)
            continue
        with np.errstate(all="ignore"):
            folded = _try_fold(graph, node, limit, big_limit, materialized)
        if folded is None:
            out.append(node)
            continue
        out.extend(folded)
        repl[node.result] = folded[-1].result
    graph.nodes = out
    for o in graph.outputs:
        o.value = repl.get(o.value, o.value)
    return graph.remove_dead_nodes() > 0 or bool(repl)


PASS = Pass("constant_folding", Scope.FUNCTION, run)
