"""Code generation for Elementwise kernels: a fused body graph -> the schema's register program.

Every body value is evaluated at a FlatMap (index_map.py) over the kernel's iteration space:
outputs at the identity map, elementwise ops pass their map to their operands, movement ops
(broadcast_in_dim, transpose, slice, reshape) transform it, and body parameters (the kernel's
inputs) become strided Views read by LOAD. A value needed at two different maps is computed twice
(e.g. a cheap convert feeding a broadcast). Identical instructions are shared (CSE).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.lowering import elementwise_ops, index_map
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.ir.ew_semantics import num_operands
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.lowering.index_map import FlatMap


class NotFusible(Exception):
    """The body cannot be expressed as one Elementwise kernel (internal to the fusion pass)."""


@dataclass(frozen=True)
class ViewSpec:
    input: int
    offset: int
    strides: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class InstrSpec:
    """One register instruction of the schema's Instr struct. Equality and hashing (the CSE key,
    an executable's round trip) compare imm_f by its bits: a NaN constant (jnp.take's fill
    value) equals itself, and -0.0 differs from 0.0."""
    op: str
    dtype: str
    a: int = 0
    b: int = 0
    c: int = 0
    imm_i: int = 0
    imm_f: float = 0.0

    def _key(self) -> tuple[str, str, int, int, int, int, bytes]:
        return (self.op, self.dtype, self.a, self.b, self.c, self.imm_i,
                struct.pack("<d", self.imm_f))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InstrSpec):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass
class EwProgram:
    dims: tuple[int, ...]
    views: list[ViewSpec] = field(default_factory=list)
    instrs: list[InstrSpec] = field(default_factory=list)
    results: list[tuple[int, int]] = field(default_factory=list)   # (register, output index)
    # body value -> the maps it was evaluated at (for the fusion heuristics)
    evaluations: dict[Value, set[FlatMap]] = field(default_factory=dict)

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    def to_text(self) -> str:
        lines = [f"dims={list(self.dims)}"]
        for i, v in enumerate(self.views):
            lines.append(f"  view{i}: input {v.input} offset {v.offset} strides {list(v.strides)}")
        for r, ins in enumerate(self.instrs):
            imm = ""
            if ins.op == "CONST":
                imm = f" {ins.imm_f if dtypes.info(ins.dtype).is_float else ins.imm_i}"
            elif ins.op == "REDUCE_PRECISION":
                imm = f" {ins.imm_i:#x}"
            nargs = {"LOAD": 1, "IOTA": 1, "CONST": 0}.get(ins.op)
            if nargs is None:
                nargs = num_operands(ins.op)
            args = [ins.a, ins.b, ins.c][:nargs]
            prefix = "view" if ins.op == "LOAD" else ("dim" if ins.op == "IOTA" else "r")
            lines.append(f"  r{r} = {ins.op}.{ins.dtype}({', '.join(prefix + str(x) for x in args)}){imm}")
        for reg, out in self.results:
            lines.append(f"  output {out} <- r{reg}")
        return "\n".join(lines)


class InstrBuilder:
    """Appends instructions, sharing identical ones."""

    def __init__(self, program: EwProgram):
        self.program = program
        self._cse: dict[InstrSpec, int] = {}
        self._views: dict[ViewSpec, int] = {}

    def emit(self, op: str, dtype: str, a: int = 0, b: int = 0, c: int = 0, *, imm_i: int = 0,
             imm_f: float = 0.0) -> int:
        ins = InstrSpec(op, dtype, a, b, c, int(imm_i), float(imm_f))
        reg = self._cse.get(ins)
        if reg is None:
            reg = len(self.program.instrs)
            self.program.instrs.append(ins)
            self._cse[ins] = reg
        return reg

    def const(self, dtype: str, value) -> int:
        if dtypes.info(dtype).is_float:
            return self.emit("CONST", dtype, imm_f=float(np.asarray(value, dtype=np.float64)))
        return self.emit("CONST", dtype, imm_i=int(np.asarray(value).astype(np.int64)))

    def load(self, view: ViewSpec, dtype: str) -> int:
        idx = self._views.get(view)
        if idx is None:
            idx = len(self.program.views)
            self.program.views.append(view)
            self._views[view] = idx
        return self.emit("LOAD", dtype, idx)

    def iota(self, dim: int) -> int:
        return self.emit("IOTA", "s32", dim)


def operand_maps(v: Value, fm: FlatMap, dims: tuple[int, ...]) -> list[tuple[Value, FlatMap]]:
    """The (operand, map) pairs needed to evaluate body value `v` at map `fm` over iteration
    space `dims`. Raises NotFusible when `v` cannot be computed there."""
    node = v.producer
    assert node is not None
    n = len(dims)
    spec = op_registry.lookup(node.op)
    kind = spec.kind if spec else ""
    if kind == "elementwise":
        out = []
        for o in node.operands:
            if o.type.shape == v.type.shape:
                out.append((o, fm))
            elif o.type.rank == 0:
                out.append((o, FlatMap.zero(n)))
            else:
                raise NotFusible(f"{node.op} operand shape {o.type} differs from {v.type}")
        return out
    if node.op == "stablehlo.reshape":
        return [(node.operands[0], fm)]
    if kind == "movement":
        mm = index_map.flat_to_multi(fm, v.type.shape, dims)
        if mm is None:
            raise NotFusible(f"{node.op} at a non-affine index map")
        src = node.operands[0]
        if node.op == "stablehlo.broadcast_in_dim":
            mm2 = index_map.through_broadcast(mm, src.type.shape, v.type.shape,
                                              node.attrs["broadcast_dimensions"], n)
        elif node.op == "stablehlo.transpose":
            mm2 = index_map.through_transpose(mm, node.attrs["permutation"])
        elif node.op == "stablehlo.slice":
            mm2 = index_map.through_slice(mm, node.attrs["start_indices"], node.attrs["strides"])
        elif node.op == "stablehlo.reverse":
            mm2 = index_map.through_reverse(mm, src.type.shape, node.attrs["dimensions"])
        else:
            raise NotFusible(node.op)
        return [(src, index_map.multi_to_flat(mm2, src.type.shape, dims))]
    if kind == "iota":
        if index_map.flat_to_multi(fm, v.type.shape, dims) is None:
            raise NotFusible("iota at a non-affine index map")
        return []
    if kind == "constant":
        if not node.attrs.get("splat") and v.type.num_elements != 1:
            raise NotFusible("non-splat constant inside a fused body")
        return []
    raise NotFusible(f"{node.op} cannot be part of an Elementwise kernel")


class _Generator:
    def __init__(self, body: Graph, dims: tuple[int, ...]):
        self.body = body
        self.dims = tuple(int(d) for d in dims)
        self.n = len(self.dims)
        self.program = EwProgram(self.dims)
        self.b = InstrBuilder(self.program)
        self.params = {p.value: i for i, p in enumerate(body.params)}
        self.memo: dict[tuple[Value, FlatMap], int] = {}

    def operand_maps(self, v: Value, fm: FlatMap) -> list[tuple[Value, FlatMap]]:
        return operand_maps(v, fm, self.dims)

    def emit_value(self, v: Value, fm: FlatMap, args: list[int]) -> int:
        if v in self.params:
            return self.b.load(ViewSpec(self.params[v], fm.offset, fm.strides), v.type.dtype)
        node = v.producer
        assert node is not None
        if node.op == "stablehlo.constant":
            if not node.attrs.get("splat") and node.result.type.num_elements != 1:
                raise NotFusible("non-splat constant inside a fused body")
            return self.b.const(v.type.dtype, np.asarray(node.attrs["value"]).reshape(-1)[0])
        if node.op == "stablehlo.iota":
            return self._iota(node, fm)
        spec = op_registry.lookup(node.op)
        if spec is not None and spec.kind == "movement":
            return args[0]
        return elementwise_ops.lower(self.b, node, args)

    def _iota(self, node: Node, fm: FlatMap) -> int:
        mm = index_map.flat_to_multi(fm, node.result.type.shape, self.dims)
        if mm is None:
            raise NotFusible("iota at a non-affine index map")
        d = node.attrs["iota_dimension"]
        terms = []
        for k, c in enumerate(mm.coeffs[d]):
            if c == 0:
                continue
            r = self.b.iota(k)
            if c != 1:
                r = self.b.emit("MUL", "s32", r, self.b.const("s32", c))
            terms.append(r)
        off = mm.offsets[d]
        if not terms:
            acc = self.b.const("s32", off)
        else:
            acc = terms[0]
            for t in terms[1:]:
                acc = self.b.emit("ADD", "s32", acc, t)
            if off:
                acc = self.b.emit("ADD", "s32", acc, self.b.const("s32", off))
        dtype = node.result.type.dtype
        return acc if dtype == "s32" else self.b.emit("CONVERT", dtype, acc)

    def value_at(self, root: Value, root_fm: FlatMap) -> int:
        """Register holding `root` at `root_fm` (iterative post-order, no recursion limit)."""
        root_key = (root, root_fm.normalized(self.dims))
        if root_key in self.memo:
            return self.memo[root_key]
        stack: list[tuple[Value, FlatMap, list[tuple[Value, FlatMap]] | None]] = [
            (root_key[0], root_key[1], None)]
        while stack:
            v, fm, deps = stack.pop()
            key = (v, fm)
            if key in self.memo:
                continue
            if deps is None:
                deps = [] if v in self.params else [
                    (o, m.normalized(self.dims)) for o, m in self.operand_maps(v, fm)]
                stack.append((v, fm, deps))
                for d in deps:
                    if d not in self.memo:
                        stack.append((d[0], d[1], None))
                continue
            args = [self.memo[d] for d in deps]
            self.memo[key] = self.emit_value(v, fm, args)
            self.program.evaluations.setdefault(v, set()).add(fm)
        return self.memo[root_key]

    def run(self) -> EwProgram:
        total = self.program.num_elements
        ident = FlatMap.identity(self.dims)
        for i, o in enumerate(self.body.outputs):
            if o.value.type.num_elements != total:
                raise NotFusible(f"output {o.value.type} does not fill the iteration space "
                                 f"{list(self.dims)}")
            self.program.results.append((self.value_at(o.value, ident), i))
        return self.program


def generate_body(body: Graph, dims: tuple[int, ...]) -> EwProgram:
    """Register program for a fused body. Raises NotFusible."""
    return _Generator(body, dims).run()


def program_for(node: Node) -> EwProgram:
    """The (cached) program of a chip.fusion node."""
    prog = node.attrs.get("program")
    if prog is None:
        assert node.body is not None, node.op
        prog = generate_body(node.body, tuple(node.attrs["dims"]))
        node.attrs["program"] = prog
    return prog
