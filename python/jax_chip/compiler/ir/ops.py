"""The op registry: every StableHLO/CHLO op the chip compiler accepts, how it is lowered, for which
element types, and notes. It is the single source of docs/ops.md (tools/gen_ops_doc.py).

Op kinds:
- "elementwise": computed per element inside an Elementwise kernel by `lower` (register code).
- "movement": broadcast_in_dim / transpose / slice / reshape: become strided views of an
  Elementwise kernel's inputs (reshape of a materialized value is a zero-copy alias).
- "iota", "constant": generated in registers (iota, splat constants) or CONSTANT storage.
- "dot", "reduce", "concatenate": their own kernels (DotGeneral, Reduce, Concatenate).
- "control": while / case / if, kernels with nested kernel lists (While, Case).
- "convolution": stablehlo.convolution, the Convolution kernel (lower_convolution.py).
- "collective": all_reduce, all_gather, ... on one device: the identity (collectives.py).
- "structural": func.return / func.call, handled by the importer.
- "annotation": sharding annotations, removed by the strip_sharding pass.
- "rewritten": replaced by other ops in a pass (stablehlo.dot -> dot_general).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from jax_chip.compiler.ir import dtypes as dt
from jax_chip.compiler.ir.errors import UnsupportedError, at

if TYPE_CHECKING:
    from jax_chip.compiler.lowering.ew_codegen import InstrBuilder
    from jax_chip.compiler.ir.graph import Node

# lower(builder, node, operand registers) -> result register
Lowering = Callable[["InstrBuilder", "Node", list[int]], int]


@dataclass(frozen=True)
class OpSpec:
    name: str
    kind: str
    dtypes: frozenset[str]
    lower: Optional[Lowering] = None
    ewop: str = ""                     # the main EwOp, for docs
    kernel: str = ""                   # kernel type it becomes, for docs
    notes: str = ""
    status: str = "supported"
    foldable: bool = True              # constant folding may evaluate it
    fusible: bool = field(default=True)
    # Ops that become kernels of their own outside the core set (lower_indexing.py, ...):
    # importer(importer, mlir op, loc) -> attrs;
    # emit(node) -> kernel op description (with OP_TYPE and write()); cost(node) -> KernelCost.
    importer: Optional[Callable[..., Any]] = None
    emit: Optional[Callable[["Node"], Any]] = None
    cost: Optional[Callable[["Node"], Any]] = None
    # in_place(node) -> [(result index, operand index)]: results the kernel computes by updating
    # that operand in place when they share storage (scatter, dynamic_update_slice)
    in_place: Optional[Callable[["Node"], list[tuple[int, int]]]] = None


REGISTRY: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    assert spec.name not in REGISTRY, spec.name
    REGISTRY[spec.name] = spec
    return spec


def lookup(name: str) -> OpSpec | None:
    return REGISTRY.get(name)


def require(node: "Node") -> OpSpec:
    spec = REGISTRY.get(node.op)
    if spec is None:
        raise UnsupportedError(f"{node.op} is not supported on the chip{at(node.loc)}")
    return spec


# ---- elementwise lowerings -------------------------------------------------------------------

def _simple(ewop: str) -> Lowering:
    def lower(b: "InstrBuilder", node: "Node", args: list[int]) -> int:
        return b.emit(ewop, node.result.type.dtype, *args)
    return lower


def _total_order_key(b: "InstrBuilder", dtype: str, x: int) -> int:
    """Signed integer whose order is the float's total order (-NaN < -inf < -0 < +0 < +NaN):
    the bits, with all but the sign flipped for negative values."""
    bits = dt.info(dtype).bits
    it = {16: "s16", 32: "s32"}[bits]
    s = b.emit("BITCAST_CONVERT", it, x)
    sign = b.emit("SHR_ARITHMETIC", it, s, b.const(it, bits - 1))
    flip = b.emit("AND", it, sign, b.const(it, (1 << (bits - 1)) - 1))
    return b.emit("XOR", it, s, flip)


def _compare(b: "InstrBuilder", node: "Node", args: list[int]) -> int:
    direction = node.attrs["comparison_direction"]
    src = node.operands[0].type.dtype
    if node.attrs.get("compare_type") == "TOTALORDER" and dt.info(src).is_float:
        args = [_total_order_key(b, src, a) for a in args]
    return b.emit(f"CMP_{direction}", "pred", *args)


def _convert(b: "InstrBuilder", node: "Node", args: list[int]) -> int:
    src, dst = node.operands[0].type.dtype, node.result.type.dtype
    if src == dst:
        return args[0]
    return b.emit("CONVERT", dst, args[0])


def _clamp(b: "InstrBuilder", node: "Node", args: list[int]) -> int:
    # clamp(min, x, max) = min(max(x, min), max): XLA's definition, no extra EwOp needed.
    lo, x, hi = args
    t = node.result.type.dtype
    return b.emit("MIN", t, b.emit("MAX", t, x, lo), hi)


def _reduce_precision(b: "InstrBuilder", node: "Node", args: list[int]) -> int:
    imm = (int(node.attrs["exponent_bits"]) << 16) | int(node.attrs["mantissa_bits"])
    return b.emit("REDUCE_PRECISION", node.result.type.dtype, args[0], imm_i=imm)


def _in_f32(ewops: Callable[["InstrBuilder", int], int]) -> Lowering:
    """Computes a composite op in f32 and rounds once to the result dtype."""
    def lower(b: "InstrBuilder", node: "Node", args: list[int]) -> int:
        t = node.result.type.dtype
        x = args[0] if t == "f32" else b.emit("CONVERT", "f32", args[0])
        r = ewops(b, x)
        return r if t == "f32" else b.emit("CONVERT", t, r)
    return lower


def _erfc_f32(b: "InstrBuilder", x: int) -> int:
    return b.emit("SUB", "f32", b.const("f32", 1.0), b.emit("ERF", "f32", x))


def _bitcast(b: "InstrBuilder", node: "Node", args: list[int]) -> int:
    src, dst = node.operands[0].type.dtype, node.result.type.dtype
    if src == dst:
        return args[0]
    return b.emit("BITCAST_CONVERT", dst, args[0])


FLOATS = dt.ALL_FLOAT
INTS = dt.ALL_INT
SINTS = dt.ALL_SINT
NUMERIC = dt.ALL_FLOAT | dt.ALL_INT
ALL = dt.ALL_TYPES
BITWISE = dt.ALL_INT_PRED


def _ew(name: str, ewop: str, types: frozenset[str], notes: str = "",
        lower: Lowering | None = None, foldable: bool = True) -> None:
    register(OpSpec(name, "elementwise", frozenset(types), lower or _simple(ewop), ewop=ewop,
                    kernel="Elementwise", notes=notes, foldable=foldable))


_ew("stablehlo.add", "ADD", NUMERIC | {"pred"}, "pred add is logical or")
_ew("stablehlo.subtract", "SUB", NUMERIC)
_ew("stablehlo.multiply", "MUL", NUMERIC | {"pred"}, "pred multiply is logical and")
_ew("stablehlo.divide", "DIV", NUMERIC,
    "integer division truncates; x/0 = -1, INT_MIN/-1 = INT_MIN (XLA semantics)")
_ew("stablehlo.remainder", "REM", NUMERIC, "sign of the dividend (fmod for floats)")
_ew("stablehlo.maximum", "MAX", NUMERIC | {"pred"}, "NaN propagates")
_ew("stablehlo.minimum", "MIN", NUMERIC | {"pred"}, "NaN propagates")
_ew("stablehlo.power", "POW", NUMERIC, "integer power: negative exponents give 0 (except base +-1)")
_ew("stablehlo.atan2", "ATAN2", FLOATS)
_ew("stablehlo.negate", "NEG", NUMERIC)
_ew("stablehlo.abs", "ABS", FLOATS | SINTS)
_ew("stablehlo.sign", "SIGN", FLOATS | SINTS)
_ew("stablehlo.exponential", "EXP", FLOATS)
_ew("stablehlo.exponential_minus_one", "EXPM1", FLOATS)
_ew("stablehlo.log", "LOG", FLOATS)
_ew("stablehlo.log_plus_one", "LOG1P", FLOATS)
_ew("stablehlo.tanh", "TANH", FLOATS)
_ew("stablehlo.logistic", "LOGISTIC", FLOATS)
_ew("stablehlo.sqrt", "SQRT", FLOATS)
_ew("stablehlo.rsqrt", "RSQRT", FLOATS)
_ew("stablehlo.cbrt", "CBRT", FLOATS)
_ew("stablehlo.sine", "SIN", FLOATS)
_ew("stablehlo.cosine", "COS", FLOATS)
_ew("stablehlo.tan", "TAN", FLOATS)
_ew("stablehlo.floor", "FLOOR", FLOATS)
_ew("stablehlo.ceil", "CEIL", FLOATS)
_ew("stablehlo.round_nearest_even", "ROUND_NEAREST_EVEN", FLOATS)
_ew("stablehlo.round_nearest_afz", "ROUND_AFZ", FLOATS)
_ew("stablehlo.is_finite", "IS_FINITE", FLOATS, "result is pred")
_ew("stablehlo.and", "AND", BITWISE)
_ew("stablehlo.or", "OR", BITWISE)
_ew("stablehlo.xor", "XOR", BITWISE)
_ew("stablehlo.not", "NOT", BITWISE, "logical for pred, bitwise for integers")
_ew("stablehlo.shift_left", "SHL", INTS, "shift >= width gives 0")
_ew("stablehlo.shift_right_arithmetic", "SHR_ARITHMETIC", INTS, "shift >= width gives the sign")
_ew("stablehlo.shift_right_logical", "SHR_LOGICAL", INTS, "shift >= width gives 0")
_ew("stablehlo.popcnt", "POPCNT", INTS)
_ew("chip.mul_hi", "MUL_HI", INTS, "the chip's own op (no StableHLO spelling): high half of the "
    "double-width integer product; made by rng_bit_generator's expansion (Philox)")
_ew("stablehlo.compare", "CMP_*", ALL,
    "directions EQ/NE/LT/LE/GT/GE; float (IEEE, NaN unordered), signed and unsigned compare "
    "types; TOTALORDER on floats compares the bit patterns' total order "
    "(-NaN < -inf < -0 < +0 < +inf < +NaN)", lower=_compare)
_ew("stablehlo.select", "SELECT", ALL, "scalar (0-d) predicate allowed")
_ew("stablehlo.clamp", "MAX+MIN", ALL, "scalar (0-d) bounds allowed; lowered to MAX then MIN",
    lower=_clamp)
_ew("stablehlo.convert", "CONVERT", ALL,
    "between all chip types; float->int truncates and saturates, NaN -> 0", lower=_convert)
_ew("stablehlo.bitcast_convert", "BITCAST_CONVERT", ALL, "same bit width only", lower=_bitcast)
_ew("stablehlo.reduce_precision", "REDUCE_PRECISION", FLOATS, lower=_reduce_precision)
_ew("chlo.erf", "ERF", FLOATS, "computed in f32, rounded once",
    lower=_in_f32(lambda b, x: b.emit("ERF", "f32", x)))
_ew("chlo.erfc", "ERF", FLOATS, "1 - erf(x), computed in f32 (loses relative accuracy for x > 3)",
    lower=_in_f32(_erfc_f32))

# ---- data movement, generators ---------------------------------------------------------------

register(OpSpec("stablehlo.broadcast_in_dim", "movement", ALL, kernel="view",
                notes="a stride-0 view; standalone: an Elementwise copy"))
register(OpSpec("stablehlo.transpose", "movement", ALL, kernel="view",
                notes="a permuted-stride view; standalone: an Elementwise copy"))
register(OpSpec("stablehlo.slice", "movement", ALL, kernel="view",
                notes="an offset/strided view; standalone: an Elementwise copy"))
register(OpSpec("stablehlo.reshape", "movement", ALL, kernel="view / alias",
                notes="row-major reshape: a zero-copy alias of a materialized value"))
register(OpSpec("stablehlo.iota", "iota", NUMERIC, kernel="Elementwise", ewop="IOTA",
                notes="computed in s32, converted to the result type"))
register(OpSpec("stablehlo.constant", "constant", ALL, kernel="CONSTANT / CONST",
                notes="splats become CONST instructions; others CONSTANT storage"))

# ---- kernels --------------------------------------------------------------------------------

register(OpSpec("stablehlo.dot_general", "dot", NUMERIC, kernel="DotGeneral",
                notes="bf16/f16: f32 accumulation; f32: f32 accumulation; integers: s32 "
                      "accumulation; mixed operand types are converted to the wider type",
                fusible=False))
register(OpSpec("stablehlo.dot", "rewritten", NUMERIC, kernel="DotGeneral",
                notes="rewritten to dot_general", fusible=False))
register(OpSpec("stablehlo.reduce", "reduce", ALL, kernel="Reduce",
                notes="one operand with body add/multiply/maximum/minimum/and/or/xor; other "
                      "reduces (several operands, e.g. argmax) become chip.variadic_reduce",
                fusible=False))
register(OpSpec("stablehlo.concatenate", "concatenate", ALL, kernel="Concatenate",
                fusible=False))

# ---- control flow (region_import.py, xla_passes/memory_planning.py) ------------------------------

register(OpSpec("stablehlo.while", "control", ALL, kernel="While",
                notes="cond and body run as nested kernel lists; loop-carried values live in the "
                      "While kernel's outputs; values read from outside become explicit captures",
                fusible=False, foldable=False))
register(OpSpec("stablehlo.case", "control", ALL, kernel="Case",
                notes="the selected branch's kernels run; an out-of-range index runs the last "
                      "branch", fusible=False, foldable=False))
register(OpSpec("stablehlo.if", "control", ALL, kernel="Case",
                notes="imported as a two-branch case on the predicate", fusible=False,
                foldable=False))

# ---- structure / annotations ------------------------------------------------------------------

register(OpSpec("func.return", "structural", ALL, notes="several results allowed", fusible=False))
register(OpSpec("func.call", "structural", ALL, notes="inlined by the frontend", fusible=False))
register(OpSpec("stablehlo.return", "structural", ALL, notes="region terminator", fusible=False))
register(OpSpec("stablehlo.custom_call", "annotation", ALL, status="partial",
                notes="the sharding annotations @Sharding, @SPMDFullToShardShape and "
                      "@SPMDShardToFullShape (removed for one device), and the chip's native "
                      "kernels @chip.paged_kv_write, @chip.paged_attention_decode, "
                      "@chip.radix_attention_extend, and XLA FFI handlers registered with "
                      "jax.ffi.register_ffi_target(..., platform=\"chip\") (become chip.custom_call)",
                fusible=False))
register(OpSpec("stablehlo.optimization_barrier", "annotation", ALL,
                notes="removed (the chip schedules in program order)", fusible=False))
register(OpSpec("sdy.sharding_constraint", "annotation", ALL,
                notes="removed for one device", fusible=False))

# ---- data movement, indexing and sorting kernels (lower_indexing.py) -------------------------------

from jax_chip.compiler.kernels import table_op as _lower_indexing  # noqa: E402

_lower_indexing.register_ops(register, OpSpec, ALL, NUMERIC)

# ---- custom calls to the chip's native kernels (lower_custom_call.py) ------------------------------

from xla_passes import custom_call_lowering as _lower_custom_call  # noqa: E402

_lower_custom_call.register_ops(register, OpSpec, ALL)

# ---- convolution (lower_convolution.py) ------------------------------------------------------------

from jax_chip.compiler.kernels import convolution as _lower_convolution  # noqa: E402

_lower_convolution.register_ops(register, OpSpec, NUMERIC)

# ---- random bits (rng_algorithms.py, expanded by xla_passes/rng_bit_generator_expansion.py) -------

from jax_chip.compiler.lowering import rng_algorithms as _rng_algorithms  # noqa: E402

_rng_algorithms.register_ops(register, OpSpec)

# ---- collectives on one device (collectives.py) --------------------------------------------------

from jax_chip.compiler.frontend import attributes as _collectives  # noqa: E402

_collectives.register_ops(register, OpSpec, ALL)

ELEMENTWISE_OPS = frozenset(n for n, s in REGISTRY.items() if s.kind == "elementwise")
MOVEMENT_OPS = frozenset(n for n, s in REGISTRY.items() if s.kind == "movement")
