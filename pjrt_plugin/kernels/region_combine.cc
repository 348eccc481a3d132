#include "pjrt_plugin/kernels/region_combine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "pjrt_plugin/kernels/numerics.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using exe::RegionKind;

// The chip's NaN-propagating max/min (Elementwise MAX/MIN).
inline float FMax(float a, float b) { return (std::isnan(a) || a >= b) ? a : b; }
inline float FMin(float a, float b) { return (std::isnan(a) || a <= b) ? a : b; }

template <typename T, typename Op>
void Loop(T* acc, int64_t as, const T* x, int64_t xs, int64_t n, Op op) {
  if (as == 1 && xs == 1) {
    for (int64_t j = 0; j < n; ++j) acc[j] = op(acc[j], x[j]);
  } else {
    for (int64_t j = 0; j < n; ++j) acc[j * as] = op(acc[j * as], x[j * xs]);
  }
}

template <typename T>
void IntCombine(RegionKind kind, void* acc, int64_t as, const void* x, int64_t xs, int64_t n) {
  using U = std::make_unsigned_t<T>;
  T* a = static_cast<T*>(acc);
  const T* b = static_cast<const T*>(x);
  switch (kind) {
    case RegionKind::ADD: Loop(a, as, b, xs, n, [](T p, T q) { return static_cast<T>(static_cast<U>(p) + static_cast<U>(q)); }); break;
    case RegionKind::MUL:
      // Multiply in at least 32-bit unsigned arithmetic: wraps without signed overflow.
      Loop(a, as, b, xs, n, [](T p, T q) {
        return static_cast<T>(static_cast<uint32_t>(static_cast<U>(p)) * static_cast<uint32_t>(static_cast<U>(q)));
      });
      break;
    case RegionKind::MAX: Loop(a, as, b, xs, n, [](T p, T q) { return std::max(p, q); }); break;
    case RegionKind::MIN: Loop(a, as, b, xs, n, [](T p, T q) { return std::min(p, q); }); break;
    case RegionKind::AND: Loop(a, as, b, xs, n, [](T p, T q) { return static_cast<T>(p & q); }); break;
    case RegionKind::OR: Loop(a, as, b, xs, n, [](T p, T q) { return static_cast<T>(p | q); }); break;
    case RegionKind::XOR: Loop(a, as, b, xs, n, [](T p, T q) { return static_cast<T>(p ^ q); }); break;
    default: Loop(a, as, b, xs, n, [](T, T q) { return q; }); break;  // SET
  }
}

template <typename F>
void F32Combine(F op, void* acc, int64_t as, const void* x, int64_t xs, int64_t n) {
  Loop(static_cast<float*>(acc), as, static_cast<const float*>(x), xs, n, op);
}

// bf16/f16: computed in f32, rounded to the dtype (round to nearest even) after the op.
template <typename F>
void Half16Combine(DType t, F op, void* acc, int64_t as, const void* x, int64_t xs, int64_t n) {
  uint16_t* a = static_cast<uint16_t*>(acc);
  const uint16_t* b = static_cast<const uint16_t*>(x);
  if (t == DType::kBF16) {
    Loop(a, as, b, xs, n, [op](uint16_t p, uint16_t q) { return num::F32ToBF16(op(num::BF16ToF32(p), num::BF16ToF32(q))); });
  } else {
    Loop(a, as, b, xs, n, [op](uint16_t p, uint16_t q) { return num::F32ToF16(op(num::F16ToF32(p), num::F16ToF32(q))); });
  }
}

template <typename F>
void FloatCombine(DType t, F op, void* acc, int64_t as, const void* x, int64_t xs, int64_t n) {
  if (t == DType::kF32) F32Combine(op, acc, as, x, xs, n);
  else Half16Combine(t, op, acc, as, x, xs, n);
}

void NativeCombine(RegionKind kind, DType t, void* acc, int64_t as, const void* x, int64_t xs, int64_t n) {
  if (kind == RegionKind::SET) {
    const int e = DTypeByteSize(t);
    uint8_t* a = static_cast<uint8_t*>(acc);
    const uint8_t* b = static_cast<const uint8_t*>(x);
    if (as == 1 && xs == 1) {
      std::memmove(a, b, static_cast<size_t>(n) * e);
    } else {
      for (int64_t j = 0; j < n; ++j) std::memmove(a + j * as * e, b + j * xs * e, e);
    }
    return;
  }
  if (IsFloat(t)) {
    switch (kind) {
      case RegionKind::ADD: FloatCombine(t, [](float p, float q) { return p + q; }, acc, as, x, xs, n); break;
      case RegionKind::MUL: FloatCombine(t, [](float p, float q) { return p * q; }, acc, as, x, xs, n); break;
      case RegionKind::MAX: FloatCombine(t, FMax, acc, as, x, xs, n); break;
      case RegionKind::MIN: FloatCombine(t, FMin, acc, as, x, xs, n); break;
      default: break;  // rejected by Validate
    }
    return;
  }
  switch (t) {
    case DType::kPred: case DType::kU8: IntCombine<uint8_t>(kind, acc, as, x, xs, n); break;
    case DType::kS8: IntCombine<int8_t>(kind, acc, as, x, xs, n); break;
    case DType::kS16: IntCombine<int16_t>(kind, acc, as, x, xs, n); break;
    case DType::kU16: IntCombine<uint16_t>(kind, acc, as, x, xs, n); break;
    case DType::kS32: IntCombine<int32_t>(kind, acc, as, x, xs, n); break;
    case DType::kU32: IntCombine<uint32_t>(kind, acc, as, x, xs, n); break;
    default: break;
  }
}

}  // namespace

