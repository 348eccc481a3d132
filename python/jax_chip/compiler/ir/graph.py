"""The compiler's graph IR.

A `Graph` is a function: parameters, nodes in topological order and outputs. A `Node` is one
operation (a StableHLO op such as "stablehlo.add", or a chip-level op such as "chip.fusion" and
"chip.copy") reading operand `Value`s and defining result `Value`s. Attributes are plain Python
values (ints, tuples, strings, numpy arrays). Nested graphs (`Node.body`) hold the body of fused
kernels and, later, the regions of control flow.

Passes (xla_passes/) rewrite graphs in place; the emitter turns the final graph into a chip
executable.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from jax_chip.compiler.ir import dtypes

_ids = itertools.count()


@dataclass(frozen=True)
class TensorType:
    dtype: str
    shape: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return dtypes.info(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return dtypes.packed_nbytes(self.dtype, self.num_elements)

    def with_dtype(self, dtype: str) -> "TensorType":
        return TensorType(dtype, self.shape)

    def with_shape(self, shape: Iterable[int]) -> "TensorType":
        return TensorType(self.dtype, tuple(int(d) for d in shape))

    def mlir_str(self) -> str:
        """MLIR spelling, e.g. tensor<4x8xf32>, for error messages."""
        names = {"pred": "i1", "s8": "i8", "s16": "i16", "s32": "i32", "s64": "i64",
                 "u8": "ui8", "u16": "ui16", "u32": "ui32", "u64": "ui64",
                 "c64": "complex<f32>", "c128": "complex<f64>"}
        et = names.get(self.dtype, dtypes.MLIR_NAMES.get(self.dtype, self.dtype))
        return "tensor<" + "".join(f"{d}x" for d in self.shape) + et + ">"

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"


def row_major_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return tuple(strides)


class Value:
    """One SSA value (tensor). Identity-hashed."""

    __slots__ = ("id", "type", "producer", "index", "name")

    def __init__(self, type: TensorType, producer: "Node | None" = None, index: int = 0,
                 name: str = ""):
        self.id = next(_ids)
        self.type = type
        self.producer = producer
        self.index = index
        self.name = name or f"%v{self.id}"

    def __repr__(self) -> str:
        return f"{self.name}:{self.type}"


@dataclass(eq=False)
class Node:
    op: str                                   # "stablehlo.add", "chip.fusion", ...
    operands: list[Value]
    results: list[Value]
    attrs: dict[str, Any] = field(default_factory=dict)
    loc: str = ""                             # JAX source location, "file.py:12 in f"
    body: "Graph | None" = None               # fused kernel body (chip.fusion)
    # control-flow regions (while cond/body, conditional branches, sort comparators, ...):
    # nested graphs whose params are the region's block arguments
    regions: list["Graph"] = field(default_factory=list)

    def subgraphs(self) -> list["Graph"]:
        return ([self.body] if self.body is not None else []) + list(self.regions)

    @property
    def result(self) -> Value:
        assert len(self.results) == 1, f"{self.op} has {len(self.results)} results"
        return self.results[0]

    @property
    def short_op(self) -> str:
        return self.op.split(".", 1)[-1]

    def describe(self) -> str:
        """For error messages: the op and its result types."""
        types = ", ".join(r.type.mlir_str() for r in self.results)
        return f"{self.op} -> {types}" if types else self.op

    def __repr__(self) -> str:
        return f"Node({self.op}, {self.results})"


@dataclass(eq=False)
class Parameter:
    value: Value
    aliased_output: int = -1       # output index this parameter's memory is donated to, or -1
    donor: bool = False            # jax.buffer_donor: may be aliased to any same-type output
    name: str = ""


@dataclass(eq=False)
class Output:
    value: Value
    aliased_parameter: int = -1    # parameter index whose memory this output reuses, or -1
    name: str = ""


class Graph:
    def __init__(self, name: str = "main"):
        self.name = name
        self.params: list[Parameter] = []
        self.nodes: list[Node] = []
        self.outputs: list[Output] = []
        # results of whole-graph passes (memory plan, ...), by name
        self.attrs: dict[str, Any] = {}

    # ---- construction ----------------------------------------------------------------------

    def add_param(self, type: TensorType, name: str = "") -> Value:
        v = Value(type, None, len(self.params), name or f"%p{len(self.params)}")
        self.params.append(Parameter(v, name=name))
        return v

    def make_node(self, op: str, operands: list[Value], result_types: list[TensorType],
                  attrs: dict[str, Any] | None = None, loc: str = "",
                  body: "Graph | None" = None) -> Node:
        """Creates a node (not inserted) whose results are fresh values."""
        node = Node(op, list(operands), [], dict(attrs or {}), loc, body)
        short = op.split(".", 1)[-1]
        node.results = [Value(t, node, i) for i, t in enumerate(result_types)]
        for r in node.results:
            r.name = f"%{short}.{r.id}"
        return node

    def add_node(self, op: str, operands: list[Value], result_types: list[TensorType],
                 attrs: dict[str, Any] | None = None, loc: str = "",
                 body: "Graph | None" = None) -> Node:
        node = self.make_node(op, operands, result_types, attrs, loc, body)
        self.nodes.append(node)
        return node

    # ---- queries ---------------------------------------------------------------------------

    def param_values(self) -> list[Value]:
        return [p.value for p in self.params]

    def param_index(self, v: Value) -> int:
        """Index of the parameter defining `v`, or -1."""
        if v.producer is None and v.index < len(self.params) and self.params[v.index].value is v:
            return v.index
        return -1

    def users(self) -> dict[Value, list[Node]]:
        """Map from value to the nodes reading it (a node reading it twice appears twice)."""
        u: dict[Value, list[Node]] = {}
        for n in self.nodes:
            for o in n.operands:
                u.setdefault(o, []).append(n)
        return u

    def output_values(self) -> set[Value]:
        return {o.value for o in self.outputs}

    def walk(self) -> Iterator[Node]:
        """All nodes, including those of nested bodies."""
        for n in self.nodes:
            yield n
            for sub in n.subgraphs():
                yield from sub.walk()

    # ---- rewriting -------------------------------------------------------------------------

    def replace_all_uses(self, old: Value, new: Value) -> None:
        for n in self.nodes:
            if old in n.operands:
                n.operands = [new if o is old else o for o in n.operands]
        for o in self.outputs:
            if o.value is old:
                o.value = new

    def remove_dead_nodes(self) -> int:
        """Removes nodes none of whose results are used. Returns how many were removed."""
        live: set[Value] = {o.value for o in self.outputs}
        kept: list[Node] = []
        for n in reversed(self.nodes):
            if any(r in live for r in n.results) or n.attrs.get("has_side_effect", False):
                kept.append(n)
                live.update(n.operands)
        removed = len(self.nodes) - len(kept)
        kept.reverse()
        self.nodes = kept
        return removed

    def verify(self) -> None:
        """Checks the graph is well formed; raises VerificationError saying what is wrong:
        every operand is defined before its use in this graph (a region reads outer values only
        through its params: captures are explicit), results name their producer and index,
        types agree where ops require it (fused bodies and control-flow regions with their
        node, aliased outputs with their parameter), params are numbered in order, and every
        output is defined."""
        _verify_graph(self, self.name)

    # ---- printing --------------------------------------------------------------------------

    def to_text(self, indent: str = "") -> str:
        lines = []
        ps = []
        for p in self.params:
            extra = ""
            if p.aliased_output >= 0:
                extra = f" {{aliased_output={p.aliased_output}}}"
            elif p.donor:
                extra = " {donor}"
            ps.append(f"{p.value.name}: {p.value.type}{extra}")
        lines.append(f"{indent}graph @{self.name}({', '.join(ps)}) {{")
        for n in self.nodes:
            lines.extend(_node_lines(n, indent + "  "))
        outs = []
        for o in self.outputs:
            extra = f" {{aliased_parameter={o.aliased_parameter}}}" if o.aliased_parameter >= 0 else ""
            outs.append(f"{o.value.name}{extra}")
        lines.append(f"{indent}  return {', '.join(outs)}")
        lines.append(f"{indent}}}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


class VerificationError(AssertionError):
    """The graph breaks an invariant of the IR (a compiler bug: the message names it)."""


def _check(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise VerificationError(f"{where}: {what}")


def _types_of(values: Iterable[Value]) -> list[str]:
    return [str(v.type) for v in values]


def _verify_region_signature(n: Node, where: str) -> None:
    """A node's nested graphs agree with its operands and results."""
    if n.body is not None:       # chip.fusion: params are the kernel's inputs
        _check(_types_of(p.value for p in n.body.params) == _types_of(n.operands), where,
               f"fused body params {_types_of(p.value for p in n.body.params)} != operands "
               f"{_types_of(n.operands)}")
        _check(_types_of(o.value for o in n.body.outputs) == _types_of(n.results), where,
               "fused body outputs differ from the node's results")
    if n.op == "stablehlo.while" and n.regions:
        nc = int(n.attrs.get("num_carried", 0))
        _check(len(n.regions) == 2, where, f"a while has {len(n.regions)} regions, not 2")
        cond, body = n.regions
        for name, r in (("cond", cond), ("body", body)):
            _check(_types_of(p.value for p in r.params) == _types_of(n.operands), where,
                   f"while {name} params {_types_of(p.value for p in r.params)} != operands "
                   f"{_types_of(n.operands)}")
        _check(_types_of(o.value for o in cond.outputs) == ["pred[]"], where,
               "while cond does not return one 0-d pred")
        _check(_types_of(o.value for o in body.outputs) == _types_of(n.results)
               == _types_of(n.operands[:nc]), where,
               "while body results, node results and carried operands differ in type")
    if n.op == "stablehlo.case" and n.regions:
        for i, r in enumerate(n.regions):
            _check(_types_of(p.value for p in r.params) == _types_of(n.operands[1:]), where,
                   f"case branch {i} params differ from the captured operands")
            _check(_types_of(o.value for o in r.outputs) == _types_of(n.results), where,
                   f"case branch {i} results differ from the node's results")


