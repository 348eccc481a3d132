"""complex64 -> f32: every computation on complex values becomes f32 ops on (real, imaginary)
pairs (lowering/complex_ops.py has the per-op rules), so no kernel knows a complex type.

- A complex parameter c64[S] is reinterpreted as f32[S, 2] (a reshape: the same bytes, no
  kernel) and its parts are the strided views [..., 0] and [..., 1].
- A complex output interleaves its parts into f32[S, 2] elementwise (fused with their
  computation), reshaped (again the same bytes) to c64[S], then output_aliasing's copy into the
  output buffer (an output that is a reshape alias is copied).
- Complex constants become two f32 constants; `stablehlo.fft` becomes `chip.fft` (the Fft kernel
  on planar parts).
- Ops with per-element regions (reduce, sort, scatter, reduce_window) take the parts as separate
  operands and their regions are lowered the same way.
- While loops and case branches carrying or capturing complex values: those operands, region
  parameters and results are split in place (num_carried counts parts).

Complex custom calls and ordering compares are rejected (UNIMPLEMENTED, naming the op).
"""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.errors import UnsupportedError, at
from jax_chip.compiler.ir.graph import Graph, Node, Output, TensorType, Value
from jax_chip.compiler.ir.pass_api import Pass, Scope
from jax_chip.compiler.lowering.complex_ops import (
    C64,
    F32,
    RULES,
    Emitter,
    Lowered,
    Pair,
    split_constant,
)

Env = dict[Value, Lowered]


def _is_c64(v: Value) -> bool:
    return v.type.dtype == C64


# Defined on real operands too (the operand itself; zeros): no kernel takes them.
_PART_OPS = ("stablehlo.real", "stablehlo.imag")


def _touches_complex(n: Node) -> bool:
    return (n.op in _PART_OPS or any(_is_c64(v) for v in (*n.operands, *n.results))
            or _region_is_complex(n))


def _region_is_complex(n: Node) -> bool:
    r = n.attrs.get("region")
    return isinstance(r, Graph) and any(_is_c64(p.value) for p in r.params)


def _f32(t: TensorType) -> TensorType:
    return TensorType(F32, t.shape) if t.dtype == C64 else t


def _flat(vs: list[Lowered]) -> list[Value]:
    out: list[Value] = []
    for v in vs:
        out.extend([v.re, v.im] if isinstance(v, Pair) else [v])
    return out


# ---- per-element regions -------------------------------------------------------------------------

def _lower_region(region: Graph, order: list[tuple[int, str]]) -> Graph:
    """`region` with its complex parameters split: the new parameters are `order`'s (old
    parameter index, "re" / "im" / "" for a real one) in that order; complex results become
    consecutive (re, im) results."""
    g = Graph(region.name)
    parts: dict[int, dict[str, Value]] = {}
    for i, part in order:
        old = region.params[i].value
        parts.setdefault(i, {})[part] = g.add_param(_f32(old.type), f"{region.params[i].name}{part}")
    env: Env = {}
    for i, p in enumerate(region.params):
        got = parts[i]
        env[p.value] = Pair(got["re"], got["im"]) if _is_c64(p.value) else got[""]
    _lower_into(g, g.nodes, env, region.nodes)
    g.outputs = [Output(v) for v in _flat([env.get(o.value, o.value) for o in region.outputs])]
    return g


def _in_place_order(region: Graph) -> list[tuple[int, str]]:
    order: list[tuple[int, str]] = []
    for i, p in enumerate(region.params):
        order.extend([(i, "re"), (i, "im")] if _is_c64(p.value) else [(i, "")])
    return order


