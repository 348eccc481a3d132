"""Type check: every tensor of the program must have a chip element type.

64-bit types get a message naming the value and op and the 32-bit type to use instead (jax
produces them only with jax_enable_x64 on); other types (complex, fp8, int4, ...) are
unsupported.
"""

from __future__ import annotations

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.errors import CompileError, UnsupportedError, at
from jax_chip.compiler.ir.graph import Graph, TensorType
from jax_chip.compiler.ir.pass_api import Pass, Scope


def _problem(t: TensorType, what: str, loc: str) -> CompileError | None:
    if dtypes.is_chip_dtype(t.dtype):
        return None
    if t.dtype in dtypes.SIXTY_FOUR_BIT:
        use = dtypes.SIXTY_FOUR_BIT[t.dtype]
        return CompileError(
            f"{t.dtype} {t.mlir_str()} {what}{at(loc)}: use {use}; the chip has no 64-bit types "
            f"(keep jax_enable_x64 off)")
    return UnsupportedError(f"element type {t.dtype} ({t.mlir_str()}) {what} is not supported "
                            f"on the chip{at(loc)}; supported: {', '.join(dtypes.CHIP_DTYPES)}")


def _check_graph(graph: Graph, errors: list[tuple[int, CompileError]]) -> None:
    """Collects (priority, error): parameters first, then ops with a source location (most
    helpful to the user), then the rest (hoisted constants have no location)."""
    for i, p in enumerate(graph.params):
        e = _problem(p.value.type, f"of parameter {i} ({p.name or p.value.name})", "")
        if e:
            errors.append((0, e))
    for n in graph.nodes:
        for r in n.results:
            e = _problem(r.type, f"result of {n.op}", n.loc)
            if e:
                errors.append((1 if n.loc and n.op != "stablehlo.constant" else 2, e))
        for sub in n.subgraphs():
            _check_graph(sub, errors)


def run(graph: Graph, ctx: PassContext) -> bool:
    found: list[tuple[int, CompileError]] = []
    _check_graph(graph, found)
    if not found:
        return False
    errors = [e for _, e in sorted(found, key=lambda pe: pe[0])]
    first = errors[0]
    msg = str(first)
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more values with unsupported types)"
    raise type(first)(msg)


PASS = Pass("check_types", Scope.PROGRAM, run)
