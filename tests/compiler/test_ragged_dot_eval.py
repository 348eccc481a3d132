"""The RaggedDot kind on the compiler's side: lax.ragged_dot lowered for the chip (chlo.ragged_dot
as JAX prints it, and as the custom call jaxlib's serializer makes of it) becomes one RaggedDot
kernel, and the reference interpreter's evaluation of it agrees with the chip's kernel
(chip_eval.run_executable) on fresh random inputs, within the f32 bound of a k-term dot product."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax import lax

from jax_chip.compiler import chip_eval, driver
from jax_chip.compiler.backend.inspect_executable import read_executable

from .helpers import kernel_types
from .reference_interpreter import execute

RNG = np.random.default_rng(7)


def _chip_text(f, *args) -> str:
    return jax.jit(f).trace(*args).lower(lowering_platforms=("chip",)).as_text()


# What jaxlib's PJRT client sends for it (read back from a portable artifact it serialized):
# chlo.ragged_dot has no StableHLO op, so it travels as a custom call with its dimension numbers
# in mhlo.attributes.
CUSTOM_CALL = """
func.func public @main(%a: tensor<37x40xf32>, %b: tensor<4x40x19xf32>, %s: tensor<4xi32>)
    -> tensor<37x19xf32> {
  %0 = stablehlo.custom_call @chlo.ragged_dot(%a, %b, %s) {mhlo.attributes = {
      precision_config = ["DEFAULT", "DEFAULT"],
      ragged_dot_dimension_numbers = [dense<> : tensor<0xi64>, dense<> : tensor<0xi64>,
        dense<1> : tensor<1xi64>, dense<1> : tensor<1xi64>, dense<0> : tensor<1xi64>,
        dense<0> : tensor<1xi64>]}, mhlo.version = 1 : i64}
      : (tensor<37x40xf32>, tensor<4x40x19xf32>, tensor<4xi32>) -> tensor<37x19xf32>
  return %0 : tensor<37x19xf32>
}
"""


@pytest.mark.parametrize("form", ["text", "custom_call"])
def test_ragged_dot_is_one_kernel_and_the_interpreter_agrees_with_the_chip(form: str) -> None:
    m, k, n = 37, 40, 19
    lhs = RNG.uniform(-2, 2, (m, k)).astype(np.float32)
    rhs = RNG.uniform(-2, 2, (4, k, n)).astype(np.float32)
    sizes = np.array([9, 0, 17, 6], np.int32)            # 32 of 37 rows, an empty group
    text = _chip_text(lax.ragged_dot, lhs, rhs, sizes)
    assert "chlo.ragged_dot" in text
    code = text if form == "text" else CUSTOM_CALL
    exe = driver.compile_program(code, "mlir", b"", {})
    assert kernel_types(read_executable(exe)) == ["RaggedDot"]
    (want,) = execute(exe, [lhs, rhs, sizes])
    (got,) = chip_eval.run_executable(exe, [lhs, rhs, sizes])
    assert np.all(want[32:] == 0) and np.all(got[32:] == 0)
    mag = np.zeros((m, n))
    start = 0
    for g, s in enumerate(sizes):
        mag[start:start + s] = np.abs(lhs[start:start + s]) @ np.abs(rhs[g])
        start += s
    assert np.all(np.abs(got.astype(np.float64) - want) <= 2 * k * 2.0 ** -24 * mag)
    assert np.any(got[:32] != 0)
