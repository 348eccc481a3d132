"""Reference semantics of the Elementwise kernel's instructions (EwOp), in numpy.

This is the chip's elementwise numerics written down once in Python: floating registers are
computed in f32 and rounded to the register dtype after every instruction; integer registers wrap
to their width; pred registers hold 0/1. Transcendentals are the kernels' own functions: the
fast_math.h approximations (exp, log, tanh, logistic, erf) ported to numpy (fast_math.py), and
the C library's sinf, cosf, tanf, expm1f, log1pf, cbrtf, powf, atan2f (libm_f32.py). Constant
folding and the reference interpreter both use it, so a folded constant is bit-identical to what
the chip would compute (tests/test_constant_folding_chip.py).

Register arrays: floats as np.float32 (values already rounded to the register dtype), integers
and pred as np.int64 (values already wrapped).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir import fast_math
from jax_chip.compiler.ir import libm_f32

EWOPS: dict[str, int] = {
    "LOAD": 0, "CONST": 1, "IOTA": 2, "CONVERT": 3,
    "ADD": 4, "SUB": 5, "MUL": 6, "DIV": 7, "MAX": 8, "MIN": 9, "POW": 10,
    "NEG": 11, "ABS": 12, "EXP": 13, "LOG": 14, "TANH": 15, "LOGISTIC": 16, "SQRT": 17, "RSQRT": 18,
    "CMP_EQ": 19, "CMP_NE": 20, "CMP_LT": 21, "CMP_LE": 22, "CMP_GT": 23, "CMP_GE": 24,
    "SELECT": 25,
    "REM": 26, "SIGN": 27, "FLOOR": 28, "CEIL": 29, "ROUND_NEAREST_EVEN": 30, "ROUND_AFZ": 31,
    "IS_FINITE": 32, "EXPM1": 33, "LOG1P": 34, "SIN": 35, "COS": 36, "ATAN2": 37, "CLAMP": 38,
    "AND": 39, "OR": 40, "XOR": 41, "NOT": 42, "SHL": 43, "SHR_ARITHMETIC": 44, "SHR_LOGICAL": 45,
    "POPCNT": 46, "BITCAST_CONVERT": 47, "REDUCE_PRECISION": 48,
    "TAN": 49, "CBRT": 50, "ERF": 51, "MUL_HI": 52,
}
EWOP_NAMES: dict[int, str] = {v: k for k, v in EWOPS.items()}

# Instructions the cost model counts as transcendental (1/4 of the vector rate).
TRANSCENDENTAL = frozenset({
    "EXP", "LOG", "TANH", "LOGISTIC", "SQRT", "RSQRT", "POW", "EXPM1", "LOG1P", "SIN", "COS",
    "TAN", "ATAN2", "CBRT", "ERF",
})
# Instructions that do no arithmetic (not counted as vector work).
FREE = frozenset({"LOAD", "CONST", "IOTA"})

UNARY = frozenset({
    "CONVERT", "NEG", "ABS", "EXP", "LOG", "TANH", "LOGISTIC", "SQRT", "RSQRT", "SIGN", "FLOOR",
    "CEIL", "ROUND_NEAREST_EVEN", "ROUND_AFZ", "IS_FINITE", "EXPM1", "LOG1P", "SIN", "COS", "NOT",
    "POPCNT", "BITCAST_CONVERT", "REDUCE_PRECISION", "TAN", "CBRT", "ERF",
})
BINARY = frozenset({
    "ADD", "SUB", "MUL", "DIV", "MAX", "MIN", "POW", "REM", "ATAN2", "AND", "OR", "XOR", "SHL",
    "SHR_ARITHMETIC", "SHR_LOGICAL", "CMP_EQ", "CMP_NE", "CMP_LT", "CMP_LE", "CMP_GT", "CMP_GE",
    "MUL_HI",
})


def num_operands(op: str) -> int:
    if op in ("LOAD", "CONST", "IOTA"):
        return 0
    if op in UNARY:
        return 1
    if op in BINARY:
        return 2
    return 3


# ---- register <-> storage ---------------------------------------------------------------------

def round_float(x: np.ndarray, dtype: str) -> np.ndarray:
    """Rounds f32 values to float dtype `dtype` (round to nearest even), returned as f32."""
    x = np.asarray(x, dtype=np.float32)
    if dtype == "bf16":
        return x.astype(ml_dtypes.bfloat16).astype(np.float32)
    if dtype == "f16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(np.float32)
    return x


def wrap_int(x: np.ndarray, dtype: str) -> np.ndarray:
    """Wraps int64 values to the width of integer dtype `dtype` (pred: nonzero -> 1)."""
    x = np.asarray(x, dtype=np.int64)
    if dtype == "pred":
        return (x != 0).astype(np.int64)
    return x.astype(dtypes.numpy_dtype(dtype)).astype(np.int64)


def normalize(x: np.ndarray, dtype: str) -> np.ndarray:
    if dtypes.info(dtype).is_float:
        return round_float(x, dtype)
    return wrap_int(x, dtype)


def load(data: np.ndarray, dtype: str) -> np.ndarray:
    """Storage array (any shape) of `dtype` -> register array."""
    if dtypes.info(dtype).is_float:
        return np.asarray(data).astype(np.float32)
    return np.asarray(data).astype(np.int64)


def store(reg: np.ndarray, dtype: str) -> np.ndarray:
    """Register array -> storage array of `dtype`."""
    if dtype == "pred":
        return np.asarray(reg) != 0
    return np.asarray(reg).astype(dtypes.numpy_dtype(dtype))


# ---- instructions -----------------------------------------------------------------------------

def _int_limits(dtype: str) -> tuple[int, int]:
    if dtype == "pred":
        return 0, 1
    ii = np.iinfo(dtypes.numpy_dtype(dtype))
    return int(ii.min), int(ii.max)


def convert(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    s, d = dtypes.info(src), dtypes.info(dst)
    if dst == "pred":
        return (x != 0).astype(np.int64)
    if d.is_float:
        return round_float(np.asarray(x).astype(np.float32), dst)
    if s.is_float:  # float -> int: truncate toward zero, saturate, NaN -> 0
        lo, hi = _int_limits(dst)
        xd = np.trunc(np.asarray(x, dtype=np.float64))
        xd = np.where(np.isnan(xd), 0.0, xd)
        xd = np.clip(xd, lo, hi)
        return xd.astype(np.int64)
    return wrap_int(x, dst)


def _int_div(a: np.ndarray, b: np.ndarray, dtype: str) -> np.ndarray:
    """XLA integer division: truncates toward zero; x/0 = -1 (all ones); INT_MIN/-1 = INT_MIN."""
    zero = b == 0
    bb = np.where(zero, 1, b)
    q = np.abs(a) // np.abs(bb) * np.sign(a) * np.sign(bb)
    q = np.where(zero, -1, q)
    return wrap_int(q, dtype)


def _int_rem(a: np.ndarray, b: np.ndarray, dtype: str) -> np.ndarray:
    """XLA integer remainder: sign of the dividend; x % 0 = x; INT_MIN % -1 = 0."""
    zero = b == 0
    bb = np.where(zero, 1, b)
    r = np.abs(a) % np.abs(bb) * np.sign(a)
    r = np.where(zero, a, r)
    return wrap_int(r, dtype)


def _int_pow(a: np.ndarray, b: np.ndarray, dtype: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    a, b = np.broadcast_arrays(a, b)
    result = np.ones_like(a)
    base = a.copy()
    e = np.where(b < 0, 0, b)
    with np.errstate(over="ignore"):
        while np.any(e > 0):
            odd = (e & 1) == 1
            result = np.where(odd, result * base, result)
            base = base * base
            e = e >> 1
    neg = b < 0
    neg_val = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0))
    return wrap_int(np.where(neg, neg_val, result), dtype)


def _unsigned_bits(x: np.ndarray, dtype: str) -> np.ndarray:
    bits = dtypes.info(dtype).bits
    return np.asarray(x, dtype=np.int64) & ((1 << bits) - 1)


def _shift(op: str, a: np.ndarray, b: np.ndarray, dtype: str) -> np.ndarray:
    bits = dtypes.info(dtype).bits
    amount = _unsigned_bits(b, dtype)
    big = amount >= bits
    amt = np.where(big, 0, amount)
    if op == "SHL":
        r = np.where(big, 0, _unsigned_bits(a, dtype) << amt)
    elif op == "SHR_LOGICAL":
        r = np.where(big, 0, _unsigned_bits(a, dtype) >> amt)
    else:  # arithmetic: sign-extend the value as a signed integer of this width
        ua = _unsigned_bits(a, dtype)
        signed = np.where(ua >= (1 << (bits - 1)), ua - (1 << bits), ua)
        r = np.where(big, np.where(signed < 0, -1, 0), signed >> amt)
    return wrap_int(r, dtype)


def _popcnt(x: np.ndarray, dtype: str) -> np.ndarray:
    u = _unsigned_bits(x, dtype).astype(np.uint64)
    count = np.zeros(u.shape, dtype=np.int64)
    for _ in range(dtypes.info(dtype).bits):
        count += (u & np.uint64(1)).astype(np.int64)
        u = u >> np.uint64(1)
    return count


def _bitcast(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    stored = store(x, src)
    if src == "pred" or dst == "pred":
        return wrap_int(np.asarray(stored).astype(np.int64), dst)
    # (ascontiguousarray makes a 0-d array 1-d: restore the shape)
    bits = np.ascontiguousarray(stored).view(dtypes.numpy_dtype(dst)).reshape(np.shape(stored))
    return load(bits, dst)


def reduce_precision_f32(x: np.ndarray, exponent_bits: int, mantissa_bits: int) -> np.ndarray:
    """XLA's reduce_precision on f32 values: round the mantissa to nearest even, then clamp the
    exponent range (overflow -> inf, underflow -> signed zero). NaN stays NaN."""
    x = np.asarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    if mantissa_bits < 23:
        drop = 23 - mantissa_bits
        last = (bits >> np.uint64(drop)) & np.uint64(1)
        bias = (np.uint64(1) << np.uint64(drop - 1)) - np.uint64(1) + last
        bits = (bits + bias) & ~((np.uint64(1) << np.uint64(drop)) - np.uint64(1))
    bits = bits & np.uint64(0xFFFFFFFF)
    if exponent_bits < 8:
        exp_bias = (1 << (exponent_bits - 1)) - 1
        max_exp = 127 + exp_bias
        min_exp = 127 - exp_bias + 1
        e = (bits >> np.uint64(23)) & np.uint64(0xFF)
        sign = bits & np.uint64(0x80000000)
        over = e > np.uint64(max_exp)
        under = e < np.uint64(min_exp)
        bits = np.where(over, sign | np.uint64(0x7F800000), bits)
        bits = np.where(under, sign, bits)
    out = bits.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), x, out)


def fmax(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The kernels' float max: `isnan(a) || a >= b ? a : b` (NaN propagates; of two zeros the
    first operand, where np.maximum's sign of zero depends on its SIMD path)."""
    return np.where(np.isnan(a) | (a >= b), a, b).astype(np.float32)