def _verify_graph(graph: "Graph", where: str) -> None:
    defined: set[Value] = set()
    for i, p in enumerate(graph.params):
        v = p.value
        _check(v.producer is None, where, f"param {i} {v} has a producer")
        _check(v.index == i, where, f"param {i} {v} has index {v.index}")
        _check(v not in defined, where, f"param {v} appears twice")
        defined.add(v)
    seen_nodes: set[int] = set()
    for n in graph.nodes:
        at_node = f"{where}: {n.op}{(' (' + n.loc + ')') if n.loc else ''}"
        _check(id(n) not in seen_nodes, at_node, "node appears twice")
        seen_nodes.add(id(n))
        for o in n.operands:
            _check(isinstance(o, Value), at_node, f"operand {o!r} is not a value")
            _check(o in defined, at_node, f"operand {o} used before definition")
        for i, r in enumerate(n.results):
            _check(r.producer is n, at_node, f"result {r} has a wrong producer")
            _check(r.index == i, at_node, f"result {r} has index {r.index}, not {i}")
            _check(isinstance(r.type, TensorType), at_node, f"result {r} has no tensor type")
            _check(r not in defined, at_node, f"result {r} is defined twice")
            defined.add(r)
        _verify_region_signature(n, at_node)
        for k, sub in enumerate(n.subgraphs()):
            _verify_graph(sub, f"{at_node} region {k}")
    for j, o in enumerate(graph.outputs):
        _check(o.value in defined, where, f"output {j} {o.value} is not defined")
        if o.aliased_parameter >= 0:
            _check(o.aliased_parameter < len(graph.params), where,
                   f"output {j} aliases missing parameter {o.aliased_parameter}")
            _check(graph.params[o.aliased_parameter].value.type == o.value.type, where,
                   f"output {j} {o.value.type} aliases parameter {o.aliased_parameter} of "
                   f"another type")


