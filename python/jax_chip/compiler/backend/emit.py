"""Emission: the final graph (kernels in order, memory plan, costs) -> ExecutableDesc -> FlatBuffer.

Top-level nodes after the pipeline are kernels (chip.fusion -> Elementwise, dot_general ->
DotGeneral, reduce -> Reduce, concatenate -> Concatenate, chip.copy -> Copy) or storage-only
nodes (constants: CONSTANT storage; reshapes: an alias of their operand's storage).
"""

from __future__ import annotations

import flatbuffers
import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.ir.errors import CompileError, at
from jax_chip.compiler.lowering.ew_codegen import program_for
from jax_chip.compiler.ir.executable import (
    ConcatenateOp,
    CopyOp,
    DotGeneralOp,
    ElementwiseOp,
    ExecutableDesc,
    KernelCost,
    KernelDesc,
    OutputDesc,
    ParameterDesc,
    ReduceOp,
    ValueDesc,
)
from jax_chip.compiler.ir.executable import CaseOp, RegionDesc, WhileOp
from jax_chip.compiler.ir.ew_semantics import EWOPS
from jax_chip.compiler.ir.graph import Graph, Node, TensorType, Value

KERNEL_OPS = {
    "chip.fusion": "fusion",
    "stablehlo.dot_general": "dot_general",
    "stablehlo.reduce": "reduce",
    "stablehlo.concatenate": "concatenate",
    "chip.copy": "copy",
    "stablehlo.while": "while",
    "stablehlo.case": "case",
}
CONTROL_FLOW_OPS = frozenset({"stablehlo.while", "stablehlo.case"})
STORAGE_ONLY_OPS = frozenset({"stablehlo.constant", "stablehlo.reshape"})
# Kernels registered with an `emit` hook (lower_indexing.py: gather, scatter, sort, ...).
KERNEL_OPS.update({name: name.split(".", 1)[-1] for name, spec in op_registry.REGISTRY.items()
                   if spec.emit is not None})


def is_kernel(node: Node) -> bool:
    return node.op in KERNEL_OPS


def _elementwise_op(fusion: Node) -> ElementwiseOp:
    prog = program_for(fusion)
    return ElementwiseOp(tuple(prog.dims), list(prog.views), list(prog.instrs),
                         list(prog.results))


def _kernel_op(node: Node):
    if node.op == "chip.fusion":
        return _elementwise_op(node)
    if node.op == "stablehlo.dot_general":
        a = node.attrs
        return DotGeneralOp(tuple(a["lhs_batch"]), tuple(a["rhs_batch"]),
                            tuple(a["lhs_contracting"]), tuple(a["rhs_contracting"]))
    if node.op == "stablehlo.reduce":
        prologue = node.attrs.get("prologue")
        return ReduceOp(tuple(node.attrs["dimensions"]), node.attrs["reduce_op"],
                        _elementwise_op(prologue) if prologue is not None else None)
    if node.op == "stablehlo.concatenate":
        return ConcatenateOp(int(node.attrs["dimension"]))
    if node.op == "chip.copy":
        return CopyOp()
    spec = op_registry.lookup(node.op)
    if spec is not None and spec.emit is not None:
        return spec.emit(node)
    raise CompileError(f"internal compiler error: {node.op} reached the emitter{at(node.loc)}")


def build_executable(graph: Graph, *, name: str = "", fingerprint: str = "",
                     compiler_version: str = "", source_text: str = "") -> ExecutableDesc:
    storage: dict[Value, tuple[str, int]] = graph.attrs["storage"]
    exe = ExecutableDesc(name=name or graph.name, fingerprint=fingerprint,
                         compiler_version=compiler_version, source_text=source_text)
    ids: dict[Value, int] = {}

    def add_value(v: Value) -> None:
        if v in ids:
            return
        kind, index = storage[v]
        ids[v] = len(exe.values)
        exe.values.append(ValueDesc(v.type, kind, int(index), v.name))

    for p in graph.params:
        add_value(p.value)

    def add_graph_values(g: Graph) -> None:
        for n in g.nodes:
            for r in n.results:
                add_value(r)
            for region in n.regions:
                for p in region.params:
                    add_value(p.value)
                add_graph_values(region)

    add_graph_values(graph)
    exe.constants = list(graph.attrs.get("constants", []))
    for p in graph.params:
        exe.parameters.append(ParameterDesc(ids[p.value], p.value.type, p.aliased_output))
    for o in graph.outputs:
        exe.outputs.append(OutputDesc(ids[o.value], o.value.type, o.aliased_parameter))
    counter = 0

    def kernels_of(g: Graph) -> list[KernelDesc]:
        nonlocal counter
        out: list[KernelDesc] = []
        for n in g.nodes:
            if n.op in STORAGE_ONLY_OPS:
                continue
            name = f"{KERNEL_OPS[n.op]}.{counter}" if n.op in KERNEL_OPS else n.op
            if n.op == "chip.custom_call":   # traces name the native kernel: "paged_kv_write.3"
                name = f"{n.attrs['target'].split('.', 1)[-1]}.{counter}"
            counter += 1
            if n.op in CONTROL_FLOW_OPS:
                regions = [RegionDesc(kernels_of(r), [ids[o.value] for o in r.outputs])
                           for r in n.regions]
                op = (WhileOp(regions[0], regions[1], int(n.attrs["num_carried"]))
                      if n.op == "stablehlo.while" else CaseOp(regions))
            else:
                op = _kernel_op(n)
            out.append(KernelDesc(
                name=name, source=n.loc,
                inputs=[ids[o] for o in n.operands], outputs=[ids[r] for r in n.results],
                cost=n.attrs.get("cost"), op=op))
        return out

    exe.kernels = kernels_of(graph)
    exe.arena_bytes = int(graph.attrs.get("arena_bytes", 0))
    return exe


