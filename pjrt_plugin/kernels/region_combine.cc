#include "pjrt_plugin/kernels/region_combine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using exe::RegionKind;

// The chip's NaN-propagating max/min (Elementwise MAX/MIN).
inline float FMax(float a, float b) { return (std::isnan(a) || a >= b) ? a : b; }
inline float FMin(float a, float b) { return (std::isnan(a) || a <= b) ? a : b; }

bool IsArgKind(RegionKind k) { return k == RegionKind::ARGMAX || k == RegionKind::ARGMIN; }

// ---- binary kinds: f(tag, op) with T the storage type and op: T(T, T) --------------------------------

template <typename T, typename F>
void IntOp(RegionKind kind, F&& f) {
  using U = std::make_unsigned_t<T>;
  switch (kind) {
    case RegionKind::ADD: f(T{}, [](T p, T q) { return static_cast<T>(static_cast<U>(p) + static_cast<U>(q)); }); break;
    case RegionKind::MUL:
      // in (at least) 32-bit unsigned arithmetic: wraps without signed overflow
      f(T{}, [](T p, T q) {
        return static_cast<T>(static_cast<uint32_t>(static_cast<U>(p)) * static_cast<uint32_t>(static_cast<U>(q)));
      });
      break;
    case RegionKind::MAX: f(T{}, [](T p, T q) { return std::max(p, q); }); break;
    case RegionKind::MIN: f(T{}, [](T p, T q) { return std::min(p, q); }); break;
    case RegionKind::AND: f(T{}, [](T p, T q) { return static_cast<T>(p & q); }); break;
    case RegionKind::OR: f(T{}, [](T p, T q) { return static_cast<T>(p | q); }); break;
    case RegionKind::XOR: f(T{}, [](T p, T q) { return static_cast<T>(p ^ q); }); break;
    default: f(T{}, [](T, T q) { return q; }); break;  // SET
  }
}

// Floats: computed in f32; bf16/f16 rounded to their dtype (nearest even) after the op.
template <typename G, typename F>
void FloatOp(DType t, G fop, F&& f) {
  if (t == DType::kF32) {
    f(float{}, fop);
  } else if (t == DType::kBF16) {
    f(uint16_t{}, [fop](uint16_t p, uint16_t q) { return num::F32ToBF16(fop(num::BF16ToF32(p), num::BF16ToF32(q))); });
  } else {
    f(uint16_t{}, [fop](uint16_t p, uint16_t q) { return num::F32ToF16(fop(num::F16ToF32(p), num::F16ToF32(q))); });
  }
}

template <typename F>
void WithBinaryOp(RegionKind kind, DType t, F&& f) {
  if (IsFloat(t)) {
    switch (kind) {
      case RegionKind::ADD: FloatOp(t, [](float p, float q) { return p + q; }, f); break;
      case RegionKind::MUL: FloatOp(t, [](float p, float q) { return p * q; }, f); break;
      case RegionKind::MAX: FloatOp(t, FMax, f); break;
      case RegionKind::MIN: FloatOp(t, FMin, f); break;
      default:  // SET (bitwise kinds are rejected for floats by Validate)
        if (t == DType::kF32) f(float{}, [](float, float q) { return q; });
        else f(uint16_t{}, [](uint16_t, uint16_t q) { return q; });
        break;
    }
    return;
  }
  switch (t) {
    case DType::kPred: case DType::kU8: IntOp<uint8_t>(kind, f); break;
    case DType::kS8: IntOp<int8_t>(kind, f); break;
    case DType::kS16: IntOp<int16_t>(kind, f); break;
    case DType::kU16: IntOp<uint16_t>(kind, f); break;
    case DType::kS32: IntOp<int32_t>(kind, f); break;
    case DType::kU32: IntOp<uint32_t>(kind, f); break;
    default: break;
  }
}

// ---- argmax / argmin: values (any dtype) with indices (any integer dtype) -----------------------------

