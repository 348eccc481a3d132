"""The pass pipeline over the graph IR, in order. Each pass lives in xla_passes/<name>.py and
exposes run(graph, ctx).

Passes that work on one function at a time run on every control-flow region graph too
(innermost first, then the enclosing graph); output aliasing and memory planning see the whole
program at once.

CHIP_DISABLE_PASSES=elementwise_fusion,constant_folding,memory_planning turns optimizations off
(for measuring what each one buys, tools/bench_passes.py): without elementwise fusion every op
is its own kernel, without constant folding nothing is evaluated at compile time, and without
memory planning every temporary gets its own arena slot (no liveness-based sharing).
CHIP_DISABLE_PASSES=loop_carry_inplace keeps the per-iteration copy of every loop-carried value
(tools/bench_loop_carry.py).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

from jax_chip.compiler.ir.context import CompileOptions, PassContext
from jax_chip.compiler.ir.graph import Graph
from xla_passes import (
    algebraic_simplify,
    check_supported,
    check_types,
    common_subexpression,
    constant_folding,
    control_flow,
    cost_annotation,
    custom_call_lowering,
    dead_code_elimination,
    dot_lowering,
    narrow_64bit,
    rng_bit_generator_expansion,
    dynamic_slice_folding,
    elementwise_fusion,
    indexing_lowering,
    loop_carry_inplace,
    memory_planning,
    mhlo_custom_calls,
    output_aliasing,
    reduce_input_fusion,
    simplify,
    single_device_collectives,
    sram_placement,
    strip_sharding,
)

PassFn = Callable[[Graph, PassContext], None]

DISABLE_ENV = "CHIP_DISABLE_PASSES"
# pass name -> the CompileOptions flag that turns it off
DISABLEABLE = {
    "elementwise_fusion": "fusion",
    "constant_folding": "constant_folding",
    "memory_planning": "memory_reuse",
    "loop_carry_inplace": "loop_carry_in_place",
}


def on_every_graph(fn: PassFn) -> PassFn:
    """Runs a one-function pass on every region graph (innermost first), then on `graph`."""
    def run(graph: Graph, ctx: PassContext) -> None:
        for node in list(graph.nodes):
            for region in node.regions:
                run(region, ctx)
        fn(graph, ctx)
    run.__name__ = getattr(fn, "__name__", "pass")
    run.__doc__ = getattr(fn, "__doc__", None)
    return run


def _fold_then_simplify(graph: Graph, ctx: PassContext) -> None:
    """Constant folding, then the algebraic rewrites once more: like XLA, a divisor that only
    became a constant by folding (e.g. broadcast(pow(c1, c2))) is then inverted."""
    constant_folding.run(graph, ctx)
    algebraic_simplify.run(graph, ctx)


PIPELINE: list[tuple[str, PassFn]] = [
    ("strip_sharding", on_every_graph(strip_sharding.run)),
    ("single_device_collectives", on_every_graph(single_device_collectives.run)),
    ("rng_bit_generator_expansion", on_every_graph(rng_bit_generator_expansion.run)),
    ("narrow_64bit", on_every_graph(narrow_64bit.run)),
    ("check_types", check_types.run),
    ("indexing_lowering", on_every_graph(indexing_lowering.run)),
    ("custom_call_lowering", on_every_graph(custom_call_lowering.run)),
    ("mhlo_custom_calls", on_every_graph(mhlo_custom_calls.run)),
    ("check_supported", check_supported.run),
    ("dot_lowering", on_every_graph(dot_lowering.run)),
    ("simplify", on_every_graph(simplify.run)),
    ("common_subexpression", on_every_graph(common_subexpression.run)),
    ("algebraic_simplify", on_every_graph(algebraic_simplify.run)),
    ("constant_folding", on_every_graph(_fold_then_simplify)),
    ("dynamic_slice_folding", on_every_graph(dynamic_slice_folding.run)),
    ("dead_code_elimination", on_every_graph(dead_code_elimination.run)),
    ("control_flow", control_flow.run),
    ("elementwise_fusion", on_every_graph(elementwise_fusion.run)),
    ("reduce_input_fusion", on_every_graph(reduce_input_fusion.run)),
    ("output_aliasing", output_aliasing.run),
    ("loop_carry_inplace", loop_carry_inplace.run),
    ("memory_planning", memory_planning.run),
    ("cost_annotation", on_every_graph(cost_annotation.run)),
    ("sram_placement", sram_placement.run),
]


def disabled_passes() -> set[str]:
    """Pass names listed in CHIP_DISABLE_PASSES. Unknown names are an error (a typo must not
    silently measure the wrong thing)."""
    raw = os.environ.get(DISABLE_ENV, "")
    names = {n.strip() for n in raw.split(",") if n.strip()}
    unknown = names - set(DISABLEABLE)
    if unknown:
        raise ValueError(f"{DISABLE_ENV}: unknown pass(es) {', '.join(sorted(unknown))}; "
                         f"passes that can be disabled: {', '.join(sorted(DISABLEABLE))}")
    return names


def apply_disabled_passes(options: CompileOptions) -> CompileOptions:
    """`options` with the optimizations named in CHIP_DISABLE_PASSES turned off."""
    names = disabled_passes()
    if not names:
        return options
    return dataclasses.replace(options, **{DISABLEABLE[n]: False for n in names})


def run_pipeline(graph: Graph, ctx: PassContext,
                 after_pass: Callable[[str, Graph], None] | None = None,
                 timings: dict[str, float] | None = None) -> Graph:
    ctx.options = apply_disabled_passes(ctx.options)
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