def constant_bytes(value: np.ndarray, t: TensorType) -> bytes:
    """Raw little-endian bytes of a constant of type t (splats are expanded)."""
    arr = np.broadcast_to(np.asarray(value), t.shape)
    if t.dtype == "pred":
        return np.ascontiguousarray(arr.astype(np.uint8)).tobytes()
    return np.ascontiguousarray(arr.astype(dtypes.numpy_dtype(t.dtype).newbyteorder("<"))).tobytes()


# ---- FlatBuffer serialization ---------------------------------------------------------------

class _Writer:
    def __init__(self):
        self.b = flatbuffers.Builder(1 << 16)
        self._strings: dict[str, int] = {}

    def string(self, s: str) -> int:
        off = self._strings.get(s)
        if off is None:
            off = self.b.CreateString(s)
            self._strings[s] = off
        return off

    def i64s(self, xs) -> int:
        return self.b.CreateNumpyVector(np.asarray(list(xs), dtype=np.int64))

    def i32s(self, xs) -> int:
        return self.b.CreateNumpyVector(np.asarray(list(xs), dtype=np.int32))

    def offsets(self, start_fn, offs: list[int]) -> int:
        start_fn(self.b, len(offs))
        for off in reversed(offs):
            self.b.PrependUOffsetTRelative(off)
        return self.b.EndVector()

    def aligned_bytes(self, data: bytes, alignment: int = 64) -> int:
        b = self.b
        b.StartVector(1, len(data), alignment)
        b.head = b.head - len(data)
        b.Bytes[b.head:b.head + len(data)] = data
        b.vectorNumElems = len(data)
        return b.EndVector()

    def tensor_type(self, t: TensorType) -> int:
        dims = self.i64s(t.shape)
        fb.TensorType.TensorTypeStart(self.b)
        fb.TensorType.TensorTypeAddDtype(self.b, dtypes.info(t.dtype).schema)
        fb.TensorType.TensorTypeAddDims(self.b, dims)
        return fb.TensorType.TensorTypeEnd(self.b)


_STORAGE = {"PARAMETER": 0, "OUTPUT": 1, "TEMP": 2, "CONSTANT": 3}
_REDUCE = {"SUM": 0, "PRODUCT": 1, "MAX": 2, "MIN": 3, "AND": 4, "OR": 5, "XOR": 6}
_KOP = {"Elementwise": 1, "DotGeneral": 2, "Reduce": 3, "Concatenate": 4, "Copy": 5, "While": 6,
        "Case": 7}
_KOP.update({name: getattr(fb.KernelOp.KernelOp, name) for name in
             ("Gather", "Scatter", "DynamicSlice", "DynamicUpdateSlice", "Pad", "Sort", "TopK",
              "VariadicReduce", "ReduceWindow")})
_KOP["CustomCall"] = fb.KernelOp.KernelOp.CustomCall   # native kernels (custom_call_kernel.py)
_KOP["Convolution"] = fb.KernelOp.KernelOp.Convolution   # lower_convolution.py


def _write_cost(w: _Writer, c: KernelCost) -> int:
    b = w.b
    fb.KernelCost.KernelCostStart(b)
    fb.KernelCost.KernelCostAddMatrixFlops(b, float(c.matrix_flops))
    fb.KernelCost.KernelCostAddMatrixDtype(b, dtypes.info(c.matrix_dtype).schema)
    fb.KernelCost.KernelCostAddVectorFlops(b, float(c.vector_flops))
    fb.KernelCost.KernelCostAddTranscendentals(b, float(c.transcendentals))
    fb.KernelCost.KernelCostAddBytesRead(b, float(c.bytes_read))
    fb.KernelCost.KernelCostAddBytesWritten(b, float(c.bytes_written))
    fb.KernelCost.KernelCostAddSramBytesRead(b, float(c.sram_bytes_read))
    fb.KernelCost.KernelCostAddSramBytesWritten(b, float(c.sram_bytes_written))
    return fb.KernelCost.KernelCostEnd(b)