// Calls f(V{}, key) with V the value storage type and key: V -> comparable (float or int64).
template <typename F>
void WithValueType(DType t, F&& f) {
  switch (t) {
    case DType::kF32: f(float{}, [](float v) { return v; }); break;
    case DType::kBF16: f(uint16_t{}, [](uint16_t v) { return num::BF16ToF32(v); }); break;
    case DType::kF16: f(uint16_t{}, [](uint16_t v) { return num::F16ToF32(v); }); break;
    case DType::kPred: case DType::kU8: f(uint8_t{}, [](uint8_t v) { return int64_t{v}; }); break;
    case DType::kS8: f(int8_t{}, [](int8_t v) { return int64_t{v}; }); break;
    case DType::kS16: f(int16_t{}, [](int16_t v) { return int64_t{v}; }); break;
    case DType::kU16: f(uint16_t{}, [](uint16_t v) { return int64_t{v}; }); break;
    case DType::kS32: f(int32_t{}, [](int32_t v) { return int64_t{v}; }); break;
    case DType::kU32: f(uint32_t{}, [](uint32_t v) { return int64_t{v}; }); break;
    default: break;
  }
}

template <typename F>
void WithIndexType(DType t, F&& f) {
  switch (t) {
    case DType::kS8: f(int8_t{}); break;
    case DType::kU8: f(uint8_t{}); break;
    case DType::kS16: f(int16_t{}); break;
    case DType::kU16: f(uint16_t{}); break;
    case DType::kS32: f(int32_t{}); break;
    case DType::kU32: f(uint32_t{}); break;
    default: break;
  }
}

template <typename K>
inline bool IsNan(K v) {
  if constexpr (std::is_floating_point_v<K>) return std::isnan(v);
  return false;
}

// The jnp.argmax/argmin body on (v, i) and (w, j); returns whether the accumulator's value and
// index are kept.
template <typename K, typename I>
inline void ArgStep(bool is_max, K v, I i, K w, I j, bool* keep_v, bool* keep_i) {
  const bool keep = (is_max ? v > w : v < w) || IsNan(v);
  *keep_v = keep;
  *keep_i = keep || (v == w && i < j);
}

// acc[0]/acc[1] (values/indices, stride as) combined with x (stride xs) lane-wise.
void ArgCombine(bool is_max, DType vt, DType it, void* const* acc, int64_t as, const void* const* x, int64_t xs,
                int64_t n) {
  WithValueType(vt, [&](auto vtag, auto key) {
    using V = decltype(vtag);
    WithIndexType(it, [&](auto itag) {
      using I = decltype(itag);
      V* av = static_cast<V*>(acc[0]);
      I* ai = static_cast<I*>(acc[1]);
      const V* xv = static_cast<const V*>(x[0]);
      const I* xi = static_cast<const I*>(x[1]);
      for (int64_t l = 0; l < n; ++l) {
        bool kv, ki;
        ArgStep(is_max, key(av[l * as]), ai[l * as], key(xv[l * xs]), xi[l * xs], &kv, &ki);
        if (!kv) av[l * as] = xv[l * xs];
        if (!ki) ai[l * as] = xi[l * xs];
      }
    });
  });
}

// Folds x[0..n) (stride) into the single accumulator pair acc.
void ArgFold(bool is_max, DType vt, DType it, void* const* acc, const void* const* x, int64_t stride, int64_t n) {
  WithValueType(vt, [&](auto vtag, auto key) {
    using V = decltype(vtag);
    WithIndexType(it, [&](auto itag) {
      using I = decltype(itag);
      V* av = static_cast<V*>(acc[0]);
      I* ai = static_cast<I*>(acc[1]);
      const V* xv = static_cast<const V*>(x[0]);
      const I* xi = static_cast<const I*>(x[1]);
      V bv = *av;
      I bi = *ai;
      auto kb = key(bv);
      for (int64_t r = 0; r < n; ++r) {
        const V wv = xv[r * stride];
        const I wi = xi[r * stride];
        const auto kw = key(wv);
        bool kv, ki;
        ArgStep(is_max, kb, bi, kw, wi, &kv, &ki);
        if (!kv) {
          bv = wv;
          kb = kw;
        }
        if (!ki) bi = wi;
      }
      *av = bv;
      *ai = bi;
    });
  });
}

void NativeCombine(RegionKind kind, const std::vector<DType>& t, void* const* acc, int64_t as, const void* const* x,
                   int64_t xs, int64_t n) {
  if (IsArgKind(kind)) {
    ArgCombine(kind == RegionKind::ARGMAX, t[0], t[1], acc, as, x, xs, n);
    return;
  }
  WithBinaryOp(kind, t[0], [&](auto tag, auto op) {
    using T = decltype(tag);
    T* a = static_cast<T*>(acc[0]);
    const T* b = static_cast<const T*>(x[0]);
    if (as == 1 && xs == 1) {
      for (int64_t j = 0; j < n; ++j) a[j] = op(a[j], b[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) a[j * as] = op(a[j * as], b[j * xs]);
    }
  });
}

}  // namespace

