"""The op registry: every StableHLO/CHLO op the chip compiler accepts, what it becomes, for which
element types, and notes. It is the single source of docs/ops.md (tools/gen_ops_doc.py). How an
op is imported is the frontend's (frontend/graph_builder.py, frontend/attributes.py), how an
elementwise op becomes register code the lowering's (lowering/elementwise_ops.py), what a kernel
is, writes and costs its kernel module's (kernels/registry.py).

Op kinds:
- "elementwise": computed per element inside an Elementwise kernel (register code).
- "movement": broadcast_in_dim / transpose / slice / reshape / reverse: become strided views of
  an Elementwise kernel's inputs (reshape of a materialized value is a zero-copy alias).
- "iota", "constant": generated in registers (iota, splat constants) or CONSTANT storage.
- "dot", "reduce", "concatenate": their own kernels.
- "indexing": gather, scatter, dynamic slices, pad, sort, top_k, variadic reduce, reduce_window.
- "linalg": triangular_solve, its own kernel.
- "complex": real / imag / complex / fft, lowered with every complex64 computation to f32 ops on
  (real, imaginary) parts by xla_passes/complex_lowering.py (per-op rules:
  lowering/complex_ops.py); "signal": chip.fft, the Fft kernel.
- "custom_call": the chip's native kernels called by name.
- "control": while / case / if, kernels with nested kernel lists.
- "convolution": stablehlo.convolution, the Convolution kernel.
- "collective": all_reduce, all_gather, ... on one device: the identity
  (xla_passes/single_device_collectives.py).
- "structural": func.return / func.call, handled by the importer.
- "annotation": sharding annotations, removed by the strip_sharding pass.
- "rewritten": replaced by other ops in a pass (stablehlo.dot -> dot_general).
"""

from __future__ import annotations

from dataclasses import dataclass

from jax_chip.compiler.ir import dtypes as dt
from jax_chip.compiler.ir.custom_calls import CUSTOM_CALL_OP, NATIVE_TARGETS
from jax_chip.compiler.ir.errors import UnsupportedError, at
from jax_chip.compiler.ir.graph import Node


@dataclass(frozen=True)
class OpSpec:
    name: str
    kind: str
    dtypes: frozenset[str]
    ewop: str = ""                     # the main EwOp (elementwise ops; docs)
    # for docs, what the op becomes when no kernel kind takes it (kernels/registry.py says which
    # kernel kind takes which op): "view", "CONSTANT / CONST", "(identity)", ...
    kernel: str = ""
    becomes: str = ""                  # the op a pass rewrites it to (stablehlo.dot -> dot_general)
    notes: str = ""
    status: str = "supported"
    foldable: bool = True              # constant folding may evaluate it
    fusible: bool = True


# Every op kind, in docs/ops.md's order, with its section title there.
KIND_TITLES: dict[str, str] = {
    "elementwise": "Elementwise (fused into Elementwise kernels)",
    "movement": "Data movement (strided views)",
    "iota": "Generators",
    "constant": "Constants",
    "dot": "Matrix unit",
    "reduce": "Reductions",
    "concatenate": "Concatenation",
    "convolution": "Convolution",
    "indexing": "Indexing, sorting and data-movement kernels",
    "linalg": "Linear algebra kernels",
    "complex": "Complex numbers (lowered to f32 parts by complex_lowering)",
    "signal": "Signal processing kernels",
    "control": "Control flow",
    "custom_call": "Native chip kernels (custom calls; docs/attention.md)",
    "collective": "Collectives",
    "rewritten": "Rewritten by a pass",
    "structural": "Structure",
    "annotation": "Annotations (removed)",
}

REGISTRY: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    if spec.kind not in KIND_TITLES:
        raise ValueError(f"op {spec.name}: unknown kind {spec.kind!r}")
    assert spec.name not in REGISTRY, spec.name
    REGISTRY[spec.name] = spec
    return spec


