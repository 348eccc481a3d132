"""Custom calls to the chip's native kernels: each `stablehlo.custom_call @chip.<kernel>` whose
target the chip implements is checked (operand/result types, attributes) and becomes a
`chip.custom_call` kernel node (python/jax_chip/compiler/lower_custom_call.py). Other custom
calls stay and check_supported reports them."""

from __future__ import annotations

from jax_chip.compiler import lower_custom_call
from jax_chip.compiler.context import PassContext
from jax_chip.compiler.graph import Graph


def run(graph: Graph, ctx: PassContext) -> None:
    lower_custom_call.lower(graph)
