"""Passes declare their name and scope and say whether they changed the graph; in tests the
pipeline verifies the graph after every pass and names the pass that broke it."""

from __future__ import annotations

import pytest

from .helpers import import_graph, lower_text, randn
from jax_chip.compiler import pipeline
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.errors import InternalCompilerError
from jax_chip.compiler.ir.graph import Graph, VerificationError
from jax_chip.compiler.ir.pass_api import Pass, Scope
from xla_passes import dead_code_elimination


def test_every_pass_declares_name_and_scope():
    names = [p.name for p in pipeline.PIPELINE]
    assert len(names) == len(set(names))
    for p in pipeline.PIPELINE:
        assert isinstance(p, Pass) and p.scope in (Scope.FUNCTION, Scope.PROGRAM)
    assert set(pipeline.DISABLEABLE) <= set(names)


def test_passes_report_changes():
    g = import_graph(lower_text(lambda x: x / 4.0, randn((4,))))
    changed: list[str] = []
    pipeline.run_pipeline(g, PassContext(), changed=changed)
    assert "algebraic_simplify" in changed        # x / 4 -> x * 0.25
    assert "elementwise_fusion" in changed and "memory_planning" in changed
    assert "check_types" not in changed and "check_supported" not in changed
    # nothing left to remove: DCE says so
    assert dead_code_elimination.PASS.apply(g, PassContext()) is False


def _break_graph(graph: Graph, ctx: PassContext) -> bool:
    node = graph.nodes[-1]
    graph.nodes = [node] + graph.nodes[:-1]      # a use before its definition
    return True


def test_verification_names_the_pass(monkeypatch):
    monkeypatch.setenv(pipeline.VERIFY_ENV, "1")
    bad = Pass("breaks_order", Scope.PROGRAM, _break_graph)
    monkeypatch.setattr(pipeline, "PIPELINE", [pipeline.PIPELINE[0], bad])
    g = import_graph(lower_text(lambda x: (x * 2) + 1, randn((4,))))
    with pytest.raises(InternalCompilerError, match="after pass breaks_order.*before definition"):
        pipeline.run_pipeline(g, PassContext())


def test_verify_checks_region_signatures():
    from jax import lax

    def f(x):
        return lax.fori_loop(0, 3, lambda i, c: c * 2.0, x)

    g = import_graph(lower_text(f, randn((4,))))
    g.verify()
    loop = next(n for n in g.nodes if n.op == "stablehlo.while")
    loop.regions[1].outputs.pop()            # the body returns one value too few
    with pytest.raises(VerificationError, match="while body results"):
        g.verify()