def lookup(name: str) -> OpSpec | None:
    return REGISTRY.get(name)


def require(node: Node) -> OpSpec:
    spec = REGISTRY.get(node.op)
    if spec is None:
        raise UnsupportedError(f"{node.op} is not supported on the chip{at(node.loc)}")
    return spec


FLOATS = dt.ALL_FLOAT
INTS = dt.ALL_INT
SINTS = dt.ALL_SINT
NUMERIC = dt.ALL_FLOAT | dt.ALL_INT
ALL = dt.ALL_TYPES
BITWISE = dt.ALL_INT_PRED
# fp8 and int4 are taken only by the ops that list them: converts, bitcasts, compare, select,
# data movement, constants, dot_general and the elementwise ops below (docs/numerics.md).
LOWP = dt.LOW_PRECISION
# data movement of fp8 / int4 values runs on bytes (xla_passes/low_precision_movement.py)
_MOVED_AS_BYTES = "fp8 / int4 moved as bytes (fp8 bitcast to u8, int4 widened to 8 bits)"


# The elementwise ops that take fp8 / int4: XLA computes them in f16 (fp8) or at the type's width
# (int4), bit-identically to the chip's registers (tests/test_lowp_fp8.py, test_lowp_int4.py check every input pair).
# Not here: fp8 max/min/clamp, log/log1p, tanh and pow, whose NaN signs, -0 and signaling-NaN
# results differ from XLA:CPU's; int4 popcnt (XLA:CPU counts the sign-extended byte).
FP8_ELEMENTWISE = frozenset(
    "add subtract multiply divide remainder negate abs sign sqrt rsqrt exponential "
    "exponential_minus_one logistic sine cosine tan floor ceil round_nearest_even "
    "round_nearest_afz cbrt is_finite atan2 erf".split())
INT4_ELEMENTWISE = frozenset(
    "add subtract multiply divide remainder maximum minimum negate sign and or xor not "
    "shift_left shift_right_arithmetic shift_right_logical".split())


def _ew(name: str, ewop: str, types: frozenset[str], notes: str = "") -> None:
    short = name.split(".", 1)[1]
    if short in FP8_ELEMENTWISE:
        types = types | dt.FP8
    if short in INT4_ELEMENTWISE:
        types = types | dt.INT4
    register(OpSpec(name, "elementwise", frozenset(types), ewop=ewop,
                    notes=notes))


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
_ew("stablehlo.count_leading_zeros", "CLZ", INTS, "the type's width for 0")
_ew("chip.mul_hi", "MUL_HI", INTS, "the chip's own op (no StableHLO spelling): high half of the "
    "double-width integer product; made by rng_bit_generator's expansion (Philox)")
_ew("stablehlo.compare", "CMP_*", ALL | LOWP,
    "directions EQ/NE/LT/LE/GT/GE; float (IEEE, NaN unordered), signed and unsigned compare "
    "types; TOTALORDER on floats compares the bit patterns' total order "
    "(-NaN < -inf < -0 < +0 < +inf < +NaN)")
_ew("stablehlo.select", "SELECT", ALL | LOWP, "scalar (0-d) predicate allowed")
_ew("stablehlo.clamp", "MAX+MIN", ALL, "scalar (0-d) bounds allowed; lowered to MAX then MIN")
_ew("stablehlo.convert", "CONVERT", ALL | LOWP,
    "between all chip types; float->int truncates and saturates, NaN -> 0; to fp8 with XLA's "
    "rounding (docs/numerics.md)")
_ew("stablehlo.bitcast_convert", "BITCAST_CONVERT", ALL | LOWP,
    "same bit width; 8-bit <-> 4-bit with a trailing dimension of 2 (low nibble first, "
    "xla_passes/bitcast_lowering.py)")
_ew("stablehlo.reduce_precision", "REDUCE_PRECISION", FLOATS)
_ew("chlo.erf", "ERF", FLOATS, "computed in f32, rounded once")
_ew("chlo.erfc", "ERF", FLOATS, "1 - erf(x), computed in f32 (loses relative accuracy for x > 3)")

