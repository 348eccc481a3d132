"""The pass pipeline over the graph IR, in order. Each pass lives in xla_passes/<name>.py and
exposes `PASS` (jax_chip.compiler.ir.pass_api.Pass): its name, its scope and `run(graph, ctx)`,
which returns whether it changed the graph.

Passes of scope FUNCTION work on one function at a time and run on every control-flow region
graph too (innermost first, then the enclosing graph); PROGRAM passes (type and support checks,
control flow, output aliasing, memory planning, ...) see the whole program at once.

CHIP_DISABLE_PASSES=elementwise_fusion,constant_folding,memory_planning turns optimizations off
(for measuring what each one buys, tools/bench_passes.py): without elementwise fusion every op
is its own kernel, without constant folding nothing is evaluated at compile time, and without
memory planning every temporary gets its own arena slot (no liveness-based sharing).
CHIP_DISABLE_PASSES=loop_carry_inplace keeps the per-iteration copy of every loop-carried value
(tools/bench_loop_carry.py).

CHIP_VERIFY_PASSES=1 (set by the test suites' conftest.py) verifies the graph after every pass
(Graph.verify); a broken graph is an InternalCompilerError naming the pass that broke it. The
names of the passes that changed the graph are logged (logger jax_chip.compiler.pipeline, level
DEBUG) and returned in `changed` when the caller asks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable

from jax_chip.compiler.ir.context import CompileOptions, PassContext
from jax_chip.compiler.ir.errors import InternalCompilerError
from jax_chip.compiler.ir.graph import Graph, VerificationError
from jax_chip.compiler.ir.pass_api import Pass, Scope
from xla_passes import (
    algebraic_simplify,
    bitcast_lowering,
    check_supported,
    check_types,
    common_subexpression,
    complex_lowering,
    constant_folding,
    control_flow,
    cost_annotation,
    custom_call_lowering,
    dead_code_elimination,
    dot_lowering,
    dynamic_slice_folding,
    elementwise_fusion,
    indexing_lowering,
    loop_carry_inplace,
    low_precision_movement,
    memory_planning,
    mhlo_custom_calls,
    narrow_64bit,
    output_aliasing,
    reduce_input_fusion,
    rng_bit_generator_expansion,
    simplify,
    single_device_collectives,
    sram_placement,
    strip_sharding,
)

log = logging.getLogger(__name__)

DISABLE_ENV = "CHIP_DISABLE_PASSES"
VERIFY_ENV = "CHIP_VERIFY_PASSES"
# pass name -> the CompileOptions flag that turns it off
DISABLEABLE = {
    "elementwise_fusion": "fusion",
    "constant_folding": "constant_folding",
    "memory_planning": "memory_reuse",
    "loop_carry_inplace": "loop_carry_in_place",
}


def _fold_then_simplify(graph: Graph, ctx: PassContext) -> bool:
    """Constant folding, then the algebraic rewrites once more: like XLA, a divisor that only
    became a constant by folding (e.g. broadcast(pow(c1, c2))) is then inverted."""
    folded = constant_folding.PASS.run(graph, ctx)
    simplified = algebraic_simplify.PASS.run(graph, ctx)
    return folded or simplified


PIPELINE: list[Pass] = [
    strip_sharding.PASS,
    single_device_collectives.PASS,
    rng_bit_generator_expansion.PASS,
    narrow_64bit.PASS,
    complex_lowering.PASS,
    check_types.PASS,
    bitcast_lowering.PASS,
    low_precision_movement.PASS,
    indexing_lowering.PASS,
    custom_call_lowering.PASS,
    mhlo_custom_calls.PASS,
    check_supported.PASS,
    dot_lowering.PASS,
    simplify.PASS,
    common_subexpression.PASS,
    algebraic_simplify.PASS,
    Pass(constant_folding.PASS.name, Scope.FUNCTION, _fold_then_simplify),
    dynamic_slice_folding.PASS,
    dead_code_elimination.PASS,
    control_flow.PASS,
    elementwise_fusion.PASS,
    reduce_input_fusion.PASS,
    output_aliasing.PASS,
    loop_carry_inplace.PASS,
    memory_planning.PASS,
    cost_annotation.PASS,
    sram_placement.PASS,
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


def verify_enabled() -> bool:
    return os.environ.get(VERIFY_ENV, "") not in ("", "0")


def run_pipeline(graph: Graph, ctx: PassContext,
                 after_pass: Callable[[str, Graph], None] | None = None,
                 timings: dict[str, float] | None = None,
                 changed: list[str] | None = None, stop_after: str | None = None) -> Graph:
    """Runs the passes in order over `graph` (in place); with `stop_after`, up to and including
    that pass."""
    ctx.options = apply_disabled_passes(ctx.options)
    verify = verify_enabled()
    for p in PIPELINE:
        if p.name == "constant_folding" and not ctx.options.constant_folding:
            continue
        t0 = time.perf_counter()
        did_change = p.apply(graph, ctx)
        if timings is not None:
            timings[p.name] = time.perf_counter() - t0
        if did_change:
            log.debug("pass %s changed the graph", p.name)
            if changed is not None:
                changed.append(p.name)
        if verify:
            try:
                graph.verify()
            except VerificationError as e:
                raise InternalCompilerError(
                    f"internal compiler error: the graph is invalid after pass {p.name}: {e}"
                ) from e
        if after_pass is not None:
            after_pass(p.name, graph)
        if p.name == stop_after:
            break
    return graph