def _write_op(w: _Writer, op) -> int:
    b = w.b
    if isinstance(op, ElementwiseOp):
        dims = w.i64s(op.dims)
        views = []
        for v in op.views:
            strides = w.i64s(v.strides)
            fb.View.ViewStart(b)
            fb.View.ViewAddInput(b, v.input)
            fb.View.ViewAddOffset(b, v.offset)
            fb.View.ViewAddStrides(b, strides)
            views.append(fb.View.ViewEnd(b))
        views_vec = w.offsets(fb.Elementwise.ElementwiseStartViewsVector, views)
        fb.Elementwise.ElementwiseStartInstrsVector(b, len(op.instrs))
        for ins in reversed(op.instrs):
            fb.Instr.CreateInstr(b, EWOPS[ins.op], dtypes.info(ins.dtype).schema, ins.a, ins.b,
                                 ins.c, ins.imm_i, ins.imm_f)
        instrs_vec = b.EndVector()
        results = []
        for reg, out in op.results:
            fb.ElementwiseResult.ElementwiseResultStart(b)
            fb.ElementwiseResult.ElementwiseResultAddReg(b, reg)
            fb.ElementwiseResult.ElementwiseResultAddOutput(b, out)
            results.append(fb.ElementwiseResult.ElementwiseResultEnd(b))
        results_vec = w.offsets(fb.Elementwise.ElementwiseStartResultsVector, results)
        fb.Elementwise.ElementwiseStart(b)
        fb.Elementwise.ElementwiseAddDims(b, dims)
        fb.Elementwise.ElementwiseAddViews(b, views_vec)
        fb.Elementwise.ElementwiseAddInstrs(b, instrs_vec)
        fb.Elementwise.ElementwiseAddResults(b, results_vec)
        return fb.Elementwise.ElementwiseEnd(b)
    if isinstance(op, DotGeneralOp):
        vecs = [w.i64s(x) for x in (op.lhs_batch, op.rhs_batch, op.lhs_contracting,
                                      op.rhs_contracting)]
        fb.DotGeneral.DotGeneralStart(b)
        fb.DotGeneral.DotGeneralAddLhsBatch(b, vecs[0])
        fb.DotGeneral.DotGeneralAddRhsBatch(b, vecs[1])
        fb.DotGeneral.DotGeneralAddLhsContracting(b, vecs[2])
        fb.DotGeneral.DotGeneralAddRhsContracting(b, vecs[3])
        return fb.DotGeneral.DotGeneralEnd(b)
    if isinstance(op, ReduceOp):
        prologue = _write_op(w, op.prologue) if op.prologue is not None else None
        dims = w.i64s(op.dims)
        fb.Reduce.ReduceStart(b)
        fb.Reduce.ReduceAddDims(b, dims)
        fb.Reduce.ReduceAddOp(b, _REDUCE[op.op])
        if prologue is not None:
            fb.Reduce.ReduceAddPrologue(b, prologue)
        return fb.Reduce.ReduceEnd(b)
    if isinstance(op, ConcatenateOp):
        fb.Concatenate.ConcatenateStart(b)
        fb.Concatenate.ConcatenateAddDim(b, op.dim)
        return fb.Concatenate.ConcatenateEnd(b)
    if isinstance(op, CopyOp):
        fb.Copy.CopyStart(b)
        return fb.Copy.CopyEnd(b)
    if isinstance(op, WhileOp):
        cond = _write_region(w, op.cond)
        body = _write_region(w, op.body)
        fb.While.WhileStart(b)
        fb.While.WhileAddCond(b, cond)
        fb.While.WhileAddBody(b, body)
        fb.While.WhileAddNumCarried(b, op.num_carried)
        return fb.While.WhileEnd(b)
    if isinstance(op, CaseOp):
        branches = [_write_region(w, r) for r in op.branches]
        bvec = w.offsets(fb.Case.CaseStartBranchesVector, branches)
        fb.Case.CaseStart(b)
        fb.Case.CaseAddBranches(b, bvec)
        return fb.Case.CaseEnd(b)
    if hasattr(op, "write"):      # kernel ops that write their own table (lower_indexing.py)
        return op.write(w)
    raise TypeError(op)


