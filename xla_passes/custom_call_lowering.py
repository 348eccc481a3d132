"""Custom calls to the chip's native kernels: each `stablehlo.custom_call @chip.<kernel>` whose
target the chip implements (jax_chip.compiler.ir.custom_calls) is checked (operand/result types,
attributes; an error names what is wrong) and becomes a `chip.custom_call` kernel node (the
CustomCall kernel, jax_chip.compiler.kernels.custom_call). Custom calls to XLA FFI handlers a
user registered for the chip check their own operands. Other custom calls stay and
check_supported reports them.

Each result of a target may update one operand in place (`aliases`): the KV write's results are
its pools. The kernel then writes only what changes when the result's storage is the operand's
(output_aliasing and memory_planning arrange this when the operand is a donated parameter or a
value nothing reads afterwards), and copies the operand into the result first otherwise.
"""

from __future__ import annotations

from typing import Any, Callable

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.custom_calls import CUSTOM_CALL_OP, NATIVE_TARGETS, is_chip_target
from jax_chip.compiler.ir.errors import CompileError, at
from jax_chip.compiler.ir.graph import Graph, Node, TensorType
from jax_chip.compiler.ir.pass_api import Pass, Scope

# ---- checks of the native targets ----------------------------------------------------------------

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


CHECKS: dict[str, Callable[[Node, str], None]] = {
    "chip.paged_kv_write": _check_kv_write,
    "chip.paged_attention_decode": _check_decode,
    "chip.radix_attention_extend": _check_extend,
}
assert set(CHECKS) == set(NATIVE_TARGETS), "every native target has its check"


# ---- lowering --------------------------------------------------------------------------------

def lower_node(graph: Graph, node: Node) -> Node:
    """The chip.custom_call kernel node replacing a checked stablehlo.custom_call."""
    target = node.attrs["call_target_name"]
    declared = dict(node.attrs.get("output_operand_aliases", ()))
    if target not in CHECKS:   # a user's XLA FFI handler: it checks its own operands
        return _lower_user_call(graph, node, target, declared)
    spec = NATIVE_TARGETS[target]
    CHECKS[target](node, target)
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


def run(graph: Graph, ctx: PassContext) -> bool:
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
    return bool(repl)


PASS = Pass("custom_call_lowering", Scope.FUNCTION, run)
