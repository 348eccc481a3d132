"""Frontend: program bytes -> verified, inlined and cleaned-up StableHLO module (jaxlib.mlir).

Accepts what PJRT clients send for format "mlir":
- a StableHLO portable artifact (VHLO bytecode, what jaxlib 0.6.2's PJRT C API client sends),
- plain MLIR bytecode (jax's `module_to_bytecode`),
- StableHLO or MHLO text (MHLO is legalized to StableHLO with jaxlib's pass).
Then runs MLIR's own cleanup passes: inline, canonicalize, cse, symbol-dce.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jaxlib.mlir import ir, passmanager
from jaxlib.mlir._mlir_libs import register_jax_dialects
from jaxlib.mlir.dialects import chlo, mhlo, sdy, stablehlo

from jax_chip.compiler.ir.errors import CompileError, UnsupportedError

MLIR_BYTECODE_MAGIC = b"ML\xefR"
# jaxlib 0.6.2 registers no func inliner interface, so `inline` leaves func.call in place; the
# graph importer inlines calls itself. `inline` stays for jaxlibs that do register it.
CLEANUP_PIPELINE = "builtin.module(inline, canonicalize, cse, symbol-dce)"

_registry: ir.DialectRegistry | None = None
_mhlo_passes_registered = False


def _dialect_registry() -> ir.DialectRegistry:
    global _registry
    if _registry is None:
        _registry = ir.DialectRegistry()
        register_jax_dialects.register_dialects(_registry)
    return _registry


@dataclass
class ParsedProgram:
    context: ir.Context
    module: ir.Module
    source_kind: str                 # "portable-artifact", "bytecode", "text"
    diagnostics: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.module.operation.get_asm(enable_debug_info=True)


class _Diagnostics:
    """Collects MLIR diagnostics (instead of printing them to stderr)."""

    def __init__(self, ctx: ir.Context):
        self.messages: list[str] = []
        self._handler = ctx.attach_diagnostic_handler(self._on_diagnostic)

    def _on_diagnostic(self, d) -> bool:
        try:
            msg = str(d.message)
            for note in d.notes:
                msg += f"; note: {note.message}"
            self.messages.append(msg)
        except Exception:
            pass
        return True  # handled: do not print to stderr

    def detach(self) -> None:
        try:
            self._handler.detach()
        except Exception:
            pass

    def summary(self) -> str:
        return "; ".join(self.messages)


def new_context() -> ir.Context:
    ctx = ir.Context()
    ctx.append_dialect_registry(_dialect_registry())
    stablehlo.register_dialect(ctx)
    chlo.register_dialect(ctx)
    mhlo.register_mhlo_dialect(ctx)
    sdy.register_dialect(ctx)
    return ctx


def _error_text(e: Exception, diags: _Diagnostics) -> str:
    msg = str(e).strip()
    extra = diags.summary()
    if extra and extra not in msg:
        msg = f"{msg}: {extra}" if msg else extra
    diags.messages.clear()
    return msg


def parse_program(code: bytes | str, fmt: str = "mlir") -> ParsedProgram:
    """Parses and cleans up a program. Raises CompileError with the parser's message."""
    if fmt not in ("mlir", "stablehlo", "mhlo"):
        raise UnsupportedError(
            f"program format {fmt!r} is not supported by the chip compiler; send StableHLO "
            f"(format \"mlir\")")
    ctx = new_context()
    diags = _Diagnostics(ctx)
    try:
        with ctx:
            module, kind = _parse(ctx, code, diags)
            _legalize_mhlo(module, diags)
            _run_pipeline(module, CLEANUP_PIPELINE, diags)
        return ParsedProgram(ctx, module, kind, list(diags.messages))
    finally:
        diags.detach()


def _parse(ctx: ir.Context, code: bytes | str, diags: _Diagnostics) -> tuple[ir.Module, str]:
    if isinstance(code, (bytes, bytearray, memoryview)):
        data = bytes(code)
        if not data:
            raise CompileError("empty program: the compiler received no StableHLO")
        if data.startswith(MLIR_BYTECODE_MAGIC):
            errors = []
            try:
                return stablehlo.deserialize_portable_artifact(ctx, data), "portable-artifact"
            except Exception as e:
                errors.append(f"as a StableHLO portable artifact: {_error_text(e, diags)}")
            try:
                return ir.Module.parse(data), "bytecode"
            except Exception as e:
                errors.append(f"as MLIR bytecode: {_error_text(e, diags)}")
            raise CompileError("malformed StableHLO bytecode: cannot read it " + "; ".join(errors))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CompileError(
                f"malformed program: neither MLIR bytecode nor UTF-8 StableHLO text ({e})") from None
    else:
        text = str(code)
    if not text.strip():
        raise CompileError("empty program: the compiler received no StableHLO")
    try:
        return ir.Module.parse(text), "text"
    except Exception as e:
        raise CompileError(f"malformed StableHLO text: {_error_text(e, diags)}") from None


def _has_mhlo_ops(module: ir.Module) -> bool:
    found = False

    def visit(op):
        nonlocal found
        if op.name.startswith("mhlo."):
            found = True
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def _legalize_mhlo(module: ir.Module, diags: _Diagnostics) -> None:
    global _mhlo_passes_registered
    if not _has_mhlo_ops(module):
        return
    if not _mhlo_passes_registered:
        mhlo.register_mhlo_passes()
        _mhlo_passes_registered = True
    _run_pipeline(module, "builtin.module(hlo-legalize-to-stablehlo)", diags)


def _run_pipeline(module: ir.Module, pipeline: str, diags: _Diagnostics) -> None:
    try:
        pm = passmanager.PassManager.parse(pipeline)
        pm.run(module.operation)
    except Exception as e:
        raise CompileError(f"invalid program ({pipeline} failed): {_error_text(e, diags)}") from None
