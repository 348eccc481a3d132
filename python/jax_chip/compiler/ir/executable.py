"""In-memory model of a chip executable, mirroring pjrt_plugin/schema/chip_executable.fbs.

backend/emit.py writes it as a FlatBuffer; backend/inspect_executable.py reads a FlatBuffer back
into it; the reference interpreter runs it. Element types are dtype names ("f32"), enums are their
schema names ("PARAMETER", "SUM", "Elementwise"). Each kernel's own description (`KernelDesc.op`)
is defined by its kernel module (jax_chip.compiler.kernels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jax_chip.compiler.ir.graph import TensorType


@dataclass
class ValueDesc:
    type: TensorType
    storage: str          # PARAMETER, OUTPUT, TEMP, CONSTANT
    index: int
    name: str = ""


@dataclass
class ParameterDesc:
    value: int
    type: TensorType
    aliased_output: int = -1


@dataclass
class OutputDesc:
    value: int
    type: TensorType
    aliased_parameter: int = -1


@dataclass
class KernelCost:
    matrix_flops: float = 0.0
    matrix_dtype: str = "bf16"
    vector_flops: float = 0.0
    transcendentals: float = 0.0
    bytes_read: float = 0.0            # HBM
    bytes_written: float = 0.0         # HBM
    sram_bytes_read: float = 0.0       # arena temporaries in the on-chip SRAM
    sram_bytes_written: float = 0.0


@dataclass
class RegionDesc:
    """A nested kernel list of a control-flow kernel."""
    kernels: list["KernelDesc"] = field(default_factory=list)
    results: list[int] = field(default_factory=list)     # value ids


@dataclass
class KernelDesc:
    name: str
    source: str
    inputs: list[int]
    outputs: list[int]
    cost: KernelCost | None
    op: Any                  # the kernel's description (jax_chip.compiler.kernels.<kind>)

    @property
    def op_type(self) -> str:
        """The schema's KernelOp member ("Elementwise", ...)."""
        return self.op.OP_TYPE


@dataclass
class ExecutableDesc:
    format_version: int = 1
    name: str = ""
    fingerprint: str = ""
    compiler_version: str = ""
    num_replicas: int = 1
    num_partitions: int = 1
    values: list[ValueDesc] = field(default_factory=list)
    constants: list[bytes] = field(default_factory=list)
    parameters: list[ParameterDesc] = field(default_factory=list)
    outputs: list[OutputDesc] = field(default_factory=list)
    kernels: list[KernelDesc] = field(default_factory=list)
    arena_bytes: int = 0
    source_text: str = ""