const char* RegionKindName(RegionKind kind) {
  const char* name = exe::EnumNameRegionKind(kind);
  return name && *name ? name : "?";
}

Status Combiner::Validate(RegionKind kind, const exe::RegionProgram* program, const std::vector<DType>& dtypes,
                          const std::string& what) {
  const int k = static_cast<int>(kind);
  if (k < static_cast<int>(RegionKind::PROGRAM) || k > static_cast<int>(RegionKind::XOR)) {
    return InvalidArgument(what + " has invalid region kind " + std::to_string(k));
  }
  if (kind == RegionKind::PROGRAM) {
    std::vector<DType> args(dtypes);
    args.insert(args.end(), dtypes.begin(), dtypes.end());
    return ValidateRegionProgram(program, args, dtypes, what);
  }
  if (dtypes.size() != 1) {
    return InvalidArgument(what + ": region kind " + RegionKindName(kind) + " combines one operand, not " +
                           std::to_string(dtypes.size()));
  }
  const DType t = dtypes[0];
  const bool bitwise = kind == RegionKind::AND || kind == RegionKind::OR || kind == RegionKind::XOR;
  const bool arith = kind == RegionKind::ADD || kind == RegionKind::MUL;
  if ((IsFloat(t) && bitwise) || (t == DType::kPred && arith)) {
    return InvalidArgument(what + ": region kind " + RegionKindName(kind) + " is not defined on " + DTypeName(t));
  }
  if (program != nullptr) {
    std::vector<DType> args = {t, t};
    CHIP_RETURN_IF_ERROR(ValidateRegionProgram(program, args, dtypes, what));
  }
  return Status::Ok();
}

Combiner::Combiner(RegionKind kind, const exe::RegionProgram* program, std::vector<DType> dtypes)
    : kind_(kind), dtypes_(std::move(dtypes)) {
  if (kind_ == RegionKind::PROGRAM) {
    std::vector<DType> args(dtypes_);
    args.insert(args.end(), dtypes_.begin(), dtypes_.end());
    evaluator_ = std::make_unique<RegionEvaluator>(*program, args);
    scratch_.resize(dtypes_.size());
  }
}

Combiner::~Combiner() = default;

void Combiner::Combine(void* const* acc, int64_t acc_stride, const void* const* x, int64_t x_stride, int64_t n) {
  if (n <= 0) return;
  if (evaluator_ == nullptr) {
    NativeCombine(kind_, dtypes_[0], acc[0], acc_stride, x[0], x_stride, n);
    return;
  }
  const size_t N = dtypes_.size();
  std::vector<const void*> args(2 * N);
  std::vector<int64_t> strides(2 * N);
  for (size_t k = 0; k < N; ++k) {
    args[k] = acc[k];
    strides[k] = acc_stride;
    args[N + k] = x[k];
    strides[N + k] = x_stride;
  }
  if (acc_stride == 1) {
    // Results of a lane overwrite its own accumulators only after they were read.
    evaluator_->Run(args.data(), strides.data(), n, acc);
    return;
  }
  std::vector<void*> outs(N);
  for (size_t k = 0; k < N; ++k) {
    const size_t bytes = static_cast<size_t>(n) * DTypeByteSize(dtypes_[k]);
    if (scratch_[k].size() < bytes) scratch_[k].Resize(bytes);
    outs[k] = scratch_[k].data();
  }
  evaluator_->Run(args.data(), strides.data(), n, outs.data());
  for (size_t k = 0; k < N; ++k) {
    const int e = DTypeByteSize(dtypes_[k]);
    uint8_t* dst = static_cast<uint8_t*>(acc[k]);
    const uint8_t* src = scratch_[k].as<uint8_t>();
    for (int64_t j = 0; j < n; ++j) std::memcpy(dst + j * acc_stride * e, src + j * e, e);
  }
}

}  // namespace kernels
}  // namespace chip