# ---- data movement, generators ---------------------------------------------------------------

register(OpSpec("stablehlo.broadcast_in_dim", "movement", ALL | LOWP, kernel="view",
                notes="a stride-0 view; standalone: an Elementwise copy"))
register(OpSpec("stablehlo.transpose", "movement", ALL | LOWP, kernel="view",
                notes="a permuted-stride view; standalone: an Elementwise copy"))
register(OpSpec("stablehlo.slice", "movement", ALL | LOWP, kernel="view",
                notes="an offset/strided view; standalone: an Elementwise copy"))
register(OpSpec("stablehlo.reshape", "movement", ALL | LOWP | dt.ALL_COMPLEX, kernel="view / alias",
                notes="row-major reshape: a zero-copy alias of a materialized value; also "
                      "c64[S] <-> f32[S, 2] at complex parameters and outputs (same bytes)"))
register(OpSpec("stablehlo.iota", "iota", NUMERIC, ewop="IOTA",
                notes="computed in s32, converted to the result type"))
register(OpSpec("stablehlo.constant", "constant", ALL | LOWP, kernel="CONSTANT / CONST",
                notes="splats become CONST instructions; others CONSTANT storage"))

# ---- kernels --------------------------------------------------------------------------------

register(OpSpec("stablehlo.dot_general", "dot", NUMERIC | LOWP | {"pred"},
                notes="bf16/f16/fp8: f32 accumulation; f32: f32 accumulation; integers: s32 "
                      "accumulation; pred: logical or of ands (XLA); mixed operand types are "
                      "converted to the wider type, except that an operand converted exactly "
                      "from int4, int8 or fp8 (quantized weights) is read as it is stored "
                      "(int4 packed; xla_passes/dot_lowering.py)",
                fusible=False))
register(OpSpec("stablehlo.dot", "rewritten", NUMERIC | LOWP | {"pred"}, becomes="stablehlo.dot_general",
                notes="rewritten to dot_general", fusible=False))
register(OpSpec(
    "chlo.ragged_dot", "dot", frozenset({"f32", "bf16", "f16"}),
    notes="lax.ragged_dot's grouped matmul (lhs [m, k] ragged along m, rhs [g, k, n] or "
          "[g, n, k], s32/s64 group_sizes; the MoE expert matmuls): the RaggedDot kernel, f32 "
          "accumulation; its cost counts the rows routed and the rhs slices of non-empty groups",
    foldable=False, fusible=False))
register(OpSpec("stablehlo.reduce", "reduce", ALL,
                notes="one operand with body add/multiply/maximum/minimum/and/or/xor; other "
                      "reduces (several operands, e.g. argmax) become chip.variadic_reduce",
                fusible=False))
register(OpSpec("stablehlo.concatenate", "concatenate", ALL | LOWP, fusible=False,
                notes=_MOVED_AS_BYTES))

# ---- control flow (frontend/region_import.py, kernels/control_flow.py) -------------------------

register(OpSpec("stablehlo.while", "control", ALL,
                notes="cond and body run as nested kernel lists; loop-carried values live in the "
                      "While kernel's outputs; values read from outside become explicit captures",
                fusible=False, foldable=False))
register(OpSpec("stablehlo.case", "control", ALL,
                notes="the selected branch's kernels run; an out-of-range index runs the last "
                      "branch", fusible=False, foldable=False))
register(OpSpec("stablehlo.if", "control", ALL, becomes="stablehlo.case",
                notes="imported as a two-branch case on the predicate", fusible=False,
                foldable=False))

# ---- structure / annotations ------------------------------------------------------------------

