"""What every kernel module provides and shares.

A kernel kind (`KernelKind`) is one member of the schema's KernelOp union
(pjrt_plugin/schema/chip_executable.fbs) with everything the compiler does with it, in its own
module of this package: which graph ops become it, its description (a dataclass with `OP_TYPE`),
how a graph node is lowered to that description, how the description is written to and read
from the FlatBuffer, its text form, its static cost, which results update an operand in place,
and (for the compiler tests' reference interpreter, tests/compiler/reference_interpreter.py) how
it is evaluated: data movement, dots and reductions in numpy, Elementwise programs by the chip's
own kernel (Evaluation.run_elementwise). `kernels.registry` lists the
kinds; the emitter, the reader, the cost pass and the interpreter look kinds up there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import flatbuffers
import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.ew_semantics import EWOP_NAMES, EWOPS
from jax_chip.compiler.ir.executable import KernelCost, KernelDesc, RegionDesc
from jax_chip.compiler.ir.graph import Graph, Node, TensorType
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.lowering.ew_codegen import InstrSpec


class InterpreterError(Exception):
    """The reference interpreter cannot run a kernel (bad views, unknown kernel, ...)."""


class Lowerer(Protocol):
    """What a kernel's `lower` may ask of the emitter: the nested kernel list of a region."""

    def region(self, graph: Graph) -> RegionDesc: ...


class Evaluation(Protocol):
    """One kernel being run by the reference interpreter."""

    kernel: KernelDesc
    inputs: list[np.ndarray]          # storage arrays (bf16 as ml_dtypes.bfloat16)
    input_types: list[TensorType]
    output_types: list[TensorType]

    def run_region(self, region: RegionDesc) -> None: ...

    def run_elementwise(self, op: Any, inputs: Sequence[np.ndarray],
                        input_dtypes: Sequence[str]) -> list[np.ndarray]:
        """The outputs of an Elementwise program (a kernel's or a Reduce prologue's) as storage
        arrays, computed by the chip's own Elementwise kernel: the instructions' numerics live
        only in the kernels."""
        ...

    def array(self, value_id: int) -> np.ndarray: ...

    def assign(self, sources: Sequence[int], destinations: Sequence[int]) -> None: ...


def as_compute(x: np.ndarray, dtype: str) -> np.ndarray:
    """Storage array -> compute array: floats as f32, integers and pred as int64."""
    return np.asarray(x).astype(np.float32 if dtypes.info(dtype).is_float else np.int64)


def to_storage(x: np.ndarray, dtype: str) -> np.ndarray:
    """Compute array -> storage array of `dtype` (floats rounded to nearest even, integers
    wrapped, pred as bool)."""
    x = np.asarray(x)
    if dtype == "pred":
        return x != 0
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dtypes.numpy_dtype(dtype))


class Writer:
    """FlatBuffer writing helpers around one builder; `region` writes a nested kernel list
    (set by the emitter, which owns the Kernel table)."""

    def __init__(self, region: Callable[["Writer", RegionDesc], int]):
        self.b = flatbuffers.Builder(1 << 16)
        self._strings: dict[str, int] = {}
        self._region = region

    def region(self, region: RegionDesc) -> int:
        return self._region(self, region)

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

    def instrs(self, start_vector: Callable[[Any, int], Any], instrs: Sequence[InstrSpec]) -> int:
        """A vector of Instr structs (Elementwise.instrs, RegionProgram.instrs)."""
        start_vector(self.b, len(instrs))
        for ins in reversed(instrs):
            fb.Instr.CreateInstr(self.b, EWOPS[ins.op], dtypes.info(ins.dtype).schema, ins.a,
                                 ins.b, ins.c, ins.imm_i, ins.imm_f)
        return self.b.EndVector()


class Reader:
    """FlatBuffer reading helpers; `region` reads a nested kernel list (set by the reader of
    executables, which owns the Kernel table)."""

    def __init__(self, region: Callable[[Any], RegionDesc]):
        self.region = region

    @staticmethod
    def table(cls: type, tab: Any) -> Any:
        obj = cls()
        obj.Init(tab.Bytes, tab.Pos)
        return obj

    @staticmethod
    def i64s(obj: Any, name: str) -> tuple[int, ...]:
        n = getattr(obj, name + "Length")()
        get = getattr(obj, name)
        return tuple(int(get(i)) for i in range(n))

    @staticmethod
    def string(x: Any) -> str:
        if x is None:
            return ""
        return x.decode("utf-8") if isinstance(x, bytes) else str(x)

    @staticmethod
    def instrs(obj: Any) -> list[InstrSpec]:
        out = []
        for i in range(obj.InstrsLength()):
            ins = obj.Instrs(i)
            out.append(InstrSpec(EWOP_NAMES.get(ins.Op(), f"EWOP{ins.Op()}"),
                                 dtypes.SCHEMA_TO_NAME.get(ins.Dtype(), f"dtype{ins.Dtype()}"),
                                 ins.A(), ins.B(), ins.C(), ins.ImmI(), ins.ImmF()))
        return out


# text(desc, kernels_text) -> lines (unindented); kernels_text(region) gives a nested kernel
# list's lines
RegionText = Callable[[RegionDesc], list[str]]


def one_line(desc: Any, kernels_text: RegionText) -> list[str]:
    """The text form of a description with a to_text() method."""
    return [desc.to_text()]


def no_lines(desc: Any, kernels_text: RegionText) -> list[str]:
    return []


def copies_bytes(node: Node, ctx: PassContext) -> KernelCost:
    """Memory only: every operand read whole, every result written."""
    return KernelCost(bytes_read=float(sum(o.type.nbytes for o in node.operands)),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


@dataclass(frozen=True)
class KernelKind:
    name: str                                              # the schema's KernelOp member
    ops: tuple[str, ...]                                   # graph ops emitted as this kernel
    desc: type                                             # its description (has OP_TYPE)
    lower: Callable[[Node, Lowerer], Any]                  # node -> description
    write: Callable[[Writer, Any], int]                    # description -> table offset
    read: Callable[[Any, Reader], Any]                     # union table -> description
    text: Callable[[Any, RegionText], list[str]]           # description -> dump lines
    cost: Callable[[Node, PassContext], KernelCost | None] | None = None
    # the reference interpreter: outputs in order, or None when the kernel wrote them itself
    evaluate: Callable[[Any, Evaluation], list[np.ndarray] | None] | None = None
    # results the kernel computes by updating an operand in place when they share storage:
    # [(result index, operand index)]
    in_place: Callable[[Node], list[tuple[int, int]]] | None = None
    # kernel name prefix in the executable and traces (default: the op without its dialect)
    trace_name: Callable[[Node], str] | None = None

    def kernel_name(self, node: Node) -> str:
        return self.trace_name(node) if self.trace_name is not None else node.short_op
