"""The pass pipeline over the graph IR, in order. Each pass lives in xla_passes/<name>.py and
exposes run(graph, ctx)."""

from __future__ import annotations

import time
from typing import Callable

from jax_chip.compiler.context import PassContext
from jax_chip.compiler.graph import Graph
from xla_passes import (
    check_supported,
    check_types,
    constant_folding,
    cost_annotation,
    dead_code_elimination,
    dot_lowering,
    elementwise_fusion,
    memory_planning,
    output_aliasing,
    simplify,
    strip_sharding,
)

PassFn = Callable[[Graph, PassContext], None]

PIPELINE: list[tuple[str, PassFn]] = [
    ("strip_sharding", strip_sharding.run),
    ("check_types", check_types.run),
    ("check_supported", check_supported.run),
    ("dot_lowering", dot_lowering.run),
    ("simplify", simplify.run),
    ("constant_folding", constant_folding.run),
    ("dead_code_elimination", dead_code_elimination.run),
    ("elementwise_fusion", elementwise_fusion.run),
    ("output_aliasing", output_aliasing.run),
    ("memory_planning", memory_planning.run),
    ("cost_annotation", cost_annotation.run),
]


def run_pipeline(graph: Graph, ctx: PassContext,
                 after_pass: Callable[[str, Graph], None] | None = None,
                 timings: dict[str, float] | None = None) -> Graph:
    for name, fn in PIPELINE:
        if name == "constant_folding" and not ctx.options.constant_folding:
            continue
        t0 = time.perf_counter()
        fn(graph, ctx)
        if timings is not None:
            timings[name] = time.perf_counter() - t0
        if after_pass is not None:
            after_pass(name, graph)
    return graph