register(OpSpec("func.return", "structural", ALL | LOWP, notes="several results allowed", fusible=False))
register(OpSpec("func.call", "structural", ALL | LOWP, notes="inlined by the frontend", fusible=False))
register(OpSpec("stablehlo.return", "structural", ALL | LOWP, notes="region terminator", fusible=False))
register(OpSpec("stablehlo.custom_call", "annotation", ALL, status="partial",
                notes="the sharding annotations @Sharding, @SPMDFullToShardShape and "
                      "@SPMDShardToFullShape (removed for one device), and the chip's native "
                      "kernels @chip.paged_kv_write, @chip.paged_attention_decode, "
                      "@chip.radix_attention_extend, and XLA FFI handlers registered with "
                      "jax.ffi.register_ffi_target(..., platform=\"chip\") (become chip.custom_call)",
                fusible=False))
register(OpSpec("stablehlo.optimization_barrier", "annotation", ALL | LOWP,
                notes="removed (the chip schedules in program order)", fusible=False))
register(OpSpec("sdy.sharding_constraint", "annotation", ALL | LOWP,
                notes="removed for one device", fusible=False))

# ---- data movement, indexing and sorting kernels (kernels/<kind>.py) -----------------------------

_INDEXING = [
    ("stablehlo.gather", "indexing", ALL | LOWP,
     "full StableHLO semantics (batching dims, index_vector_dim, collapsed dims); start "
     "indices are clamped into the operand like XLA; indices of any integer type; "
     + _MOVED_AS_BYTES),
    ("stablehlo.scatter", "indexing", ALL,
     "several operands; update computations add/multiply/max/min/and/or/xor/set run "
     "natively, any other elementwise body as a register program; windows outside the "
     "operand are skipped whole (mode='drop'); duplicate indices combine in order; in place "
     "on a donated operand; fp8 / int4: set only (`x.at[i].set(u)`), moved as bytes"),
    ("stablehlo.dynamic_slice", "indexing", ALL | LOWP,
     "starts clamped like XLA; constant starts become a static slice (a view); " + _MOVED_AS_BYTES),
    ("stablehlo.dynamic_update_slice", "indexing", ALL | LOWP,
     "starts clamped like XLA; in place on a donated operand (no copy); " + _MOVED_AS_BYTES),
    ("stablehlo.pad", "indexing", ALL | LOWP,
     "negative (cropping) and interior padding; " + _MOVED_AS_BYTES),
    ("stablehlo.sort", "indexing", ALL,
     "several operands, stable or not; the comparator becomes a register program; "
     "lexicographic comparators (jnp.sort/argsort) compare keys natively"),
    ("chip.top_k", "indexing", NUMERIC,
     "from chlo.top_k / custom_call @mhlo.topk (lax.top_k); largest first by total order, "
     "ties by lower index"),
    ("chlo.top_k", "rewritten", NUMERIC, "rewritten to chip.top_k"),
    ("chip.variadic_reduce", "indexing", ALL,
     "stablehlo.reduce with several operands (argmax/argmin) or a body other than one "
     "binary op: the body as a register program"),
    ("stablehlo.reduce_window", "indexing", ALL,
     "cumulative windows (jnp.cumsum/cumprod/cummax/cummin, lax.cumlogsumexp) run as "
     "scans; general windows, strides, padding and dilations"),
]
for _name, _kind, _types, _notes in _INDEXING:
    register(OpSpec(_name, _kind, _types, notes=_notes, foldable=False, fusible=False,
                    becomes="chip.top_k" if _name == "chlo.top_k" else ""))
register(OpSpec("stablehlo.reverse", "movement", ALL | LOWP, kernel="view",
                notes="a negative-stride view; standalone: an Elementwise copy"))

# ---- custom calls to the chip's native kernels (ir/custom_calls.py) ------------------------------

register(OpSpec(CUSTOM_CALL_OP, "custom_call", ALL,
                notes="a native chip kernel called by name; cost reported at run time. "
                      + "; ".join(f"@{t.name}: {t.summary}" for t in NATIVE_TARGETS.values()),
                foldable=False, fusible=False))

# ---- convolution (kernels/convolution.py) --------------------------------------------------------

