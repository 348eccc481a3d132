"""Compiled programs run in the reference interpreter match jax on CPU (random inputs)."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from .helpers import (check_against_jax, kernel_types, randn, transformer_args,
                     transformer_block)
from jax_chip.compiler.ir.context import CompileOptions

BF16 = ml_dtypes.bfloat16
FLOATS = [np.float32, BF16, np.float16]
INTS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32]

UNARY_FLOAT = {
    "neg": jnp.negative, "abs": jnp.abs, "exp": jnp.exp, "log": lambda x: jnp.log(jnp.abs(x) + 0.1),
    "tanh": jnp.tanh, "logistic": jax.nn.sigmoid, "sqrt": lambda x: jnp.sqrt(jnp.abs(x)),
    "rsqrt": lambda x: jax.lax.rsqrt(jnp.abs(x) + 0.5), "sign": jnp.sign, "floor": jnp.floor,
    "ceil": jnp.ceil, "round_even": jnp.round, "round_afz": lambda x: jax.lax.round(x),
    "expm1": jnp.expm1, "log1p": lambda x: jnp.log1p(jnp.abs(x)), "sin": jnp.sin, "cos": jnp.cos,
    "tan": lambda x: jnp.tan(x * 0.5), "cbrt": jnp.cbrt, "is_finite": jnp.isfinite,
    "erf": jax.lax.erf, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "silu": jax.nn.silu, "square": jnp.square,
}
BINARY_FLOAT = {
    "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "div": jnp.divide,
    "max": jnp.maximum, "min": jnp.minimum, "pow": lambda a, b: jnp.power(jnp.abs(a) + 0.1, b),
    "rem": jnp.fmod, "atan2": jnp.arctan2,
}


def _tol(dtype, name):
    if dtype == np.float32:
        return dict(rtol=3e-5, atol=3e-5) if name not in ("pow", "tan") else dict(rtol=1e-4,
                                                                                  atol=1e-4)
    if dtype == np.float16:
        return dict(rtol=2e-3, atol=2e-3)
    return dict(rtol=1.6e-2, atol=1.6e-2)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
def test_unary_float(name, dtype):
    x = randn((5, 7), dtype)
    check_against_jax(UNARY_FLOAT[name], x, via="text", tol=_tol(dtype, name))


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(BINARY_FLOAT))
def test_binary_float(name, dtype):
    a, b = randn((5, 7), dtype), randn((5, 7), dtype)
    if name == "rem":
        b = (np.abs(b.astype(np.float32)) + 0.5).astype(dtype)
    check_against_jax(BINARY_FLOAT[name], a, b, via="text", tol=_tol(dtype, name))


INT_OPS = {
    "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "max": jnp.maximum,
    "min": jnp.minimum, "and": jnp.bitwise_and, "or": jnp.bitwise_or, "xor": jnp.bitwise_xor,
    "not": lambda a, b: jnp.bitwise_not(a), "neg": lambda a, b: -a,
    "div": lambda a, b: jax.lax.div(a, b), "rem": lambda a, b: jax.lax.rem(a, b),
    "shl": lambda a, b: jax.lax.shift_left(a, b % 9),
    "shr_a": lambda a, b: jax.lax.shift_right_arithmetic(a, b % 9),
    "shr_l": lambda a, b: jax.lax.shift_right_logical(a, b % 9),
    "popcnt": lambda a, b: jax.lax.population_count(a),
    "clz": lambda a, b: jax.lax.clz(a),
    "pow": lambda a, b: jax.lax.integer_pow(a, 3),
}


@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(INT_OPS))
def test_integer_ops(name, dtype):
    a, b = randn((4, 6), dtype), randn((4, 6), dtype)
    if name in ("div", "rem"):
        b = np.where(b == 0, 3, b).astype(dtype)
    check_against_jax(INT_OPS[name], a, b, via="text")


@pytest.mark.parametrize("dtype", [np.float32, BF16, np.int32, np.uint8, np.int8, np.bool_],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("direction", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_compare(direction, dtype):
    a, b = randn((6, 5), dtype), randn((6, 5), dtype)
    b[0] = a[0]
    fn = getattr(jnp, {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                       "gt": "greater", "ge": "greater_equal"}[direction])
    check_against_jax(lambda x, y: jnp.where(fn(x, y), x, y), a, b, via="text")


CONVERT_TYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
                 np.float16, BF16, np.float32]


@pytest.mark.parametrize("dst", CONVERT_TYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("src", CONVERT_TYPES, ids=lambda d: np.dtype(d).name)
def test_convert(src, dst):
    x = randn((3, 9), np.float32, scale=60.0)
    x[0, :4] = [0.0, -0.0, 0.5, -1.5]
    x = x.astype(src) if np.dtype(src) != np.bool_ else x > 0
    if np.issubdtype(np.dtype(dst), np.integer) and np.issubdtype(np.dtype(src), np.floating):
        info = np.iinfo(dst)   # out-of-range float->int conversion is implementation defined
        x = np.clip(x.astype(np.float32), info.min, info.max).astype(src)
    check_against_jax(lambda v: v.astype(dst), x, via="text")


def test_select_clamp_with_scalars():
    def f(p, x, lo, hi):
        return jnp.where(p, x, -x), jax.lax.clamp(lo, x, hi)
    check_against_jax(f, np.bool_(True), randn((4, 5)), np.float32(-0.3), np.float32(0.4),
                      via="text")


def test_bitcast_and_reduce_precision():
    def f(x):
        return (jax.lax.bitcast_convert_type(x, jnp.int32),
                jax.lax.reduce_precision(x, exponent_bits=5, mantissa_bits=10),
                jax.lax.bitcast_convert_type(x.astype(jnp.bfloat16), jnp.uint16))
    check_against_jax(f, randn((5, 5), scale=10.0), via="text")


def test_movement_ops():
    def f(x, y):
        a = jnp.transpose(x, (2, 0, 1))
        b = jax.lax.slice(x, (0, 1, 2), (2, 3, 6), (1, 1, 2))
        c = jnp.broadcast_to(y[:, None, :], (4, 3, 5))
        d = x.reshape(6, 7) + 1.0
        e = jnp.concatenate([x, x * 2], axis=1)
        return a, b, c, d, e
    check_against_jax(f, randn((2, 3, 7)), randn((4, 5)), via="text")


def test_iota_and_masks():
    def f(x):
        n = x.shape[0]
        i = jnp.arange(n)
        mask = i[:, None] >= i[None, :]
        return jnp.where(mask, x, 0.0) + jnp.arange(n * n, dtype=jnp.float32).reshape(n, n).T
    check_against_jax(f, randn((9, 9)), via="text")


@pytest.mark.parametrize("dtype", [np.float32, BF16, np.int32, np.bool_],
                         ids=lambda d: np.dtype(d).name)
def test_reductions(dtype):
    x = randn((4, 5, 6), dtype)
    if np.dtype(dtype) == np.bool_:
        check_against_jax(lambda v: (jnp.any(v, axis=1), jnp.all(v, axis=(0, 2))), x, via="text")
        return
    fs = lambda v: (jnp.sum(v, axis=1), jnp.max(v, axis=(0, 2)), jnp.min(v, axis=2),
                    jnp.prod(v[:2, :2], axis=0))
    check_against_jax(fs, x, via="text", tol=dict(rtol=2e-2, atol=2e-2) if dtype == BF16 else None)


@pytest.mark.parametrize("dtype", [np.float32, BF16, np.float16, np.int8],
                         ids=lambda d: np.dtype(d).name)
def test_dots(dtype):
    def f(a, b, c):
        return a @ b, jnp.einsum("bij,bjk->bik", c, c), jnp.dot(a[0], b[:, 0])

    def f_int(a, b, c):
        return jax.lax.dot(a, b, preferred_element_type=jnp.int32), a @ b
    a, b, c = randn((5, 7), dtype), randn((7, 3), dtype), randn((2, 4, 4), dtype)
    tol = None if dtype in (np.float32, np.int8) else dict(rtol=2e-2, atol=5e-2)
    check_against_jax(f_int if dtype == np.int8 else f, a, b, c, via="text", tol=tol)


def test_bf16_matmul_with_f32_accumulation():
    def f(a, b):
        return jax.lax.dot(a, b, preferred_element_type=jnp.float32)
    check_against_jax(f, randn((8, 64), BF16), randn((64, 16), BF16), via="text",
                      tol=dict(rtol=1e-5, atol=1e-4))


def test_mixed_dot_operands_are_converted():
    text = """
    func.func @main(%a: tensor<4x8xbf16>, %b: tensor<8x3xf32>) -> tensor<4x3xf32> {
      %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xbf16>, tensor<8x3xf32>) -> tensor<4x3xf32>
      return %0 : tensor<4x3xf32>
    }"""
    from jax_chip.compiler.driver import compile_program
    from .reference_interpreter import execute
    a, b = randn((4, 8), BF16), randn((8, 3))
    (out,) = execute(compile_program(text, "mlir", b"", {}), [a, b])
    np.testing.assert_allclose(out, a.astype(np.float32) @ b, rtol=1e-5, atol=1e-5)


def test_stablehlo_dot_op():
    text = """
    func.func @main(%a: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4xf32> {
      %0 = stablehlo.dot %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4xf32>
      return %0 : tensor<4xf32>
    }"""
    from jax_chip.compiler.driver import compile_program
    from .reference_interpreter import execute
    a, b = randn((4, 8)), randn((8,))
    (out,) = execute(compile_program(text, "mlir", b"", {}), [a, b])
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fusion", [True, False])
@pytest.mark.parametrize("via", ["text", "portable"])
def test_transformer_block(fusion, via):
    exe = check_against_jax(transformer_block, *transformer_args(), via=via,
                            options=CompileOptions(fusion=fusion),
                            tol=dict(rtol=5e-2, atol=5e-2))
    assert "DotGeneral" in kernel_types(exe)


def test_softmax_bf16_and_layernorm():
    def f(x, g, b):
        p = jax.nn.softmax(x.astype(jnp.bfloat16), axis=-1)
        mu = x.mean(-1, keepdims=True)
        y = (x - mu) * jax.lax.rsqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * g + b
        return p, y
    check_against_jax(f, randn((6, 40)), randn((40,)), randn((40,)), via="portable",
                      tol=dict(rtol=2e-2, atol=2e-2))


def test_multiple_and_repeated_outputs():
    def f(x, y):
        z = x * y
        return z, x, z, 3.0 * jnp.ones((2,)), z.reshape(-1)
    check_against_jax(f, randn((3, 4)), randn((3, 4)), via="text")
