"""Indexing and sorting ops to chip kernels (python/jax_chip/compiler/kernels/, e.g. sort.py):

- `custom_call @mhlo.topk` (what jaxlib turns chlo.top_k into) and `chlo.top_k` -> `chip.top_k`.
- `stablehlo.reduce` whose body is not one binary op, or with several operands (argmax/argmin)
  -> `chip.variadic_reduce`.
- Regions (scatter update, sort comparator, reduce/reduce_window bodies) are compiled into
  register programs (node.attrs["program"]); two-argument bodies that are one binary op (or
  return the new value) are tagged with their RegionKind (node.attrs["kind"]) so the runtime
  runs them natively; lexicographic sort comparators get their keys (node.attrs["keys"]).
- Index operands must be integers; a region that cannot be evaluated per element is rejected
  with an error naming the op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jax_chip.compiler.analysis.support import check_node
from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.errors import UnsupportedError, at
from jax_chip.compiler.ir.graph import Graph, Node, Output, Value
from jax_chip.compiler.kernels.table_op import SortKeySpec
from jax_chip.compiler.lowering.regions import RegionProgram, argminmax_kind, region_kind
from jax_chip.compiler.lowering.regions import compile_region as _compile_region
from jax_chip.compiler.ir.pass_api import Pass, Scope

TOPK_TARGETS = frozenset({"mhlo.topk"})


def compile_region(region: Graph, what: str, loc: str) -> RegionProgram:
    for n in region.nodes:      # the same per-op checks as top-level ops (element types, ...)
        check_node(n)
    return _compile_region(region, what, loc)


def _types(node: Node) -> str:
    ins = ", ".join(o.type.mlir_str() for o in node.operands)
    outs = ", ".join(r.type.mlir_str() for r in node.results)
    return f"({ins}) -> {outs}"


def _check_index(node: Node, v: Value, what: str) -> None:
    if not (dtypes.is_chip_dtype(v.type.dtype) and dtypes.info(v.type.dtype).is_int):
        raise UnsupportedError(f"{node.op}: {what} of type {v.type.mlir_str()} must be integers"
                               f"{at(node.loc)}; types {_types(node)}")


def _top_k(node: Node) -> None:
    if len(node.operands) != 1 or len(node.results) != 2 or node.operands[0].type.rank < 1:
        raise UnsupportedError(f"top_k with types {_types(node)} is not supported{at(node.loc)}")
    k = node.results[0].type.shape[-1]
    if node.results[1].type.dtype != "s32":
        raise UnsupportedError(f"top_k with {node.results[1].type.dtype} indices is not supported "
                               f"(only s32){at(node.loc)}")
    node.op = "chip.top_k"
    node.attrs = {"k": int(k), "largest": bool(node.attrs.get("largest", True))}


def _variadic_reduce(node: Node) -> None:
    body = node.attrs["region"]
    node.op = "chip.variadic_reduce"
    node.attrs["program"] = compile_region(body, "stablehlo.reduce body", node.loc)
    node.attrs["kind"] = region_kind(body) if len(node.results) == 1 else "PROGRAM"
    if node.attrs["kind"] == "SET":   # "keep the last element": not associative; use the program
        node.attrs["kind"] = "PROGRAM"
    if len(node.results) == 2:        # jnp.argmax / argmin: (values, indices)
        kind = argminmax_kind(node.attrs["program"], node.results[0].type.dtype,
                              node.results[1].type.dtype)
        node.attrs["kind"] = kind or "PROGRAM"


def _scatter(node: Node) -> None:
    n = len(node.results)
    _check_index(node, node.operands[n], "scatter indices")
    body = node.attrs["region"]
    node.attrs["program"] = compile_region(body, "stablehlo.scatter update computation", node.loc)
    node.attrs["kind"] = region_kind(body) if n == 1 else "PROGRAM"


def _reduce_window(node: Node) -> None:
    body = node.attrs["region"]
    node.attrs["program"] = compile_region(body, "stablehlo.reduce_window body", node.loc)
    kind = region_kind(body) if len(node.results) == 1 else "PROGRAM"
    node.attrs["kind"] = "PROGRAM" if kind == "SET" else kind


# ---- sort comparators ------------------------------------------------------------------------------

def _attrs_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            xa, ya = np.asarray(x), np.asarray(y)
            if xa.dtype != ya.dtype or xa.shape != ya.shape:
                return False
            if not np.array_equal(xa.view(np.uint8) if xa.dtype.kind == "f" else xa,
                                  ya.view(np.uint8) if ya.dtype.kind == "f" else ya):
                return False
        elif x != y:
            return False
    return True


def _isomorphic(a: Value, b: Value, pmap: dict[Value, Value], params: set[Value]) -> bool:
    """Is `b` computed from pmap's targets exactly as `a` is from pmap's keys?"""
    stack = [(a, b)]
    seen: set[tuple[int, int]] = set()
    while stack:
        x, y = stack.pop()
        if (x.id, y.id) in seen:
            continue
        seen.add((x.id, y.id))
        if x in params or y in params:
            if pmap.get(x) is not y:
                return False
            continue
        if x is y:
            continue
        px, py = x.producer, y.producer
        if px is None or py is None or px.op != py.op or x.index != y.index:
            return False
        if len(px.operands) != len(py.operands) or not _attrs_equal(px.attrs, py.attrs):
            return False
        stack.extend(zip(px.operands, py.operands))
    return True


def _cone_params(v: Value, params: set[Value]) -> set[Value]:
    found: set[Value] = set()
    stack, seen = [v], set()
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if x in params:
            found.add(x)
        elif x.producer is not None:
            stack.extend(x.producer.operands)
    return found


def _transform(region: Graph, arg: Value, key: Value, loc: str):
    """Register program computing `key` from region argument `arg` (None: key is arg)."""
    if key is arg:
        return None
    g = Graph("sort key")
    p = g.add_param(arg.type, "x")
    vmap: dict[Value, Value] = {arg: p}
    cone: set[Node] = set()
    stack = [key]
    while stack:
        x = stack.pop()
        if x.producer is not None and x.producer not in cone:
            cone.add(x.producer)
            stack.extend(x.producer.operands)
    for n in region.nodes:
        if n in cone:
            c = g.add_node(n.op, [vmap[o] for o in n.operands], [r.type for r in n.results],
                           dict(n.attrs), n.loc)
            vmap.update(zip(n.results, c.results))
    g.outputs = [Output(vmap[key])]
    return compile_region(g, "sort key", loc)


def _compare_parts(v: Value) -> tuple[str, Value, Value, str] | None:
    n = v.producer
    if n is None or n.op != "stablehlo.compare":
        return None
    a, b = n.operands
    ctype = n.attrs.get("compare_type")
    if ctype is None:
        info = dtypes.info(a.type.dtype)
        ctype = "FLOAT" if info.is_float else ("SIGNED" if info.is_signed else "UNSIGNED")
    return n.attrs["comparison_direction"], a, b, ctype


def _key(region: Graph, a: Value, b: Value, direction: str, ctype: str, params: list[Value],
         loc: str) -> tuple[SortKeySpec, Value, Value] | None:
    """The key of compare(direction, a, b): (key, lhs-side value, rhs-side value)."""
    pset = set(params)
    for swap in (False, True):
        x, y = (b, a) if swap else (a, b)
        cone = _cone_params(x, pset)
        if len(cone) != 1:
            continue
        px = next(iter(cone))
        i = params.index(px)
        if i % 2:           # x must read an lhs argument
            continue
        k = i // 2
        if not _isomorphic(x, y, {px: params[i + 1]}, pset):
            continue
        d = direction
        if swap:
            d = {"LT": "GT", "GT": "LT"}.get(d, d)
        if d not in ("LT", "GT"):
            return None
        return SortKeySpec(k, _transform(region, px, x, loc), ctype, d == "GT"), x, y
    return None


def _lexicographic(region: Graph, v: Value, params: list[Value], loc: str
                   ) -> list[SortKeySpec] | None:
    """Keys of a comparator `v` = lt(k0) | (eq(k0) & (lt(k1) | (eq(k1) & ...)))."""
    c = _compare_parts(v)
    if c is not None:
        key = _key(region, c[1], c[2], c[0], c[3], params, loc)
        return [key[0]] if key is not None else None
    n = v.producer
    if n is None or n.op != "stablehlo.or" or len(n.operands) != 2:
        return None
    for lt_v, rest_v in (n.operands, n.operands[::-1]):
        c = _compare_parts(lt_v)
        r = rest_v.producer
        if c is None or r is None or r.op != "stablehlo.and":
            continue
        key = _key(region, c[1], c[2], c[0], c[3], params, loc)
        if key is None:
            continue
        for eq_v, tail_v in (r.operands, r.operands[::-1]):
            e = _compare_parts(eq_v)
            if e is None or e[0] != "EQ" or e[3] != c[3]:
                continue
            # the equality must compare the same two key values (either order)
            if {e[1], e[2]} != {key[1], key[2]}:
                continue
            tail = _lexicographic(region, tail_v, params, loc)
            if tail is not None:
                return [key[0]] + tail
    return None


def _sort(node: Node) -> None:
    region = node.attrs["region"]
    n = len(node.operands)
    if len(region.params) != 2 * n or len(region.outputs) != 1 or \
            region.outputs[0].value.type.dtype != "pred":
        raise UnsupportedError(f"stablehlo.sort comparator with {len(region.params)} arguments "
                               f"and {len(region.outputs)} results is malformed{at(node.loc)}")
    node.attrs["program"] = compile_region(region, "stablehlo.sort comparator", node.loc)
    params = [p.value for p in region.params]
    try:
        keys = _lexicographic(region, region.outputs[0].value, params, node.loc)
    except UnsupportedError:
        keys = None
    node.attrs["keys"] = keys


def run(graph: Graph, ctx: PassContext) -> bool:
    changed = False
    for node in graph.nodes:
        before = (node.op, len(node.attrs))
        if node.op == "stablehlo.custom_call" and \
                node.attrs.get("call_target_name") in TOPK_TARGETS:
            _top_k(node)
        elif node.op == "chlo.top_k":
            _top_k(node)
        elif node.op == "stablehlo.reduce" and node.attrs.get("region") is not None:
            _variadic_reduce(node)
        elif node.op == "stablehlo.scatter":
            _scatter(node)
        elif node.op == "stablehlo.gather":
            _check_index(node, node.operands[1], "start indices")
        elif node.op in ("stablehlo.dynamic_slice", "stablehlo.dynamic_update_slice"):
            first = 1 if node.op == "stablehlo.dynamic_slice" else 2
            for o in node.operands[first:]:
                _check_index(node, o, "start indices")
        elif node.op == "stablehlo.sort":
            _sort(node)
        elif node.op == "stablehlo.reduce_window":
            _reduce_window(node)
        changed |= (node.op, len(node.attrs)) != before
    return changed


PASS = Pass("indexing_lowering", Scope.FUNCTION, run)