def fmin(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The kernels' float min: `isnan(a) || a <= b ? a : b`."""
    return np.where(np.isnan(a) | (a <= b), a, b).astype(np.float32)


_FAST_UNARY = {"EXP": fast_math.exp, "LOG": fast_math.log, "TANH": fast_math.tanh,
               "LOGISTIC": fast_math.logistic, "ERF": fast_math.erf}


def _float_unary(op: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if op in _FAST_UNARY:
        return _FAST_UNARY[op](x)
    if op in libm_f32.UNARY:
        return libm_f32.unary(op, x)
    with np.errstate(all="ignore"):
        if op == "NEG":
            return -x
        if op == "ABS":
            return np.abs(x)
        if op == "SQRT":
            return np.sqrt(x)
        if op == "RSQRT":
            return np.float32(1.0) / np.sqrt(x)     # 1.0f / std::sqrt(x): two roundings
        if op == "SIGN":
            return np.where(np.isnan(x), x, np.where(x == 0, x, np.sign(x))).astype(np.float32)
        if op == "FLOOR":
            return np.floor(x)
        if op == "CEIL":
            return np.ceil(x)
        if op == "ROUND_NEAREST_EVEN":
            return np.rint(x)
        if op == "ROUND_AFZ":
            t = np.trunc(x)
            frac = x - t
            return np.where(np.abs(frac) >= 0.5, t + np.sign(x), t).astype(np.float32)
    raise NotImplementedError(f"EwOp {op} on floats")


def _float_binary(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if op in libm_f32.BINARY:
        return libm_f32.binary(op, a, b)
    with np.errstate(all="ignore"):
        if op == "ADD":
            return a + b
        if op == "SUB":
            return a - b
        if op == "MUL":
            return a * b
        if op == "DIV":
            return a / b
        if op == "MAX":
            return fmax(a, b)
        if op == "MIN":
            return fmin(a, b)
        if op == "REM":
            return np.fmod(a, b)
    raise NotImplementedError(f"EwOp {op} on floats")


def _int_unary(op: str, x: np.ndarray, dtype: str) -> np.ndarray:
    if op == "NEG":
        return wrap_int(-x, dtype)
    if op == "ABS":
        return wrap_int(np.abs(x), dtype)
    if op == "SIGN":
        return np.sign(x).astype(np.int64)
    if op == "NOT":
        return (1 - x) if dtype == "pred" else wrap_int(~x, dtype)
    if op == "POPCNT":
        return _popcnt(x, dtype)
    raise NotImplementedError(f"EwOp {op} on {dtype}")


def _int_binary(op: str, a: np.ndarray, b: np.ndarray, dtype: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        if op == "ADD":
            return wrap_int(a + b, dtype)
        if op == "SUB":
            return wrap_int(a - b, dtype)
        if op == "MUL":
            return wrap_int(a * b, dtype)
        if op == "DIV":
            return _int_div(a, b, dtype)
        if op == "REM":
            return _int_rem(a, b, dtype)
        if op == "MAX":
            return np.maximum(a, b)
        if op == "MIN":
            return np.minimum(a, b)
        if op == "POW":
            return _int_pow(a, b, dtype)
        if op == "AND":
            return a & b
        if op == "OR":
            return a | b
        if op == "XOR":
            return a ^ b
        if op in ("SHL", "SHR_LOGICAL", "SHR_ARITHMETIC"):
            return _shift(op, a, b, dtype)
        if op == "MUL_HI":    # widths <= 32: the exact product fits in int64 / uint64
            bits = dtypes.info(dtype).bits
            if dtypes.info(dtype).is_signed:
                return (a * b) >> bits
            return ((a.astype(np.uint64) * b.astype(np.uint64)) >> np.uint64(bits)).astype(np.int64)
    raise NotImplementedError(f"EwOp {op} on {dtype}")


_CMP = {"CMP_EQ": np.equal, "CMP_NE": np.not_equal, "CMP_LT": np.less, "CMP_LE": np.less_equal,
        "CMP_GT": np.greater, "CMP_GE": np.greater_equal}


def evaluate(op: str, dtype: str, args: list[np.ndarray], arg_dtypes: list[str],
             imm_i: int = 0, imm_f: float = 0.0) -> np.ndarray:
    """Result register of one instruction (not LOAD/IOTA) given its operand registers."""
    fl = dtypes.info(dtype).is_float
    if op == "CONST":
        return normalize(np.asarray(imm_f if fl else imm_i), dtype)
    if op == "CONVERT":
        return convert(args[0], arg_dtypes[0], dtype)
    if op == "BITCAST_CONVERT":
        return _bitcast(args[0], arg_dtypes[0], dtype)
    if op in _CMP:
        return _CMP[op](args[0], args[1]).astype(np.int64)
    if op == "SELECT":
        return normalize(np.where(args[0] != 0, args[1], args[2]), dtype)
    if op == "CLAMP":  # a = min, b = operand, c = max (stablehlo.clamp operand order)
        lo, x, hi = args
        if fl:
            return round_float(fmin(fmax(x, lo), hi), dtype)
        return normalize(np.minimum(np.maximum(x, lo), hi), dtype)
    if op == "IS_FINITE":
        return np.isfinite(args[0]).astype(np.int64)
    if op == "REDUCE_PRECISION":
        return round_float(reduce_precision_f32(args[0], imm_i >> 16, imm_i & 0xFFFF), dtype)
    if fl:
        if op in UNARY:
            r = _float_unary(op, args[0])
        else:
            r = _float_binary(op, args[0], args[1])
        return round_float(np.asarray(r, dtype=np.float32), dtype)
    if op in UNARY:
        return _int_unary(op, args[0], dtype)
    if dtype == "pred" and op in ("AND", "OR", "XOR", "MAX", "MIN"):
        return _int_binary(op, args[0], args[1], "s32") & 1
    return _int_binary(op, args[0], args[1], dtype)