const char* RegionKindName(RegionKind kind) {
  const char* name = exe::EnumNameRegionKind(kind);
  return name && *name ? name : "?";
}

Status Combiner::Validate(RegionKind kind, const exe::RegionProgram* program, const std::vector<DType>& dtypes,
                          const std::string& what) {
  const int k = static_cast<int>(kind);
  if (k < static_cast<int>(RegionKind::PROGRAM) || k > static_cast<int>(RegionKind::ARGMIN)) {
    return InvalidArgument(what + " has invalid region kind " + std::to_string(k));
  }
  if (kind == RegionKind::PROGRAM) {
    std::vector<DType> args(dtypes);
    args.insert(args.end(), dtypes.begin(), dtypes.end());
    return ValidateRegionProgram(program, args, dtypes, what);
  }
  if (IsArgKind(kind)) {
    if (dtypes.size() != 2 || IsFloat(dtypes[1]) || dtypes[1] == DType::kPred) {
      return InvalidArgument(what + ": region kind " + RegionKindName(kind) +
                             " reduces (values, integer indices), not " + std::to_string(dtypes.size()) + " operands");
    }
  } else {
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
  }
  if (program != nullptr) {
    std::vector<DType> args(dtypes);
    args.insert(args.end(), dtypes.begin(), dtypes.end());
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
    NativeCombine(kind_, dtypes_, acc, acc_stride, x, x_stride, n);
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

void Combiner::Fold(void* const* acc, const void* const* x, int64_t stride, int64_t n) {
  if (n <= 0) return;
  if (evaluator_ == nullptr) {
    if (IsArgKind(kind_)) {
      ArgFold(kind_ == RegionKind::ARGMAX, dtypes_[0], dtypes_[1], acc, x, stride, n);
      return;
    }
    WithBinaryOp(kind_, dtypes_[0], [&](auto tag, auto op) {
      using T = decltype(tag);
      T* a = static_cast<T*>(acc[0]);
      const T* b = static_cast<const T*>(x[0]);
      T v = *a;
      for (int64_t i = 0; i < n; ++i) v = op(v, b[i * stride]);
      *a = v;
    });
    return;
  }
  const size_t N = dtypes_.size();
  std::vector<const void*> xs(N);
  for (int64_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < N; ++k) xs[k] = static_cast<const uint8_t*>(x[k]) + i * stride * DTypeByteSize(dtypes_[k]);
    Combine(acc, 1, xs.data(), 1, 1);
  }
}

void Combiner::ScanLine(void* const* out, const void* const* x, int64_t stride, int64_t n, const void* const* init,
                        bool reverse) {
  if (n <= 0) return;
  const size_t N = dtypes_.size();
  if (evaluator_ == nullptr && !IsArgKind(kind_)) {
    WithBinaryOp(kind_, dtypes_[0], [&](auto tag, auto op) {
      using T = decltype(tag);
      T* o = static_cast<T*>(out[0]);
      const T* b = static_cast<const T*>(x[0]);
      T v;
      std::memcpy(&v, init[0], sizeof(T));
      for (int64_t s = 0; s < n; ++s) {
        const int64_t i = (reverse ? n - 1 - s : s) * stride;
        v = op(v, b[i]);
        o[i] = v;
      }
    });
    return;
  }
  std::vector<void*> acc(N);
  std::vector<const void*> xs(N);
  std::vector<const void*> prev(init, init + N);
  for (int64_t s = 0; s < n; ++s) {
    const int64_t i = reverse ? n - 1 - s : s;
    for (size_t k = 0; k < N; ++k) {
      const int e = DTypeByteSize(dtypes_[k]);
      acc[k] = static_cast<uint8_t*>(out[k]) + i * stride * e;
      xs[k] = static_cast<const uint8_t*>(x[k]) + i * stride * e;
      std::memmove(acc[k], prev[k], e);
    }
    Combine(acc.data(), 1, xs.data(), 1, 1);
    for (size_t k = 0; k < N; ++k) prev[k] = acc[k];
  }
}

}  // namespace kernels
}  // namespace chip
