// The Elementwise kernel's instructions (EwOp): the one table of their metadata. elementwise.cc
// expands it into the op table the loader validates with (and checks it against the schema's EwOp
// enum at compile time: same names, same values, same count); chip_elementwise_ops_json
// (api/chip_extension.h) exports it, and the Python compiler reads it from there
// (jax_chip.compiler.ew_semantics: op codes for emission, operand counts, cost classes).
//
// X(NAME, arity, rule, transcendental), in EwOp order:
//   NAME            the schema's EwOp member (pjrt_plugin/schema/chip_executable.fbs)
//   arity           kView (LOAD: reads view a), kNone (CONST), kDim (IOTA: dimension a), kUnary,
//                   kBinary, kTernary (operands a, b, c)
//   rule            the dtypes it accepts (elementwise.cc's Rule: kSameAny, kSameFloat, ...)
//   transcendental  the cost model counts it at the transcendental rate
#pragma once

#define CHIP_ELEMENTWISE_OPS(X)                        \
  X(LOAD, kView, kLoad, false)                         \
  X(CONST, kNone, kConst, false)                       \
  X(IOTA, kDim, kIota, false)                          \
  X(CONVERT, kUnary, kConvert, false)                  \
  X(ADD, kBinary, kSameAny, false)                     \
  X(SUB, kBinary, kSameAny, false)                     \
  X(MUL, kBinary, kSameAny, false)                     \
  X(DIV, kBinary, kSameAny, false)                     \
  X(MAX, kBinary, kSameAny, false)                     \
  X(MIN, kBinary, kSameAny, false)                     \
  X(POW, kBinary, kSameNumeric, true)                  \
  X(NEG, kUnary, kSameNumeric, false)                  \
  X(ABS, kUnary, kSameNumeric, false)                  \
  X(EXP, kUnary, kSameFloat, true)                     \
  X(LOG, kUnary, kSameFloat, true)                     \
  X(TANH, kUnary, kSameFloat, true)                    \
  X(LOGISTIC, kUnary, kSameFloat, true)                \
  X(SQRT, kUnary, kSameFloat, true)                    \
  X(RSQRT, kUnary, kSameFloat, true)                   \
  X(CMP_EQ, kBinary, kCompare, false)                  \
  X(CMP_NE, kBinary, kCompare, false)                  \
  X(CMP_LT, kBinary, kCompare, false)                  \
  X(CMP_LE, kBinary, kCompare, false)                  \
  X(CMP_GT, kBinary, kCompare, false)                  \
  X(CMP_GE, kBinary, kCompare, false)                  \
  X(SELECT, kTernary, kSelect, false)                  \
  X(REM, kBinary, kSameNumeric, false)                 \
  X(SIGN, kUnary, kSameNumeric, false)                 \
  X(FLOOR, kUnary, kSameFloat, false)                  \
  X(CEIL, kUnary, kSameFloat, false)                   \
  X(ROUND_NEAREST_EVEN, kUnary, kSameFloat, false)     \
  X(ROUND_AFZ, kUnary, kSameFloat, false)              \
  X(IS_FINITE, kUnary, kIsFinite, false)               \
  X(EXPM1, kUnary, kSameFloat, true)                   \
  X(LOG1P, kUnary, kSameFloat, true)                   \
  X(SIN, kUnary, kSameFloat, true)                     \
  X(COS, kUnary, kSameFloat, true)                     \
  X(ATAN2, kBinary, kSameFloat, true)                  \
  X(CLAMP, kTernary, kSameAny, false)                  \
  X(AND, kBinary, kSameIntOrPred, false)               \
  X(OR, kBinary, kSameIntOrPred, false)                \
  X(XOR, kBinary, kSameIntOrPred, false)               \
  X(NOT, kUnary, kSameIntOrPred, false)                \
  X(SHL, kBinary, kSameInt, false)                     \
  X(SHR_ARITHMETIC, kBinary, kSameInt, false)          \
  X(SHR_LOGICAL, kBinary, kSameInt, false)             \
  X(POPCNT, kUnary, kSameInt, false)                   \
  X(BITCAST_CONVERT, kUnary, kBitcast, false)          \
  X(REDUCE_PRECISION, kUnary, kSameFloat, false)       \
  X(TAN, kUnary, kSameFloat, true)                     \
  X(CBRT, kUnary, kSameFloat, true)                    \
  X(ERF, kUnary, kSameFloat, true)                     \
  X(MUL_HI, kBinary, kSameInt, false)                  \
  X(CLZ, kUnary, kSameInt, false)
