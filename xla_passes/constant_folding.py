"""Constant folding with the chip's own kernels, cost-aware.

- Splat constants with more than one element become a 0-d constant + broadcast_in_dim (so a big
  splat costs a CONST instruction, not CONSTANT bytes).
- An op whose operands are all constants is folded when all operands are splats (the result
  is then a splat, kept as a 0-d constant + broadcast) or when its result is small (at most
  options.fold_limit_elements elements). Elementwise, movement and concatenate ops fold.
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

The pass decides what to fold over the whole graph first, recording each folded value as an
expression over the constants (`_Sym`); then one call of the context's evaluator
(PassContext.evaluator: the driver's runs the chip's kernels through the plugin) computes every
folded value still in use, so the folded constants are bit-identical to what the chip computes.
Without an evaluator only splat constants are canonicalized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from jax_chip.compiler.analysis.fusibility import is_fusible
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Output, Parameter, TensorType, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope
from jax_chip.compiler.lowering.ew_codegen import NotFusible, generate_body

FOLD_KINDS = ("elementwise", "movement", "concatenate")


@dataclass(eq=False)
class _Sym:
    """A constant value yet to be computed: an original constant ("param": its array, "const":
    a splat's 0-d scalar), op `node.op` (attributes and location of `node`) applied to
    `operands` with result type `type` ("op"), a 0-d value broadcast to `type` ("broadcast") or
    a one-element value reshaped to 0-d ("reshape")."""
    kind: str
    type: TensorType
    node: Node | None = None
    operands: list["_Sym"] = field(default_factory=list)
    value: np.ndarray | None = None


# (symbolic value, splat): a splat is its 0-d scalar, others the full array
Known = tuple[_Sym, bool]


def _foldable(node: Node) -> bool:
    spec = op_registry.lookup(node.op)
    return (spec is not None and spec.foldable and spec.kind in FOLD_KINDS
            and len(node.results) == 1 and bool(node.operands))


def _single_op_fusible(op: str, operand_types: list[TensorType], t: TensorType,
                       attrs: dict, loc: str) -> bool:
    """Whether op (on parameters of `operand_types`) is one Elementwise kernel."""
    body = Graph("fold")
    params = []
    for ot in operand_types:
        pv = Value(ot)
        body.params.append(Parameter(pv))
        params.append(pv)
    clone = body.make_node(op, params, [t], dict(attrs), loc)
    body.nodes = [clone]
    body.outputs = [Output(clone.result)]
    try:
        generate_body(body, t.shape)
    except NotFusible:
        return False
    return True


class _Folder:
    def __init__(self, graph: Graph, ctx: PassContext):
        self.graph = graph
        self.limit = ctx.options.fold_limit_elements
        self.big_limit = max(self.limit, ctx.options.fold_materialized_limit_elements)
        self.materialized = _materialized(graph, self.big_limit)
        self.folded: dict[Value, Known] = {}          # results of folding
        self.originals: dict[Value, Known] = {}       # original constants
        self.pending: dict[Node, _Sym] = {}           # placeholder constant -> its value
        self.fusible: dict[tuple, bool] = {}

    # ---- what is known ---------------------------------------------------------------------

    def _op(self, node: Node, operands: list[_Sym], t: TensorType) -> _Sym:
        return _Sym("op", t, node, operands)

    def _full(self, k: Known, t: TensorType) -> _Sym:
        sym, splat = k
        return _Sym("broadcast", t, None, [sym]) if splat and t.rank > 0 else sym

    def const_value(self, v: Value, lazy: bool) -> Known | None:
        """What `v` is if it is a constant (or the broadcast of a splat constant); with `lazy`
        also an iota (at most big_limit elements) or a movement op (broadcast, reshape, slice,
        ...) of any such value."""
        known = self.folded.get(v)
        if known is not None:
            return known
        p = v.producer
        if p is None:
            return None
        if p.op == "stablehlo.constant":
            if p.attrs.get("value") is None:
                return None
            known = self.originals.get(v)
            if known is None:
                value = np.asarray(p.attrs["value"])
                if p.attrs.get("splat") or p.result.type.num_elements == 1:
                    scalar = value.reshape(-1)[:1].reshape(())
                    known = (_Sym("const", TensorType(v.type.dtype, ()), value=scalar), True)
                else:
                    known = (_Sym("param", v.type, value=value), False)
                self.originals[v] = known
            return known
        if lazy and p.op == "stablehlo.iota" and v.type.num_elements <= self.big_limit:
            return self._op(p, [], v.type), False
        if p.op in op_registry.MOVEMENT_OPS and (lazy or p.op == "stablehlo.broadcast_in_dim"):
            inner = self.const_value(p.operands[0], lazy)
            if inner is None:
                return None
            if inner[1] and p.op == "stablehlo.broadcast_in_dim":
                return inner
            if lazy:
                return self._op(p, [self._full(inner, p.operands[0].type)], v.type), False
        return None

    def _is_fusible(self, node: Node, operand_types: list[TensorType], t: TensorType) -> bool:
        key = (node.op, tuple(operand_types), t, repr(sorted(node.attrs.items())))
        ok = self.fusible.get(key)
        if ok is None:
            ok = _single_op_fusible(node.op, operand_types, t, node.attrs, node.loc)
            self.fusible[key] = ok
        return ok

    # ---- folding ---------------------------------------------------------------------------

    def _placeholder(self, sym: _Sym, t: TensorType, loc: str, splat: bool) -> Node:
        c = self.graph.make_node("stablehlo.constant", [], [t], {"value": None, "splat": False},
                                 loc)
        self.pending[c] = sym
        if not splat and t.num_elements == 1:   # a one-element constant reads as a splat
            sym, splat = _Sym("reshape", TensorType(t.dtype, ()), None, [sym]), True
        self.folded[c.result] = (sym, splat)
        return c

    def _fold_splats(self, node: Node, kind: str, known: list[Known]) -> list[Node] | None:
        """All operands splats: the result is a splat, computed on 0-d values."""
        t = node.result.type
        if node.op == "stablehlo.broadcast_in_dim" and node.operands[0].type.rank == 0:
            return None     # already the canonical splat form
        if kind == "movement":
            sym = known[0][0]
        else:
            scalar_t = TensorType(t.dtype, ())
            operand_types = [TensorType(o.type.dtype, ()) for o in node.operands]
            if not self._is_fusible(node, operand_types, scalar_t):
                return None
            sym = self._op(node, [k[0] for k in known], scalar_t)
        if t.num_elements <= 1:
            return [self._placeholder(sym, t, node.loc, True)]
        c = self._placeholder(sym, TensorType(t.dtype, ()), node.loc, True)
        b = self.graph.make_node("stablehlo.broadcast_in_dim", [c.result], [t],
                                 {"broadcast_dimensions": ()}, node.loc)
        self.folded[b.result] = (sym, True)
        return [c, b]

    def try_fold(self, node: Node) -> list[Node] | None:
        if not _foldable(node):
            return None
        kind = op_registry.lookup(node.op).kind
        t = node.result.type
        # a movement op is stored big only when it moves a stored constant (a slice of a folded
        # table), never as a bare broadcast or a view of an iota
        producer = node.operands[0].producer
        big = (node.result in self.materialized and t.num_elements <= self.big_limit
               and (kind != "movement" or (node.op != "stablehlo.broadcast_in_dim"
                                           and producer is not None
                                           and producer.op == "stablehlo.constant")))
        known = [self.const_value(o, big) for o in node.operands]
        if any(k is None for k in known):
            return None
        if all(k[1] for k in known) and kind in ("elementwise", "movement"):
            return self._fold_splats(node, kind, known)   # type: ignore[arg-type]
        if t.num_elements > self.limit and not big:
            return None
        if kind == "elementwise" and not self._is_fusible(
                node, [o.type for o in node.operands], t):
            return None
        operands = [self._full(k, o.type) for o, k in zip(node.operands, known)]  # type: ignore[arg-type]
        return [self._placeholder(self._op(node, operands, t), t, node.loc, False)]

    # ---- evaluation ------------------------------------------------------------------------

    def evaluate(self, ctx: PassContext, live: list[Node]) -> None:
        """Computes the live placeholders' values in one evaluator call."""
        g = Graph("constant_folding")
        args: list[np.ndarray] = []
        built: dict[_Sym, Value] = {}

        def build(sym: _Sym) -> Value:
            v = built.get(sym)
            if v is not None:
                return v
            if sym.kind == "param":
                v = Value(sym.type)
                g.params.append(Parameter(v))
                args.append(np.asarray(sym.value))
                built[sym] = v
                return v
            if sym.kind == "const":
                n = g.make_node("stablehlo.constant", [], [sym.type],
                                {"value": np.asarray(sym.value), "splat": False})
            elif sym.kind == "broadcast":
                n = g.make_node("stablehlo.broadcast_in_dim", [build(sym.operands[0])], [sym.type],
                                {"broadcast_dimensions": ()})
            elif sym.kind == "reshape":
                n = g.make_node("stablehlo.reshape", [build(sym.operands[0])], [sym.type], {})
            else:
                assert sym.node is not None
                n = g.make_node(sym.node.op, [build(o) for o in sym.operands], [sym.type],
                                dict(sym.node.attrs), sym.node.loc)
            g.nodes.append(n)
            built[sym] = n.result
            return n.result

        outputs: dict[_Sym, int] = {}
        for c in live:
            sym = self.pending[c]
            if sym.kind not in ("param", "const") and sym not in outputs:
                outputs[sym] = len(g.outputs)
                g.outputs.append(Output(build(sym)))
        values = ctx.evaluator(g, args) if outputs else []    # type: ignore[misc]
        for c in live:
            sym = self.pending[c]
            value = sym.value if sym.kind in ("param", "const") else values[outputs[sym]]
            c.attrs["value"] = _with_shape(np.asarray(value), c.result.type.shape)


def _with_shape(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`value` as a C-contiguous array of `shape`: its elements reshaped, or a splat's one element
    broadcast (also to a zero-size shape, which no reshape of one element reaches)."""
    if value.size == 1 and math.prod(shape) != 1:
        return np.array(np.broadcast_to(value.reshape(()), shape), order="C")
    return np.array(value.reshape(shape), order="C")


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


def _scalar_and_broadcast(graph: Graph, scalar: np.ndarray, t: TensorType, loc: str) -> list[Node]:
    c = graph.make_node("stablehlo.constant", [], [TensorType(t.dtype, ())],
                        {"value": np.asarray(scalar).reshape(()), "splat": False}, loc)
    b = graph.make_node("stablehlo.broadcast_in_dim", [c.result], [t],
                        {"broadcast_dimensions": ()}, loc)
    return [c, b]


def run(graph: Graph, ctx: PassContext) -> bool:
    folder = _Folder(graph, ctx) if ctx.evaluator is not None else None
    repl: dict[Value, Value] = {}
    out: list[Node] = []
    changed = False
    for node in graph.nodes:
        node.operands = [repl.get(o, o) for o in node.operands]
        if node.op == "stablehlo.constant":
            t = node.result.type
            if node.attrs.get("splat") and t.num_elements > 1:
                new = _scalar_and_broadcast(graph, node.attrs["value"], t, node.loc)
                out.extend(new)
                repl[node.result] = new[-1].result
                changed = True
                continue
            out.append(node)
            continue
        folded = folder.try_fold(node) if folder is not None else None
        if folded is None:
            out.append(node)
            continue
        out.extend(folded)
        repl[node.result] = folded[-1].result
        changed = True
    graph.nodes = out
    for o in graph.outputs:
        o.value = repl.get(o.value, o.value)
    graph.remove_dead_nodes()
    if folder is not None and folder.pending:
        alive = set(graph.nodes)
        folder.evaluate(ctx, [c for c in folder.pending if c in alive])
    return changed


PASS = Pass("constant_folding", Scope.FUNCTION, run)
