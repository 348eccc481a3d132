"""check_types: 64-bit and other unsupported element types are rejected with clear messages."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from .helpers import lower_portable, lower_text
from jax_chip.compiler.driver import compile_program
from jax_chip.compiler.ir.errors import CompileError, UnsupportedError


def _compile_x64(f, *args):
    with jax.experimental.enable_x64():
        text = lower_text(f, *args)
    return compile_program(text, "mlir", b"", {})


def test_f64_names_value_op_and_suggests_float32():
    def f(x):
        return jnp.sin(x) * 2.0
    with pytest.raises(CompileError) as e:
        _compile_x64(f, np.ones(4, np.float64))
    msg = str(e.value)
    assert msg.startswith("f64 tensor<4xf64>"), msg
    assert "use float32; the chip has no 64-bit types (keep jax_enable_x64 off)" in msg
    assert e.value.pjrt_code == "INVALID_ARGUMENT"
    assert not isinstance(e.value, UnsupportedError)


def test_f64_result_of_op_names_the_op_and_location():
    def f(x):
        return x.astype(jnp.float64) + 1.0
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(CompileError) as e:
        _compile_x64(f, np.ones(3, np.float32))
    msg = str(e.value)
    assert "result of stablehlo.convert" in msg
    assert re.search(rf"test_check_types\.py:{line}", msg), msg


def test_s64_suggests_int32():
    with pytest.raises(CompileError) as e:
        _compile_x64(lambda i: i + 1, np.arange(4, dtype=np.int64))
    msg = str(e.value)
    assert msg.startswith("s64 tensor<4xi64>") and "use int32" in msg
    assert "parameter 0" in msg


def test_u64_suggests_uint32():
    with pytest.raises(CompileError) as e:
        _compile_x64(lambda i: i * 2, np.arange(4, dtype=np.uint64))
    assert "use uint32" in str(e.value)


def test_complex128_suggests_complex64():
    # complex64 is lowered to f32 pairs (xla_passes/complex_lowering.py); complex128 is 64-bit
    with pytest.raises(CompileError) as e:
        _compile_x64(lambda z: z * 2, np.ones(3, np.complex128))
    assert "c128" in str(e.value) and "use complex64" in str(e.value)


def test_fp8_without_chip_support_is_unsupported():
    import ml_dtypes
    x = np.ones(4, ml_dtypes.float8_e4m3b11fnuz)   # the chip has e4m3fn, e5m2 and their fnuz kinds
    with pytest.raises(UnsupportedError) as e:
        compile_program(lower_text(lambda v: v.astype(jnp.float32), x), "mlir", b"", {})
    assert "f8E4M3B11FNUZ" in str(e.value)


def test_counts_further_problems():
    with pytest.raises(CompileError) as e:
        _compile_x64(lambda a, b: (a + 1, b + 1), np.ones(2), np.ones(3))
    assert "more values with unsupported types" in str(e.value)


def test_32_bit_program_passes():
    compile_program(lower_portable(lambda x: x + 1, np.ones(3, np.float32)), "mlir", b"", {})
