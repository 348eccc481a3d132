"""Custom calls to the chip's native kernels: import, checks and lowering.

`stablehlo.custom_call @chip.<kernel>` (what jax_chip.ops emits on the chip, via the typed XLA
FFI form of `jax.ffi.ffi_call`) becomes a `chip.custom_call` kernel node, and then a CustomCall
kernel of the executable (schema: CustomCall), which the runtime runs with the native kernel
registered under the same target name (pjrt_plugin/kernels/custom_call_registry.cc).

- import_attributes(): the custom call's MLIR attributes -> plain Python (typed attributes from
  `mhlo.backend_config`, output/operand aliases, layouts checked to be row-major);
- TARGETS: every target the chip implements, with a check of operand/result types and
  attributes that names what is wrong;
- lower(): the rewrite, run by xla_passes/custom_call_lowering.py.

A target the chip does not implement stays a stablehlo.custom_call and check_supported reports
it (UNIMPLEMENTED, naming the target and the chip targets that exist).

Each result of a target may update one operand in place (`aliases`): the KV write's results are
its pools. The kernel then writes only what changes when the result's storage is the operand's
(output_aliasing and memory_planning arrange this when the operand is a donated parameter or a
value nothing reads afterwards), and copies the operand into the result first otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.errors import CompileError, UnsupportedError, at
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, TensorType

CUSTOM_CALL_OP = "chip.custom_call"
ATTR_KINDS = ("INT", "FLOAT", "STRING", "INTS", "FLOATS")


@dataclass(frozen=True)
class CustomCallAttr:
    name: str
    kind: str                    # one of ATTR_KINDS (schema AttrKind)
    element: str = ""            # "s64", "f32", "pred", ... for numbers
    value: Any = None            # int, float, str, tuple[int, ...] or tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.name}={self.value!r}:{self.element or self.kind.lower()}"


# ---- import from MLIR ------------------------------------------------------------------------

def _attr_from_mlir(name: str, a: Any, what: str, loc: str) -> CustomCallAttr:
    from jaxlib.mlir import ir

    if ir.BoolAttr.isinstance(a):
        return CustomCallAttr(name, "INT", "pred", int(ir.BoolAttr(a).value))
    if ir.IntegerAttr.isinstance(a):
        ia = ir.IntegerAttr(a)
        return CustomCallAttr(name, "INT", dtypes.mlir_element_type_name(ia.type), int(ia.value))
    if ir.FloatAttr.isinstance(a):
        fa = ir.FloatAttr(a)
        return CustomCallAttr(name, "FLOAT", dtypes.mlir_element_type_name(fa.type),
                              float(fa.value))
    if ir.StringAttr.isinstance(a):
        return CustomCallAttr(name, "STRING", "", ir.StringAttr(a).value)
    if ir.DenseI64ArrayAttr.isinstance(a):
        return CustomCallAttr(name, "INTS", "s64", tuple(int(x) for x in ir.DenseI64ArrayAttr(a)))
    if ir.DenseI32ArrayAttr.isinstance(a):
        return CustomCallAttr(name, "INTS", "s32", tuple(int(x) for x in ir.DenseI32ArrayAttr(a)))
    if ir.DenseF32ArrayAttr.isinstance(a):
        return CustomCallAttr(name, "FLOATS", "f32",
                              tuple(float(x) for x in ir.DenseF32ArrayAttr(a)))
    if ir.DenseF64ArrayAttr.isinstance(a):
        return CustomCallAttr(name, "FLOATS", "f64",
                              tuple(float(x) for x in ir.DenseF64ArrayAttr(a)))
    if ir.DenseIntElementsAttr.isinstance(a) or ir.DenseFPElementsAttr.isinstance(a):
        dense = ir.DenseElementsAttr(a)
        et = dtypes.mlir_element_type_name(ir.ShapedType(dense.type).element_type)
        if ir.ShapedType(dense.type).rank <= 1 and et != "bf16":
            import numpy as np

            values = np.array(dense, copy=True).reshape(-1)
            if ir.DenseFPElementsAttr.isinstance(a):
                return CustomCallAttr(name, "FLOATS", et, tuple(float(x) for x in values))
            return CustomCallAttr(name, "INTS", et, tuple(int(x) for x in values))
    raise UnsupportedError(f"{what}: attribute {name} = {a} has a type the chip's custom calls "
                           f"do not support (integers, floats, strings and 1-d arrays of them)"
                           f"{at(loc)}")


def _is_row_major(layout: Any) -> bool:
    import numpy as np

    minor_to_major = [int(x) for x in np.array(layout).reshape(-1)]
    return minor_to_major == list(range(len(minor_to_major) - 1, -1, -1))


def import_attributes(op: Any, loc: str) -> dict[str, Any]:
    """Graph attributes of a stablehlo.custom_call (jaxlib.mlir op), beyond the target name:
    `ffi_attributes` (tuple of CustomCallAttr, from mhlo.backend_config) and
    `output_operand_aliases` (tuple of (result index, operand index))."""
    from jaxlib.mlir import ir
    from jaxlib.mlir.dialects import stablehlo

    target = ir.StringAttr(op.attributes["call_target_name"]).value
    what = f"stablehlo.custom_call @{target}"
    out: dict[str, Any] = {}
    if "mhlo.backend_config" in op.attributes:
        cfg = op.attributes["mhlo.backend_config"]
        if ir.DictAttr.isinstance(cfg):
            d = ir.DictAttr(cfg)
            named = [d[i] for i in range(len(d))]
            out["ffi_attributes"] = tuple(_attr_from_mlir(n.name, n.attr, what, loc)
                                          for n in named)
    aliases: list[tuple[int, int]] = []
    if "output_operand_aliases" in op.attributes:
        for a in ir.ArrayAttr(op.attributes["output_operand_aliases"]):
            alias = stablehlo.OutputOperandAlias(a)
            out_idx = list(alias.output_tuple_indices)
            if list(alias.operand_tuple_indices) or len(out_idx) > 1:
                raise UnsupportedError(f"{what}: output/operand aliases into tuples are not "
                                       f"supported on the chip{at(loc)}")
            aliases.append((out_idx[0] if out_idx else 0, int(alias.operand_index)))
    out["output_operand_aliases"] = tuple(aliases)
    for key in ("operand_layouts", "result_layouts"):
        if key in op.attributes:
            for i, layout in enumerate(ir.ArrayAttr(op.attributes[key])):
                if not _is_row_major(ir.DenseElementsAttr(layout)):
                    side = "operand" if key == "operand_layouts" else "result"
                    raise UnsupportedError(f"{what}: {side} {i} has a non-row-major layout "
                                           f"{layout}; the chip's custom calls take row-major "
                                           f"arrays{at(loc)}")
    return out


# ---- targets ---------------------------------------------------------------------------------

ATTENTION_DTYPES = frozenset({"f32", "bf16", "f16"})


class _Checker:
    """Builds clear error messages for one custom call."""

    def __init__(self, node: Node, target: str, operand_names: tuple[str, ...]):
        self.node = node
        self.target = target
        self.names = operand_names
        self.attrs = {a.name: a for a in node.attrs.get("ffi_attributes", ())}

    def fail(self, msg: str) -> CompileError:
        ins = ", ".join(o.type.mlir_str() for o in self.node.operands)
        outs = ", ".join(r.type.mlir_str() for r in self.node.results)
        return CompileError(f"custom call @{self.target}: {msg}{at(self.node.loc)}; types "
                            f"({ins}) -> {outs}")

    def counts(self, results: int) -> None:
        if len(self.node.operands) != len(self.names) or len(self.node.results) != results:
            raise self.fail(f"takes {len(self.names)} operands ({', '.join(self.names)}) and "
                            f"gives {results} result(s), got {len(self.node.operands)} and "
                            f"{len(self.node.results)}")

    def operand(self, i: int) -> TensorType:
        return self.node.operands[i].type

    def rank(self, i: int, rank: int, dtypes_ok: frozenset[str], shape_text: str) -> TensorType:
        t = self.operand(i)
        if t.rank != rank or t.dtype not in dtypes_ok:
            raise self.fail(f"operand {i} ({self.names[i]}) must be {shape_text} of "
                            f"{'/'.join(sorted(dtypes_ok))}, got {t}")
        return t

    def shape(self, i: int, shape: tuple[int, ...], dtypes_ok: frozenset[str]) -> TensorType:
        t = self.operand(i)
        if t.shape != shape or t.dtype not in dtypes_ok:
            want = f"[{', '.join(str(d) for d in shape)}]"
            raise self.fail(f"operand {i} ({self.names[i]}) must be {'/'.join(sorted(dtypes_ok))}"
                            f"{want}, got {t}")
        return t

    def result(self, r: int, t: TensorType) -> None:
        if self.node.results[r].type != t:
            raise self.fail(f"result {r} must be {t}, got {self.node.results[r].type}")

    def int_attr(self, name: str, minimum: int) -> int:
        a = self.attrs.get(name)
        if a is None or a.kind != "INT":
            raise self.fail(f"needs an integer attribute {name}")
        if a.value < minimum:
            raise self.fail(f"attribute {name} = {a.value} must be >= {minimum}")
        return int(a.value)

    def float_attr(self, name: str) -> float:
        a = self.attrs.get(name)
        if a is None or a.kind not in ("FLOAT", "INT"):
            raise self.fail(f"needs a float attribute {name}")
        return float(a.value)

    def no_other_attrs(self, allowed: tuple[str, ...]) -> None:
        extra = sorted(set(self.attrs) - set(allowed))
        if extra:
            raise self.fail(f"unknown attribute(s) {', '.join(extra)} (it takes "
                            f"{', '.join(allowed) or 'none'})")


def _check_pools(c: _Checker, k: int, v: int) -> tuple[int, int, int]:
    kt = c.rank(k, 3, ATTENTION_DTYPES, "[rows, kv_heads, head_dim]")
    vt = c.rank(v, 3, ATTENTION_DTYPES, "[rows, kv_heads, head_dim]")
    if vt.shape != kt.shape:
        raise c.fail(f"operand {v} ({c.names[v]}) {vt} must have the shape of operand {k} "
                     f"({c.names[k]}) {kt}")
    rows, kv_heads, head_dim = kt.shape
    if kv_heads == 0:
        raise c.fail("the pools have 0 KV heads")
    return rows, kv_heads, head_dim


def _check_kv_write(node: Node, target: str) -> None:
    c = _Checker(node, target, ("k_pool", "v_pool", "k_new", "v_new", "slots"))
    c.counts(2)
    c.no_other_attrs(())
    rows, kv_heads, head_dim = _check_pools(c, 0, 1)
    tokens = c.rank(4, 1, frozenset({"s32"}), "[tokens]").shape[0]
    c.shape(2, (tokens, kv_heads, head_dim), frozenset({c.operand(0).dtype}))
    c.shape(3, (tokens, kv_heads, head_dim), frozenset({c.operand(1).dtype}))
    c.result(0, c.operand(0))
    c.result(1, c.operand(1))


def _check_attention(c: _Checker, lens: tuple[int, ...]) -> None:
    rows, kv_heads, head_dim = _check_pools(c, 1, 2)
    q = c.rank(0, 3, ATTENTION_DTYPES, "[tokens, heads, head_dim]")
    if q.shape[2] != head_dim:
        raise c.fail(f"q head_dim {q.shape[2]} != pool head_dim {head_dim}")
    if q.shape[1] % kv_heads:
        raise c.fail(f"{q.shape[1]} query heads is not a multiple of {kv_heads} KV heads")
    table = c.rank(3, 2, frozenset({"s32"}), "[batch, max_pages]")
    for i in lens:
        c.shape(i, (table.shape[0],), frozenset({"s32"}))
    c.no_other_attrs(("scale", "page_size"))
    c.float_attr("scale")
    page_size = c.int_attr("page_size", 1)
    if rows % page_size:
        raise c.fail(f"pool rows {rows} is not a multiple of page_size {page_size}")
    c.result(0, q)


def _check_decode(node: Node, target: str) -> None:
    c = _Checker(node, target, ("q", "k_pool", "v_pool", "page_table", "seq_lens"))
    c.counts(1)
    _check_attention(c, (4,))
    if c.operand(3).shape[0] != c.operand(0).shape[0]:
        raise c.fail(f"page_table has {c.operand(3).shape[0]} rows for a batch of "
                     f"{c.operand(0).shape[0]} queries")


def _check_extend(node: Node, target: str) -> None:
    c = _Checker(node, target, ("q", "k_pool", "v_pool", "page_table", "prefix_lens",
                                "extend_lens"))
    c.counts(1)
    _check_attention(c, (4, 5))


@dataclass(frozen=True)
class TargetSpec:
    name: str
    check: Callable[[Node, str], None]
    aliases: tuple[int, ...]          # per result: the operand it updates in place, or -1
    summary: str


TARGETS: dict[str, TargetSpec] = {
    s.name: s for s in (
        TargetSpec("chip.paged_kv_write", _check_kv_write, (0, 1),
                   "new K/V into the paged pools at slot indices, in place; -1 and other "
                   "out-of-range slots dropped"),
        TargetSpec("chip.paged_attention_decode", _check_decode, (-1,),
                   "one query token per sequence over its KV pages (page table, seq lens, "
                   "GQA, scale)"),
        TargetSpec("chip.radix_attention_extend", _check_extend, (-1,),
                   "ragged new tokens over their cached prefix plus causal attention among "
                   "themselves"),
    )
}


def user_targets() -> frozenset[str]:
    """XLA FFI targets registered for platform "chip" in this process (jax_chip.ffi)."""
    import sys

    ffi = sys.modules.get("jax_chip.ffi")   # only set up when the plugin initialized
    return ffi.registered_targets() if ffi is not None else frozenset()


def handles(target: str) -> bool:
    """Does the chip implement `target` (a built-in kernel or a registered FFI handler)?"""
    return target in TARGETS or (not target.startswith("chip.") and target in user_targets())


def is_chip_target(node: Node) -> bool:
    return node.op == "stablehlo.custom_call" and handles(node.attrs.get("call_target_name", ""))


def known_targets_text() -> str:
    return ", ".join(sorted(TARGETS))


def unsupported_message(node: Node) -> str:
    target = node.attrs.get("call_target_name", "")
    if target.startswith("chip."):
        hint = f"; the chip implements {known_targets_text()}"
    else:
        hint = ("; register an XLA FFI handler for it with "
                "jax.ffi.register_ffi_target(..., platform=\"chip\")")
    return f"stablehlo.custom_call @{target} is not supported on the chip{hint}"


# ---- lowering --------------------------------------------------------------------------------

def lower_node(graph: Graph, node: Node) -> Node:
    """The chip.custom_call kernel node replacing a checked stablehlo.custom_call."""
    target = node.attrs["call_target_name"]
    declared = dict(node.attrs.get("output_operand_aliases", ()))
    if target not in TARGETS:   # a user's XLA FFI handler: it checks its own operands
        return _lower_user_call(graph, node, target, declared)
    spec = TARGETS[target]
    spec.check(node, target)
    for r, o in declared.items():
        if r >= len(spec.aliases) or spec.aliases[r] != o:
            raise CompileError(f"custom call @{target}: result {r} cannot alias operand {o} "
                               f"(its in-place results: "
                               f"{[(i, a) for i, a in enumerate(spec.aliases) if a >= 0]})"
                               f"{at(node.loc)}")
    new = graph.make_node(
        CUSTOM_CALL_OP, list(node.operands), [r.type for r in node.results],
        {"target": target,
         "attributes": tuple(node.attrs.get("ffi_attributes", ())),
         "output_operand_alias": spec.aliases,
         "has_side_effect": bool(node.attrs.get("has_side_effect", False))},
        node.loc)
    return new


def _lower_user_call(graph: Graph, node: Node, target: str, declared: dict[int, int]) -> Node:
    aliases = []
    for r, res in enumerate(node.results):
        o = declared.get(r, -1)
        if o >= 0 and (o >= len(node.operands) or node.operands[o].type.nbytes != res.type.nbytes):
            raise CompileError(f"custom call @{target}: result {r} {res.type} cannot alias operand "
                               f"{o} of a different size{at(node.loc)}")
        aliases.append(o)
    return graph.make_node(
        CUSTOM_CALL_OP, list(node.operands), [r.type for r in node.results],
        {"target": target,
         "attributes": tuple(node.attrs.get("ffi_attributes", ())),
         "output_operand_alias": tuple(aliases),
         "has_side_effect": bool(node.attrs.get("has_side_effect", False))},
        node.loc)


def lower(graph: Graph) -> None:
    """Replaces every custom call to a chip target by a chip.custom_call kernel node."""
    repl: dict[Any, Any] = {}
    nodes: list[Node] = []
    for node in graph.nodes:
        node.operands = [repl.get(o, o) for o in node.operands]
        if is_chip_target(node):
            new = lower_node(graph, node)
            for old_v, new_v in zip(node.results, new.results):
                repl[old_v] = new_v
            node = new
        nodes.append(node)
    graph.nodes = nodes
    for out in graph.outputs:
        out.value = repl.get(out.value, out.value)


def in_place_operand(node: Node, result_index: int) -> int:
    """The operand a chip.custom_call result updates in place, or -1."""
    if node.op != CUSTOM_CALL_OP:
        return -1
    aliases = node.attrs.get("output_operand_alias", ())
    return aliases[result_index] if result_index < len(aliases) else -1


def kernel_name(node: Node) -> str:
    """Kernel name prefix for traces: the target without the "chip." namespace."""
    return str(node.attrs["target"]).split(".", 1)[-1]


# ---- op registry hooks -----------------------------------------------------------------------

def _emit(node: Node) -> Any:
    from jax_chip.compiler.kernels.custom_call import CustomCallOp

    return CustomCallOp(str(node.attrs["target"]), tuple(node.attrs["attributes"]),
                        tuple(node.attrs["output_operand_alias"]),
                        bool(node.attrs["has_side_effect"]))


def _cost(node: Node, graph: Graph | None = None) -> None:
    """No static cost: the kernels report their work at run time (it depends on the data)."""
    return None


def _in_place(node: Node) -> list[tuple[int, int]]:
    return [(r, o) for r, o in enumerate(node.attrs["output_operand_alias"]) if o >= 0]


def register_ops(register: Callable[[Any], Any], spec_cls: type,
                 all_types: frozenset[str]) -> None:
    """Registers chip.custom_call (called by op_registry)."""
    targets = "; ".join(f"@{s.name}: {s.summary}" for s in TARGETS.values())
    register(spec_cls(CUSTOM_CALL_OP, "custom_call", all_types, kernel="CustomCall",
                      notes=f"a native chip kernel called by name; cost reported at run time. "
                            f"{targets}",
                      foldable=False, fusible=False, emit=_emit, cost=_cost, in_place=_in_place))


def run(graph: Graph, ctx: PassContext) -> None:
    lower(graph)
