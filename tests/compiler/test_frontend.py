"""Frontend: every program form jaxlib and other PJRT clients send is parsed and cleaned up."""

import jax.numpy as jnp
import numpy as np
import pytest

from .helpers import (check_against_jax, import_graph, lower_bytecode, lower_portable, lower_text,
                     randn)
from jax_chip.compiler.frontend import parse as frontend
from jax_chip.compiler.driver import compile_program
from jax_chip.compiler.ir.errors import CompileError, UnsupportedError


def f(x, y):
    return jnp.tanh(x @ y + 1.0)


ARGS = (randn((4, 8)), randn((8, 16)))


@pytest.mark.parametrize("via", ["text", "bytecode", "portable"])
def test_program_forms_compile_and_match_jax(via):
    check_against_jax(f, *ARGS, via=via)


def test_portable_artifact_of_minimum_version():
    from jaxlib.mlir.dialects import stablehlo
    code = lower_portable(f, *ARGS, version=stablehlo.get_minimum_version())
    parsed = frontend.parse_program(code)
    assert parsed.source_kind == "portable-artifact"


def test_kinds_detected():
    assert frontend.parse_program(lower_text(f, *ARGS)).source_kind == "text"
    # deserialize_portable_artifact also reads plain StableHLO bytecode
    assert frontend.parse_program(lower_bytecode(f, *ARGS)).source_kind in (
        "bytecode", "portable-artifact")
    assert frontend.parse_program(lower_portable(f, *ARGS)).source_kind == "portable-artifact"
    # text given as bytes
    assert frontend.parse_program(lower_text(f, *ARGS).encode()).source_kind == "text"


def test_private_functions_are_inlined():
    def g(x):
        return jnp.where(jnp.tril(jnp.ones((4, 4), bool)), x, 0.0)   # jnp emits func.call
    text = lower_text(g, randn((4, 4)))
    assert "call @" in text
    graph = import_graph(text)
    assert not any(n.op == "func.call" for n in graph.nodes)
    check_against_jax(g, randn((4, 4)), via="text")


def test_malformed_text_reports_parser_message():
    with pytest.raises(CompileError) as e:
        compile_program("func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> { garbage",
                        "mlir", b"", {})
    assert "malformed StableHLO text" in str(e.value)
    assert "1:" in str(e.value)            # the parser's position
    assert e.value.pjrt_code == "INVALID_ARGUMENT"


def test_malformed_bytecode_reports_both_attempts():
    with pytest.raises(CompileError) as e:
        compile_program(b"ML\xefR\x00\x01garbage", "mlir", b"", {})
    msg = str(e.value)
    assert "malformed StableHLO bytecode" in msg and "portable artifact" in msg


def test_truncated_portable_artifact():
    code = lower_portable(f, *ARGS)
    with pytest.raises(CompileError):
        compile_program(code[: len(code) // 2], "mlir", b"", {})


@pytest.mark.parametrize("code", [b"", "", "   ", b"\xff\xfe\x00binary"])
def test_empty_or_binary_garbage(code):
    with pytest.raises(CompileError):
        compile_program(code, "mlir", b"", {})


def test_invalid_ir_is_rejected_by_the_verifier():
    text = """
    func.func @main(%a: tensor<4xf32>, %b: tensor<5xf32>) -> tensor<4xf32> {
      %0 = stablehlo.add %a, %b : (tensor<4xf32>, tensor<5xf32>) -> tensor<4xf32>
      return %0 : tensor<4xf32>
    }"""
    with pytest.raises(CompileError):
        compile_program(text, "mlir", b"", {})


def test_hlo_format_is_unimplemented():
    with pytest.raises(UnsupportedError) as e:
        compile_program(b"\x0a\x00", "hlo", b"", {})
    assert "hlo" in str(e.value)


def test_mhlo_text_is_legalized():
    text = """
    func.func @main(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
      %0 = mhlo.add %a, %b : tensor<4xf32>
      %1 = "mhlo.exponential"(%0) : (tensor<4xf32>) -> tensor<4xf32>
      return %1 : tensor<4xf32>
    }"""
    from .reference_interpreter import execute
    data = compile_program(text, "mlir", b"", {})
    a, b = randn((4,)), randn((4,))
    (out,) = execute(data, [a, b])
    np.testing.assert_allclose(out, np.exp(a + b), rtol=1e-6)
