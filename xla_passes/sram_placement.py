"""SRAM placement: which kernel bytes move between the compute units and the on-chip SRAM
instead of HBM.

The chip has a scratchpad SRAM (sram_bytes, 128 MiB by default; docs/chip-model.md). The arena
that memory planning lays out holds the program's temporaries; its first sram_bytes are the
SRAM, the rest is HBM. A temporary whose whole slot lies below sram_bytes is SRAM-resident:
the kernels that write and read it move those bytes at the SRAM's bandwidth. Parameters,
outputs and constants live in HBM. So memory planning's liveness-based packing (a smaller arena)
keeps more of the working set on chip, which the cost model rewards.

Runs after cost annotation, on the whole program: for every kernel (regions included) the
bytes it writes to SRAM-resident results move from bytes_written to sram_bytes_written, and
the bytes it reads of SRAM-resident operands from bytes_read to sram_bytes_read (exactly, per
operand: see _reads).
Custom calls report their work at run time and count it as HBM.
"""

from __future__ import annotations

from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.kernels.elementwise import operand_bytes_read
from jax_chip.compiler.ir.pass_api import Pass, Scope

Storage = dict[Value, tuple[str, int]]


def in_sram(v: Value, storage: Storage, sram_bytes: int) -> bool:
    kind, offset = storage.get(v, ("", 0))
    return kind == "TEMP" and offset + v.type.nbytes <= sram_bytes


def _reads(node: Node, recorded: float) -> list[float]:
    """Bytes read of each operand: per view for fused kernels; otherwise every operand but the
    first is read whole and the first gets the rest of the recorded reads (exact for dot,
    copy, concatenate, reduce, sort, and for gather / dynamic_slice, which read part of their
    first operand and all of their indices)."""
    if node.op == "chip.fusion" or node.attrs.get("prologue") is not None:
        return [float(b) for b in operand_bytes_read(node)]
    if not node.operands:
        return []
    rest = [float(o.type.nbytes) for o in node.operands[1:]]
    return [max(0.0, recorded - sum(rest))] + rest


def _place(node: Node, storage: Storage, sram_bytes: int) -> None:
    cost = node.attrs.get("cost")
    if cost is None:
        return
    written = sum(r.type.nbytes for r in node.results if in_sram(r, storage, sram_bytes))
    move_w = min(float(written), cost.bytes_written)
    on_chip = sum(b for b, o in zip(_reads(node, cost.bytes_read), node.operands)
                  if in_sram(o, storage, sram_bytes))
    move_r = min(float(on_chip), cost.bytes_read)
    cost.bytes_written -= move_w
    cost.sram_bytes_written += move_w
    cost.bytes_read -= move_r
    cost.sram_bytes_read += move_r


def _walk(graph: Graph, storage: Storage, sram_bytes: int) -> None:
    for node in graph.nodes:
        for region in node.regions:
            _walk(region, storage, sram_bytes)
        _place(node, storage, sram_bytes)


def run(graph: Graph, ctx: PassContext) -> bool:
    storage = graph.attrs.get("storage")
    sram_bytes = int(ctx.chip_value("sram_bytes"))
    if not storage or sram_bytes <= 0:
        return False
    _walk(graph, storage, sram_bytes)
    return True


PASS = Pass("sram_placement", Scope.PROGRAM, run)
