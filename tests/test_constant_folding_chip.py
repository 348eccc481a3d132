"""Constant folding computes exactly what the chip computes.

The compiler folds constant expressions by running them with the chip's own kernels through the
loaded plugin (xla_passes/constant_folding.py, jax_chip/compiler/chip_eval.py). These tests hold
the folded constants to the bit against the device: every floating-point instruction folded on
random bit patterns and special values against the same op on runtime arguments, and whole
programs compiled with and without constant folding (CHIP_DISABLE_PASSES=constant_folding),
among them a RoPE cos/sin table gathered by runtime positions and the transformer block of
tools/transformer_block.py.
"""

from __future__ import annotations

import pathlib
import sys

import jax
import jax.extend
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax
from jax._src.lib import xla_client

from jax_chip.compiler import chip_eval, driver
from jax_chip.compiler.backend.inspect_executable import read_executable
from parity import chip

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import transformer_block  # noqa: E402

R = np.random.default_rng(2024)
N = 40000
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754942e-38,
                    1.17549435e-38, 3.4e38, -3.4e38, 88.7, 89.0, 89.1, -103.9, -104.0, -104.5,
                    0.625, -0.625, 1.0, -1.0, 1.5, 2.0, 10.0, -10.0, 20.0, -20.0, 1e10, -1e10,
                    np.pi, 1e-20], np.float32)
SIGNALING_NAN = np.array([0x7F800001, 0xFF800001, 0x7FA00000, 0xFFBFFFFF], np.uint32)


def _inputs(n: int) -> np.ndarray:
    """Special values, uniformly random bit patterns (every exponent, NaNs, subnormals) and the
    ranges models use."""
    bits = R.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return np.concatenate([SPECIAL, SIGNALING_NAN.view(np.float32), bits,
                           (R.standard_normal(n) * 4).astype(np.float32),
                           R.uniform(-1.0, 1.0, n).astype(np.float32),
                           (R.standard_normal(n) * 300).astype(np.float32)])


UNARY = {
    "EXP": "exponential", "LOG": "log", "TANH": "tanh", "LOGISTIC": "logistic", "SQRT": "sqrt",
    "RSQRT": "rsqrt", "EXPM1": "exponential_minus_one", "LOG1P": "log_plus_one", "SIN": "sine",
    "COS": "cosine", "TAN": "tan", "CBRT": "cbrt", "NEG": "negate", "ABS": "abs",
    "FLOOR": "floor", "CEIL": "ceil", "ROUND_NEAREST_EVEN": "round_nearest_even",
    "ROUND_AFZ": "round_nearest_afz", "SIGN": "sign",
}
BINARY = {"POW": "power", "ATAN2": "atan2", "DIV": "divide", "REM": "remainder",
          "ADD": "add", "MUL": "multiply", "MAX": "maximum", "MIN": "minimum"}
TYPES = {"f32": ("f32", np.float32), "bf16": ("bf16", ml_dtypes.bfloat16),
         "f16": ("f16", np.float16)}


def _run_on_chip(op: str, mlir_type: str, args: list[np.ndarray]) -> np.ndarray:
    """One StableHLO op on runtime arguments, compiled and run on the chip."""
    n = args[0].size
    t = f"tensor<{n}x{mlir_type}>"
    names = ", ".join(f"%a{i}: {t}" for i in range(len(args)))
    operands = ", ".join(f"%a{i}" for i in range(len(args)))
    code = (f"func.func @main({names}) -> {t} {{\n"
            f"  %0 = stablehlo.{op} {operands} : {t}\n"
            f"  return %0 : {t}\n}}")
    backend = jax.extend.backend.get_backend("chip")
    exe = backend.compile_and_load(code, xla_client.DeviceList((chip(),)),
                                   xla_client.CompileOptions())
    bufs = [jax.device_put(a, chip()) for a in args]
    out = exe.execute_sharded([[b] for b in bufs])
    return np.asarray(out.disassemble_into_single_device_arrays()[0][0])


def _folded(op: str, mlir_type: str, args: list[np.ndarray]) -> np.ndarray:
    """The same op on the same values as constants: compiled with constant folding, the program
    is the folded constant, which the plugin then returns."""
    n = args[0].size
    t = f"tensor<{n}x{mlir_type}>"
    consts = "\n".join(f'  %c{i} = stablehlo.constant dense<"0x{a.tobytes().hex().upper()}"> : {t}'
                       for i, a in enumerate(args))
    operands = ", ".join(f"%c{i}" for i in range(len(args)))
    code = (f"func.func @main() -> {t} {{\n{consts}\n"
            f"  %0 = stablehlo.{op} {operands} : {t}\n"
            f"  return %0 : {t}\n}}")
    data = driver.compile_program(code, "mlir")
    kinds = [k.op_type for k in read_executable(data).kernels]
    assert "Elementwise" not in kinds, f"{op} was not folded: {kinds}"
    (out,) = chip_eval.run_executable(data, [])
    return out