register(OpSpec(
    "stablehlo.convolution", "convolution", NUMERIC,
    notes="im2col + the dot_general GEMM per feature group (dot_general numerics); strides, "
          "padding, lhs/rhs dilation, window reversal, feature_group_count; "
          "batch_group_count 1", foldable=False, fusible=False))

# ---- linear algebra (kernels/triangular_solve.py) -------------------------------------------------

register(OpSpec(
    "stablehlo.triangular_solve", "linalg", FLOATS,
    notes="left or right side, lower or upper, transposed (ADJOINT = TRANSPOSE for real types), "
          "unit diagonal, batched; substitution in f32 in a fixed order, rounded once",
    foldable=False, fusible=False))

# ---- complex numbers (xla_passes/complex_lowering.py) and the Fft kernel (kernels/fft.py) -------

C64 = dt.ALL_COMPLEX
register(OpSpec("stablehlo.real", "complex", C64 | FLOATS, kernel="(a part: no kernel)",
                notes="the real part of the (real, imaginary) pair"))
register(OpSpec("stablehlo.imag", "complex", C64 | FLOATS, kernel="(a part: no kernel)",
                notes="the imaginary part of the pair"))
register(OpSpec("stablehlo.complex", "complex", C64, kernel="(the pair: no kernel)",
                notes="f32 real and imaginary parts -> complex64"))
register(OpSpec("stablehlo.fft", "complex", C64 | {"f32"}, becomes="chip.fft",
                notes="FFT, IFFT, RFFT, IRFFT over the last 1-3 dims (RFFT input, IRFFT "
                      "result f32)", foldable=False, fusible=False))
register(OpSpec("chip.fft", "signal", frozenset({"f32"}),
                notes="the Fft kernel on planar f32 parts: radix-2 for powers of two, "
                      "Bluestein otherwise; computed in f32, twiddles from f64; IFFT/IRFFT "
                      "scaled by 1/N", foldable=False, fusible=False))

# ---- random bits (lowering/rng_algorithms.py, xla_passes/rng_bit_generator_expansion.py) ---------

RNG_RESULT_DTYPES = frozenset({"u8", "u16", "u32"})   # what jax emits (lax.rng_bit_generator)
register(OpSpec(
    "stablehlo.rng_bit_generator", "rewritten", RNG_RESULT_DTYPES, becomes="chip.fusion",
    notes="expanded into u32 ops (xla_passes/rng_bit_generator_expansion.py): THREE_FRY "
          "(Threefry-2x32) and PHILOX/DEFAULT (Philox-4x32), bit-identical to XLA:CPU; state "
          "u64[2] (u64[3] for PHILOX) as jax writes it (bitcast from u32 words); 8/16-bit "
          "results keep the low bits; 64-bit results are not supported",
    foldable=False, fusible=False))

# ---- collectives on one device (xla_passes/single_device_collectives.py) ------------------------

COLLECTIVES = ("stablehlo.all_reduce", "stablehlo.all_gather", "stablehlo.reduce_scatter",
               "stablehlo.all_to_all", "stablehlo.collective_broadcast")
PERMUTE = "stablehlo.collective_permute"
IDS = ("stablehlo.partition_id", "stablehlo.replica_id")
for _name in COLLECTIVES:
    register(OpSpec(_name, "collective", ALL, kernel="(identity)",
                    notes="one device: the identity (every replica group has one member); "
                          "across several devices an error", foldable=False, fusible=False))
register(OpSpec(PERMUTE, "collective", ALL, kernel="(identity)",
                notes="one device: the identity for pairs [[0, 0]], zeros without pairs",
                foldable=False, fusible=False))
for _name in IDS:
    register(OpSpec(_name, "collective", frozenset({"u32"}), kernel="(constant 0)",
                    notes="one device: 0", foldable=False, fusible=False))

MOVEMENT_OPS = frozenset(n for n, s in REGISTRY.items() if s.kind == "movement")