def _write_kernels(w: _Writer, descs: list[KernelDesc]) -> list[int]:
    b = w.b
    kernels = []
    for k in descs:
        name = w.string(k.name)
        source = w.string(k.source)
        ins = w.i32s(k.inputs)
        outs = w.i32s(k.outputs)
        cost = _write_cost(w, k.cost) if k.cost is not None else None
        op = _write_op(w, k.op)
        fb.Kernel.KernelStart(b)
        fb.Kernel.KernelAddName(b, name)
        fb.Kernel.KernelAddSource(b, source)
        fb.Kernel.KernelAddInputs(b, ins)
        fb.Kernel.KernelAddOutputs(b, outs)
        if cost is not None:
            fb.Kernel.KernelAddCost(b, cost)
        fb.Kernel.KernelAddOpType(b, _KOP[k.op_type])
        fb.Kernel.KernelAddOp(b, op)
        kernels.append(fb.Kernel.KernelEnd(b))
    return kernels


def _write_region(w: _Writer, region: RegionDesc) -> int:
    kernels = _write_kernels(w, region.kernels)
    kvec = w.offsets(fb.Region.RegionStartKernelsVector, kernels)
    results = w.i32s(region.results)
    fb.Region.RegionStart(w.b)
    fb.Region.RegionAddKernels(w.b, kvec)
    fb.Region.RegionAddResults(w.b, results)
    return fb.Region.RegionEnd(w.b)


def serialize(exe: ExecutableDesc) -> bytes:
    w = _Writer()
    b = w.b
    values = []
    for v in exe.values:
        name = w.string(v.name)
        t = w.tensor_type(v.type)
        fb.Value.ValueStart(b)
        fb.Value.ValueAddType(b, t)
        fb.Value.ValueAddStorage(b, _STORAGE[v.storage])
        fb.Value.ValueAddIndex(b, v.index)
        fb.Value.ValueAddName(b, name)
        values.append(fb.Value.ValueEnd(b))
    constants = []
    for data in exe.constants:
        d = w.aligned_bytes(bytes(data))
        fb.Constant.ConstantStart(b)
        fb.Constant.ConstantAddData(b, d)
        constants.append(fb.Constant.ConstantEnd(b))
    params = []
    for p in exe.parameters:
        t = w.tensor_type(p.type)
        fb.Parameter.ParameterStart(b)
        fb.Parameter.ParameterAddValue(b, p.value)
        fb.Parameter.ParameterAddType(b, t)
        fb.Parameter.ParameterAddAliasedOutput(b, p.aliased_output)
        params.append(fb.Parameter.ParameterEnd(b))
    outputs = []
    for o in exe.outputs:
        t = w.tensor_type(o.type)
        fb.Output.OutputStart(b)
        fb.Output.OutputAddValue(b, o.value)
        fb.Output.OutputAddType(b, t)
        fb.Output.OutputAddAliasedParameter(b, o.aliased_parameter)
        outputs.append(fb.Output.OutputEnd(b))
    kernels = _write_kernels(w, exe.kernels)
    values_vec = w.offsets(fb.Executable.ExecutableStartValuesVector, values)
    constants_vec = w.offsets(fb.Executable.ExecutableStartConstantsVector, constants)
    params_vec = w.offsets(fb.Executable.ExecutableStartParametersVector, params)
    outputs_vec = w.offsets(fb.Executable.ExecutableStartOutputsVector, outputs)
    kernels_vec = w.offsets(fb.Executable.ExecutableStartKernelsVector, kernels)
    name = w.string(exe.name)
    fingerprint = w.string(exe.fingerprint)
    version = w.string(exe.compiler_version)
    source = w.string(exe.source_text) if exe.source_text else None
    fb.Executable.ExecutableStart(b)
    fb.Executable.ExecutableAddFormatVersion(b, exe.format_version)
    fb.Executable.ExecutableAddName(b, name)
    fb.Executable.ExecutableAddFingerprint(b, fingerprint)
    fb.Executable.ExecutableAddCompilerVersion(b, version)
    fb.Executable.ExecutableAddNumReplicas(b, exe.num_replicas)
    fb.Executable.ExecutableAddNumPartitions(b, exe.num_partitions)
    fb.Executable.ExecutableAddValues(b, values_vec)
    fb.Executable.ExecutableAddConstants(b, constants_vec)
    fb.Executable.ExecutableAddParameters(b, params_vec)
    fb.Executable.ExecutableAddOutputs(b, outputs_vec)
    fb.Executable.ExecutableAddKernels(b, kernels_vec)
    fb.Executable.ExecutableAddArenaBytes(b, exe.arena_bytes)
    if source is not None:
        fb.Executable.ExecutableAddSourceText(b, source)
    root = fb.Executable.ExecutableEnd(b)
    b.Finish(root, file_identifier=fb.FILE_IDENTIFIER)
    return bytes(b.Output())
