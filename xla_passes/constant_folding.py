"""Constant folding with the chip's numerics.

- Splat constants with more than one element become a 0-d constant + broadcast_in_dim (so a big
  splat costs a CONST instruction, not CONSTANT bytes).
- An op whose operands are all constants is evaluated when its result is small (at most
  options.fold_limit_elements elements) or when all operands are splats (the result is then a
  splat, kept as a 0-d constant + broadcast): elementwise ops through the Elementwise reference
  evaluator (so the folded value is exactly what the chip computes), movement ops, iota-free
  concatenates with numpy.
"""

from __future__ import annotations

import numpy as np

from jax_chip.compiler import op_registry
from jax_chip.compiler.context import PassContext
from jax_chip.compiler.ew_codegen import NotFusible, generate_body
from jax_chip.compiler.executable import ElementwiseOp
from jax_chip.compiler.graph import Graph, Node, Output, Parameter, TensorType, Value
from jax_chip.compiler.reference_interpreter import eval_elementwise


def _const_value(v: Value) -> tuple[np.ndarray, bool] | None:
    """(value, splat) if `v` is a constant or the broadcast of a splat constant: splats give
    their 0-d scalar, others the full array."""
    p = v.producer
    if p is None:
        return None
    if p.op == "stablehlo.constant":
        if p.attrs.get("value") is None:
            return None
        if p.attrs.get("splat") or p.result.type.num_elements == 1:
            return np.asarray(p.attrs["value"]).reshape(-1)[:1].reshape(()), True
        return np.asarray(p.attrs["value"]), False
    if p.op == "stablehlo.broadcast_in_dim":
        inner = _const_value(p.operands[0])
        if inner is not None and inner[1]:
            return inner
    return None


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


def _try_fold(graph: Graph, node: Node, limit: int) -> list[Node] | None:
    spec = op_registry.lookup(node.op)
    if spec is None or not spec.foldable or len(node.results) != 1 or not node.operands:
        return None
    if spec.kind not in ("elementwise", "movement", "concatenate"):
        return None
    known = [_const_value(o) for o in node.operands]
    if any(k is None for k in known):
        return None
    t = node.result.type
    all_splat = all(k[1] for k in known)
    if all_splat and spec.kind in ("elementwise", "movement"):
        if node.op == "stablehlo.broadcast_in_dim" and node.operands[0].type.rank == 0:
            return None     # already the canonical splat form
        # evaluate on one element; the result is a splat
        scalars = {o: k[0] for o, k in zip(node.operands, known)}
        if spec.kind == "movement":
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
    if t.num_elements > limit:
        return None
    values = {o: np.broadcast_to(k[0], o.type.shape) for o, k in zip(node.operands, known)}
    if spec.kind == "movement":
        value = _eval_movement(node, values[node.operands[0]])
    elif spec.kind == "concatenate":
        value = np.concatenate([values[o] for o in node.operands], axis=node.attrs["dimension"])
    else:
        value = _eval_elementwise(node, values)
        if value is None:
            return None
    return [_constant(graph, np.ascontiguousarray(value).reshape(t.shape), t, node.loc)]


def run(graph: Graph, ctx: PassContext) -> None:
    limit = ctx.options.fold_limit_elements
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
            folded = _try_fold(graph, node, limit)
        if folded is None:
            out.append(node)
            continue
        out.extend(folded)
        repl[node.result] = folded[-1].result
    graph.nodes = out
    for o in graph.outputs:
        o.value = repl.get(o.value, o.value)
    graph.remove_dead_nodes()