def format_attr(v: Any) -> str:
    if isinstance(v, np.ndarray):
        if v.size <= 8:
            return f"{v.dtype}{list(v.shape)} {v.tolist()}"
        return f"{v.dtype}{list(v.shape)} [...]"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_attr(x) for x in v) + "]"
    if isinstance(v, Graph):
        return "<graph>"
    if hasattr(v, "to_text"):
        return v.to_text()
    return str(v)


def _node_lines(n: Node, indent: str) -> list[str]:
    res = ", ".join(r.name for r in n.results)
    types = ", ".join(str(r.type) for r in n.results)
    ops = ", ".join(o.name for o in n.operands)
    attrs = ", ".join(f"{k}={format_attr(v)}" for k, v in n.attrs.items()
                      if k not in ("program",) and v is not None)
    attrs = f" {{{attrs}}}" if attrs else ""
    loc = f"  # {n.loc}" if n.loc else ""
    head = f"{indent}{res} = {n.op}({ops}){attrs} : {types}{loc}"
    subs = n.subgraphs()
    if not subs:
        return [head]
    return [head + " {"] + [g.to_text(indent + "  ") for g in subs] + [f"{indent}}}"]


def stable_topological_order(deps: dict["Node", set["Node"]],
                             priority: dict["Node", Any]) -> list["Node"] | None:
    """The nodes of `deps` (node -> the nodes it must follow) in a topological order that
    prefers the lowest `priority` among the ready nodes (Kahn's algorithm on a heap), so an
    order that already satisfies `deps` comes back unchanged; None if `deps` has a cycle."""
    users: dict[Node, list[Node]] = {n: [] for n in deps}
    for n, ds in deps.items():
        for d in ds:
            users[d].append(n)
    waiting = {n: len(ds) for n, ds in deps.items()}
    ready = [(priority[n], id(n), n) for n, w in waiting.items() if w == 0]
    heapq.heapify(ready)
    out: list[Node] = []
    while ready:
        _, _, n = heapq.heappop(ready)
        out.append(n)
        for u in users[n]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (priority[u], id(u), u))
    return out if len(out) == len(deps) else None
