"""Reads a chip executable (FlatBuffer) back into an ExecutableDesc, and dumps it as text.

    python -m jax_chip.compiler.backend.inspect_executable file.chipx
"""

from __future__ import annotations

import argparse
import sys

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.errors import CompileError
from jax_chip.compiler.ir.executable import (
    ExecutableDesc,
    KernelCost,
    KernelDesc,
    OutputDesc,
    ParameterDesc,
    RegionDesc,
    ValueDesc,
)
from jax_chip.compiler.ir.graph import TensorType
from jax_chip.compiler.kernels import registry
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import Reader

_STORAGE = {0: "PARAMETER", 1: "OUTPUT", 2: "TEMP", 3: "CONSTANT"}
_KERNEL_OP_NAMES = {v: n for n, v in vars(fb.KernelOp.KernelOp).items() if not n.startswith("_")}
_str = Reader.string
_i64s = Reader.i64s


def _ttype(t) -> TensorType:
    name = dtypes.SCHEMA_TO_NAME.get(t.Dtype(), f"dtype{t.Dtype()}")
    return TensorType(name, _i64s(t, "Dims"))


def _read_op(k) -> object:
    t = k.OpType()
    kind = registry.BY_NAME.get(_KERNEL_OP_NAMES.get(t, ""))
    if kind is None:
        raise CompileError(f"kernel {_str(k.Name())} has unknown op type {t}")
    return kind.read(k.Op(), _READER)


def read_executable(data: bytes) -> ExecutableDesc:
    buf = bytearray(data)
    if len(buf) < 8 or not fb.Executable.Executable.ExecutableBufferHasIdentifier(buf, 0):
        raise CompileError("not a chip executable (missing file identifier CHPX)")
    x = fb.Executable.Executable.GetRootAs(buf, 0)
    exe = ExecutableDesc(
        format_version=x.FormatVersion(), name=_str(x.Name()), fingerprint=_str(x.Fingerprint()),
        compiler_version=_str(x.CompilerVersion()), num_replicas=x.NumReplicas(),
        num_partitions=x.NumPartitions(), arena_bytes=x.ArenaBytes(),
        source_text=_str(x.SourceText()))
    for i in range(x.ValuesLength()):
        v = x.Values(i)
        exe.values.append(ValueDesc(_ttype(v.Type()), _STORAGE[v.Storage()], v.Index(),
                                    _str(v.Name())))
    for i in range(x.ConstantsLength()):
        c = x.Constants(i)
        exe.constants.append(c.DataAsNumpy().tobytes() if c.DataLength() else b"")
    for i in range(x.ParametersLength()):
        p = x.Parameters(i)
        exe.parameters.append(ParameterDesc(p.Value(), _ttype(p.Type()), p.AliasedOutput()))
    for i in range(x.OutputsLength()):
        o = x.Outputs(i)
        exe.outputs.append(OutputDesc(o.Value(), _ttype(o.Type()), o.AliasedParameter()))
    exe.kernels = [_read_kernel(x.Kernels(i)) for i in range(x.KernelsLength())]
    return exe


def _read_kernel(k) -> KernelDesc:
    c = k.Cost()
    cost = None
    if c is not None:
        cost = KernelCost(c.MatrixFlops(), dtypes.SCHEMA_TO_NAME.get(c.MatrixDtype(), "bf16"),
                          c.VectorFlops(), c.Transcendentals(), c.BytesRead(), c.BytesWritten(),
                          c.SramBytesRead(), c.SramBytesWritten())
    return KernelDesc(_str(k.Name()), _str(k.Source()), [int(j) for j in _i64s(k, "Inputs")],
                      [int(j) for j in _i64s(k, "Outputs")], cost, _read_op(k))


def _read_region(r) -> RegionDesc:
    if r is None:
        raise CompileError("control-flow kernel without its region")
    return RegionDesc([_read_kernel(r.Kernels(i)) for i in range(r.KernelsLength())],
                      [int(j) for j in _i64s(r, "Results")])


_READER = Reader(_read_region)


def constant_offsets(data: bytes) -> list[int]:
    """Byte offsets of each constant's data inside the buffer (for alignment checks)."""
    buf = bytearray(data)
    x = fb.Executable.Executable.GetRootAs(buf, 0)
    out = []
    for i in range(x.ConstantsLength()):
        c = x.Constants(i)
        o = c._tab.Offset(4)
        out.append(c._tab.Vector(o) if o else -1)
    return out


def _fmt_cost(c: KernelCost | None) -> str:
    if c is None:
        return "cost: none"
    parts = []
    if c.matrix_flops:
        parts.append(f"matrix_flops={c.matrix_flops:.4g} ({c.matrix_dtype})")
    if c.vector_flops:
        parts.append(f"vector_flops={c.vector_flops:.4g}")
    if c.transcendentals:
        parts.append(f"transcendentals={c.transcendentals:.4g}")
    parts.append(f"read={c.bytes_read:.4g}B written={c.bytes_written:.4g}B")
    if c.sram_bytes_read or c.sram_bytes_written:
        parts.append(f"sram_read={c.sram_bytes_read:.4g}B sram_written={c.sram_bytes_written:.4g}B")
    return "cost: " + " ".join(parts)


def dump(exe: ExecutableDesc) -> str:
    lines = [f"executable {exe.name!r} format_version={exe.format_version} "
             f"compiler={exe.compiler_version!r}",
             f"fingerprint {exe.fingerprint}",
             f"replicas={exe.num_replicas} partitions={exe.num_partitions} "
             f"arena_bytes={exe.arena_bytes}",
             f"values ({len(exe.values)}):"]
    for i, v in enumerate(exe.values):
        lines.append(f"  v{i} {v.name} {v.type} {v.storage}[{v.index}]")
    lines.append(f"constants ({len(exe.constants)}): " +
                 ", ".join(f"#{i}: {len(c)}B" for i, c in enumerate(exe.constants)))
    for i, p in enumerate(exe.parameters):
        alias = f" aliased_output={p.aliased_output}" if p.aliased_output >= 0 else ""
        lines.append(f"parameter {i}: v{p.value} {p.type}{alias}")
    for i, o in enumerate(exe.outputs):
        alias = f" aliased_parameter={o.aliased_parameter}" if o.aliased_parameter >= 0 else ""
        lines.append(f"output {i}: v{o.value} {o.type}{alias}")
    lines.append(f"kernels ({len(exe.kernels)}):")
    _dump_kernels(exe.kernels, lines, "  ")
    return "\n".join(lines)


def _dump_kernels(kernels: list[KernelDesc], lines: list[str], indent: str) -> None:
    for k in kernels:
        ins = ", ".join(f"v{i}" for i in k.inputs)
        outs = ", ".join(f"v{i}" for i in k.outputs)
        lines.append(f"{indent}{k.name}: {k.op_type}({ins}) -> {outs}" +
                     (f"   # {k.source}" if k.source else ""))
        sub = indent + "  "
        lines.append(f"{sub}{_fmt_cost(k.cost)}")
        kind = registry.for_desc(k.op)
        lines.extend(sub + line for line in kind.text(k.op, _kernels_text))


def _kernels_text(region: RegionDesc) -> list[str]:
    lines: list[str] = []
    _dump_kernels(region.kernels, lines, "")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Dump a chip executable (.chipx)")
    ap.add_argument("file")
    args = ap.parse_args(argv)
    with open(args.file, "rb") as f:
        data = f.read()
    try:
        print(dump(read_executable(data)))
    except CompileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
