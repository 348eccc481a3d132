"""Emission: the final graph (kernels in order, memory plan, costs) -> ExecutableDesc -> FlatBuffer.

Top-level nodes after the pipeline are kernels (each kernel kind's module in
jax_chip.compiler.kernels says which graph ops it takes and lowers, writes and names them; the
table is kernels/registry.py) or storage-only nodes (constants: CONSTANT storage; reshapes: an
alias of their operand's storage).
"""

from __future__ import annotations


from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.errors import CompileError, at
from jax_chip.compiler.ir.executable import (
    ExecutableDesc,
    KernelCost,
    KernelDesc,
    OutputDesc,
    ParameterDesc,
    RegionDesc,
    ValueDesc,
)
from jax_chip.compiler.ir.graph import Graph, Value
from jax_chip.compiler.kernels import registry
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import Writer

class _Lowerer:
    """Lowers control-flow regions to nested kernel lists (kernels' `lower` hook)."""

    def __init__(self, kernels_of, ids: dict[Value, int]):
        self._kernels_of = kernels_of
        self._ids = ids

    def region(self, graph: Graph) -> RegionDesc:
        return RegionDesc(self._kernels_of(graph), [self._ids[o.value] for o in graph.outputs])

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
            if n.op in registry.STORAGE_ONLY_OPS:
                continue
            kind = registry.for_node(n)
            if kind is None:
                raise CompileError(f"internal compiler error: {n.op} reached the emitter"
                                   f"{at(n.loc)}")
            name = f"{kind.kernel_name(n)}.{counter}"
            counter += 1
            op = kind.lower(n, lowerer)
            out.append(KernelDesc(
                name=name, source=n.loc,
                inputs=[ids[o] for o in n.operands], outputs=[ids[r] for r in n.results],
                cost=n.attrs.get("cost"), op=op))
        return out

    lowerer = _Lowerer(kernels_of, ids)
    exe.kernels = kernels_of(graph)
    exe.arena_bytes = int(graph.attrs.get("arena_bytes", 0))
    return exe



# ---- FlatBuffer serialization ---------------------------------------------------------------

_STORAGE = {"PARAMETER": 0, "OUTPUT": 1, "TEMP": 2, "CONSTANT": 3}


def _write_cost(w: Writer, c: KernelCost) -> int:
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


def _write_kernels(w: Writer, descs: list[KernelDesc]) -> list[int]:
    b = w.b
    kernels = []
    for k in descs:
        name = w.string(k.name)
        source = w.string(k.source)
        ins = w.i32s(k.inputs)
        outs = w.i32s(k.outputs)
        cost = _write_cost(w, k.cost) if k.cost is not None else None
        kind = registry.for_desc(k.op)
        op = kind.write(w, k.op)
        fb.Kernel.KernelStart(b)
        fb.Kernel.KernelAddName(b, name)
        fb.Kernel.KernelAddSource(b, source)
        fb.Kernel.KernelAddInputs(b, ins)
        fb.Kernel.KernelAddOutputs(b, outs)
        if cost is not None:
            fb.Kernel.KernelAddCost(b, cost)
        fb.Kernel.KernelAddOpType(b, getattr(fb.KernelOp.KernelOp, kind.name))
        fb.Kernel.KernelAddOp(b, op)
        kernels.append(fb.Kernel.KernelEnd(b))
    return kernels


def _write_region(w: Writer, region: RegionDesc) -> int:
    kernels = _write_kernels(w, region.kernels)
    kvec = w.offsets(fb.Region.RegionStartKernelsVector, kernels)
    results = w.i32s(region.results)
    fb.Region.RegionStart(w.b)
    fb.Region.RegionAddKernels(w.b, kvec)
    fb.Region.RegionAddResults(w.b, results)
    return fb.Region.RegionEnd(w.b)


def serialize(exe: ExecutableDesc) -> bytes:
    w = Writer(_write_region)
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