def _sort_order(region: Graph) -> list[tuple[int, str]]:
    """Comparator arguments come in (lhs, rhs) pairs per operand: an operand split in two gives
    (lhs.re, rhs.re, lhs.im, rhs.im)."""
    order: list[tuple[int, str]] = []
    for k in range(len(region.params) // 2):
        if _is_c64(region.params[2 * k].value):
            order += [(2 * k, "re"), (2 * k + 1, "re"), (2 * k, "im"), (2 * k + 1, "im")]
        else:
            order += [(2 * k, ""), (2 * k + 1, "")]
    return order


def _multiply_region(loc: str) -> Graph:
    """The body of a complex product reduce: (acc.re, acc.im, x.re, x.im) -> acc * x."""
    g = Graph("complex_multiply")
    s = TensorType(F32, ())
    ar, ai, xr, xi = (g.add_param(s, n) for n in ("acc_re", "acc_im", "x_re", "x_im"))
    e = Emitter(g, g.nodes, loc)
    prod = e.cmul(Pair(ar, ai), Pair(xr, xi))
    g.outputs = [Output(prod.re), Output(prod.im)]
    return g


def _lower_region_op(n: Node, args: list[Lowered], e: Emitter) -> list[Lowered]:
    attrs = dict(n.attrs)
    region = attrs.get("region")
    if n.op == "stablehlo.reduce" and region is None:
        reduce_op = attrs.get("reduce_op")
        x, init = args
        assert isinstance(x, Pair) and isinstance(init, Pair)
        if reduce_op == "SUM":
            outs = [e.emit(n.op, [getattr(x, p), getattr(init, p)], [_f32(n.result.type)], attrs)[0]
                    for p in ("re", "im")]
            return [Pair(outs[0], outs[1])]
        if reduce_op != "PRODUCT":
            raise UnsupportedError(f"stablehlo.reduce with body {reduce_op} on complex values is "
                                   f"not defined{at(n.loc)}")
        attrs.update(reduce_op=None, region=_multiply_region(n.loc))
    elif region is not None:
        order = _sort_order(region) if n.op == "stablehlo.sort" else _in_place_order(region)
        attrs["region"] = _lower_region(region, order)
    types = [_f32(r.type) for r in n.results for _ in range(2 if _is_c64(r) else 1)]
    outs = iter(e.emit(n.op, _flat(args), types, attrs))
    return [Pair(next(outs), next(outs)) if _is_c64(r) else next(outs) for r in n.results]


# ---- graphs ----------------------------------------------------------------------------------------

def _lower_node(n: Node, args: list[Lowered], e: Emitter) -> list[Lowered]:
    if n.op == "stablehlo.constant":
        value = n.attrs["value"]
        assert value is not None, "complex constant not read by the frontend"
        return [split_constant(e, np.asarray(value), bool(n.attrs.get("splat")), n.result.type)]
    if n.op in ("stablehlo.reduce", "stablehlo.sort", "stablehlo.scatter", "stablehlo.reduce_window"):
        return _lower_region_op(n, args, e)
    rule = RULES.get(n.op)
    if rule is None or n.regions:
        raise UnsupportedError(f"{n.op} on complex values is not supported on the chip{at(n.loc)}; "
                               f"types {n.describe()}")
    return rule.rule(e, n, args)


def _real_value(v: Lowered, n: Node) -> Value:
    if isinstance(v, Pair):   # a complex value read by an op that does not know it
        raise UnsupportedError(f"{n.op} reads a complex value, which is not supported on the "
                               f"chip{at(n.loc)}")
    return v


def _param_parts(g: Graph, v: Value, nodes: list[Node]) -> Pair:
    """c64[S] parameter -> f32[S, 2] (same bytes) -> its [..., 0] and [..., 1] views."""
    s = v.type.shape
    e = Emitter(g, nodes, "")
    pairs = e.op("stablehlo.reshape", v, shape=(*s, 2))

    def part(k: int) -> Value:
        sl = e.op("stablehlo.slice", pairs, shape=(*s, 1),
                  attrs={"start_indices": (0,) * len(s) + (k,), "limit_indices": (*s, k + 1),
                         "strides": (1,) * (len(s) + 1)})
        return e.op("stablehlo.reshape", sl, shape=s)
    return Pair(part(0), part(1))


def _output_value(g: Graph, p: Pair, nodes: list[Node]) -> Value:
    """(re, im) f32[S] -> f32[S, 2] interleaved -> c64[S] (same bytes). The interleave is
    elementwise (select on an iota of the new last dim between the parts broadcast along it), so
    it fuses with the computation of the parts: one kernel writes the pairs."""
    s = p.re.type.shape
    e = Emitter(g, nodes, "")
    shape = (*s, 2)
    dims = {"broadcast_dimensions": tuple(range(len(s)))}
    re, im = (e.op("stablehlo.broadcast_in_dim", x, shape=shape, attrs=dims) for x in (p.re, p.im))
    lane = e.op("stablehlo.iota", dtype="s32", shape=shape, attrs={"iota_dimension": len(s)})
    zero = e.emit("stablehlo.constant", [], [TensorType("s32", shape)],
                  {"value": np.asarray(0, np.int32), "splat": True})[0]
    pairs = e.select(e.cmp("EQ", lane, zero), re, im)
    return e.op("stablehlo.reshape", pairs, dtype=C64, shape=s)


def _lower_graph(g: Graph, top: bool) -> bool:
    complex_sig = _signature_is_complex(g)
    if not complex_sig and not any(_touches_complex(n) or n.regions for n in g.nodes):
        return False
    if complex_sig and not top:
        raise AssertionError(f"region @{g.name} with a complex signature: its control-flow node "
                             f"splits it")
    env: Env = {}
    head: list[Node] = []
    for p in g.params:
        if _is_c64(p.value):
            env[p.value] = _param_parts(g, p.value, head)
    old_nodes = g.nodes
    g.nodes = []
    body: list[Node] = []
    _lower_into(g, body, env, old_nodes)
    tail: list[Node] = []
    for o in g.outputs:
        v = env.get(o.value, o.value)
        o.value = _output_value(g, v, tail) if isinstance(v, Pair) else v
    g.nodes = head + body + tail
    return True


def _signature_is_complex(g: Graph) -> bool:
    return any(_is_c64(p.value) for p in g.params) or any(_is_c64(o.value) for o in g.outputs)


def _lower_control_flow(n: Node, args: list[Lowered], e: Emitter) -> list[Lowered]:
    """while / case carrying or capturing complex values: every complex operand, region
    parameter, region result and node result is split in place into its two parts."""
    attrs = dict(n.attrs)
    if "num_carried" in attrs:
        attrs["num_carried"] = sum(2 if _is_c64(r) else 1 for r in n.results[:attrs["num_carried"]])
    regions = [_lower_region(r, _in_place_order(r)) for r in n.regions]
    types = [_f32(r.type) for r in n.results for _ in range(2 if _is_c64(r) else 1)]
    outs = iter(e.emit(n.op, _flat(args), types, attrs, regions))
    return [Pair(next(outs), next(outs)) if _is_c64(r) else next(outs) for r in n.results]


def _lower_into(g: Graph, out: list[Node], env: Env, nodes: list[Node]) -> None:
    for n in nodes:
        if n.regions and (_touches_complex(n) or any(_signature_is_complex(r) for r in n.regions)):
            e = Emitter(g, out, n.loc)
            lowered = _lower_control_flow(n, [env.get(o, o) for o in n.operands], e)
            env.update(zip(n.results, lowered))
            continue
        for r in n.regions:
            _lower_graph(r, top=False)
        if not _touches_complex(n):
            n.operands = [_real_value(env.get(o, o), n) for o in n.operands]
            out.append(n)
            continue
        e = Emitter(g, out, n.loc)
        args = [env.get(o, o) for o in n.operands]
        for r, v in zip(n.results, _lower_node(n, args, e)):
            env[r] = v


def run(graph: Graph, ctx: PassContext) -> bool:
    return _lower_graph(graph, top=True)


PASS = Pass("complex_lowering", Scope.PROGRAM, run)