def _assert_bits_equal(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Same bits, NaN payloads aside (which of two NaN operands propagates is the hardware's
    and the C++ compiler's choice)."""
    g = np.ascontiguousarray(got).view(np.uint16 if got.itemsize == 2 else np.uint32)
    w = np.ascontiguousarray(want).view(g.dtype)
    both_nan = np.isnan(got.astype(np.float32)) & np.isnan(want.astype(np.float32))
    bad = np.flatnonzero((g != w) & ~both_nan)
    assert bad.size == 0, (f"{what}: {bad.size} of {g.size} elements differ, first at {bad[0]}: "
                           f"{got.reshape(-1)[bad[0]]!r} vs {want.reshape(-1)[bad[0]]!r}")


@pytest.mark.parametrize("dtype", sorted(TYPES))
@pytest.mark.parametrize("ewop", sorted(UNARY))
def test_unary_instruction_is_the_kernels(ewop, dtype):
    name, np_type = TYPES[dtype]
    with np.errstate(all="ignore"):     # f32 -> f16 overflows to inf, as intended
        x = _inputs(N // 4).astype(np_type)
    got = _run_on_chip(UNARY[ewop], name, [x])
    want = _folded(UNARY[ewop], name, [x])
    _assert_bits_equal(got, want, f"{ewop} {dtype}")


@pytest.mark.parametrize("dtype", sorted(TYPES))
@pytest.mark.parametrize("ewop", sorted(BINARY))
def test_binary_instruction_is_the_kernels(ewop, dtype):
    name, np_type = TYPES[dtype]
    a = _inputs(N // 4)
    b = np.concatenate([_inputs(N // 4)[: a.size // 2],
                        R.uniform(-4.0, 4.0, a.size - a.size // 2).astype(np.float32)])
    R.shuffle(b)
    with np.errstate(all="ignore"):
        a, b = a.astype(np_type), b.astype(np_type)
    got = _run_on_chip(BINARY[ewop], name, [a, b])
    want = _folded(BINARY[ewop], name, [a, b])
    _assert_bits_equal(got, want, f"{ewop} {dtype}")


# ---- whole programs, folded and not -------------------------------------------------------------

def _compile(f, args, monkeypatch, disable: str):
    monkeypatch.setenv("CHIP_DISABLE_PASSES", disable)
    placed = [jax.device_put(a, chip()) for a in args]
    # a new function each time: jax caches the compiled executable of a traced function
    compiled = jax.jit(lambda *a: f(*a)).lower(*placed).compile()
    return compiled, placed


def _table(fn, max_position: int = 2048, dim: int = 64) -> jax.Array:
    inv = 1.0 / (10000.0 ** (jnp.arange(0, dim, 2, dtype=jnp.float32) / dim))
    t = jnp.arange(max_position, dtype=jnp.float32)
    return fn(jnp.outer(t, inv))


PROGRAMS = {
    # sglang-jax's RotaryEmbedding: a cos/sin cache gathered by runtime positions
    "rope table": lambda pos: jnp.concatenate(
        [jnp.cos(_table(lambda f: f)), jnp.sin(_table(lambda f: f))], axis=-1).take(pos, axis=0),
    "rope table bf16": lambda pos: transformer_block.rope_cache(128).astype(
        jnp.bfloat16).take(pos, axis=0),
    "exp/log/tanh/erf table": lambda pos: jnp.concatenate(
        [_table(lambda f: jnp.exp(-f / 300.0)), _table(lambda f: jnp.log1p(f)),
         _table(lambda f: jnp.tanh(f / 100.0)), _table(lambda f: lax.erf(f / 500.0)),
         _table(lambda f: jax.nn.sigmoid(f / 50.0 - 2.0)), _table(lambda f: jnp.sqrt(f)),
         _table(lambda f: jnp.arctan2(f, 7.0)), _table(lambda f: (f + 1.0) ** 0.37)],
        axis=-1).take(pos, axis=0),
    "reduced table": lambda pos: jnp.sum(_table(jnp.sin), axis=0)[pos % 32],
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_folded_program_is_bit_identical_to_unfolded(name, monkeypatch):
    f = PROGRAMS[name]
    pos = R.permutation(2048).astype(np.int32)[:300]
    folded, args = _compile(f, [pos], monkeypatch, "")
    unfolded, _ = _compile(f, [pos], monkeypatch, "constant_folding")
    got, want = np.asarray(folded(*args)), np.asarray(unfolded(*args))
    _assert_bits_equal(got, want, name)
    # the folded program stores the table (a constant in the executable); the unfolded one
    # computes it with kernels
    size = lambda c: c.memory_analysis().generated_code_size_in_bytes  # noqa: E731
    assert size(folded) > 2048 * 32 * 2 > size(unfolded)


def test_transformer_block_is_bit_identical_with_and_without_folding(monkeypatch):
    rng = np.random.default_rng(7)
    params = transformer_block.make_params(rng, 256, 512)
    x = rng.standard_normal((64, 256)).astype(jnp.bfloat16)
    positions = (np.arange(64) + 1000).astype(np.int32)
    f = lambda p, x, pos: transformer_block.block(p, x, pos, 4)  # noqa: E731
    folded, args = _compile(f, [params, x, positions], monkeypatch, "")
    unfolded, _ = _compile(f, [params, x, positions], monkeypatch, "constant_folding")
    _assert_bits_equal(np.asarray(folded(*args)), np.asarray(unfolded(*args)), "block")
