#include "pjrt_plugin/kernels/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/elementwise_ops.h"
#include "pjrt_plugin/kernels/fast_math.h"
#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/kernels/thread_pool.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using exe::EwOp;

constexpr int kTile = 512;                    // elements per register tile
constexpr int64_t kParallelMinElements = 32768;
constexpr int64_t kMaxElements = int64_t{1} << 46;

// ---- op table --------------------------------------------------------------------------------

enum class Arity { kView, kNone, kDim, kUnary, kBinary, kTernary };

// What an op accepts; checked at load time.
enum class Rule {
  kLoad, kConst, kIota, kConvert,
  kSameAny,        // operands and result share one dtype (any)
  kSameNumeric,    // same, not pred
  kSameFloat,      // same, floating
  kSameInt,        // same, integer (not pred)
  kSameIntOrPred,  // same, integer or pred
  kCompare,        // operands share a dtype; result pred
  kSelect,         // a pred; b, c, result share a dtype
  kIsFinite,       // a floating; result pred
  kBitcast,        // same byte width, no pred
};

struct OpInfo {
  const char* name;
  Arity arity;
  Rule rule;
  bool transcendental;
};

// The op table, expanded from elementwise_ops.h (one entry per EwOp, in enum order).
constexpr OpInfo kOps[] = {
#define CHIP_EW_OP_INFO(name, arity, rule, transcendental) {#name, Arity::arity, Rule::rule, transcendental},
    CHIP_ELEMENTWISE_OPS(CHIP_EW_OP_INFO)
#undef CHIP_EW_OP_INFO
};

// The table agrees with the schema's EwOp enum: each entry's name is the member at its index, and
// the enum has no other members.
enum class OpIndex : int {
#define CHIP_EW_OP_INDEX(name, arity, rule, transcendental) name,
  CHIP_ELEMENTWISE_OPS(CHIP_EW_OP_INDEX)
#undef CHIP_EW_OP_INDEX
  kCount
};
#define CHIP_EW_OP_CHECK(name, arity, rule, transcendental)                            \
  static_assert(static_cast<int>(OpIndex::name) == static_cast<int>(EwOp::name),       \
                "elementwise_ops.h: " #name " is not at its EwOp value (chip_executable.fbs)");
CHIP_ELEMENTWISE_OPS(CHIP_EW_OP_CHECK)
#undef CHIP_EW_OP_CHECK
static_assert(static_cast<size_t>(OpIndex::kCount) ==
                  std::extent_v<std::remove_reference_t<decltype(exe::EnumValuesEwOp())>>,
              "elementwise_ops.h lists a different number of ops than the schema's EwOp enum");

const OpInfo* GetOpInfo(EwOp op) {
  const auto i = static_cast<size_t>(op);
  return i < std::size(kOps) ? &kOps[i] : nullptr;
}

const char* ArityName(Arity a) {
  switch (a) {
    case Arity::kView: return "view";
    case Arity::kNone: return "none";
    case Arity::kDim: return "dim";
    case Arity::kUnary: return "unary";
    case Arity::kBinary: return "binary";
    case Arity::kTernary: return "ternary";
  }
  return "?";
}

int NumOperands(Arity a) {
  return a == Arity::kUnary ? 1 : a == Arity::kBinary ? 2 : a == Arity::kTernary ? 3 : 0;
}

bool ValidDType(DType t) { return t >= DType::kPred && t <= DType::kF32; }
DType ToDType(exe::DType t) { return static_cast<DType>(t); }

// ---- float and integer semantics --------------------------------------------------------------

// XLA's NaN-propagating max/min.
inline float FMax(float a, float b) { return (std::isnan(a) || a >= b) ? a : b; }
inline float FMin(float a, float b) { return (std::isnan(a) || a <= b) ? a : b; }

inline float FSign(float a) {
  if (std::isnan(a) || a == 0.0f) return a;
  return a > 0 ? 1.0f : -1.0f;
}

inline int64_t IntPow(int64_t base, int64_t exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exp & 1) ? -1 : 1;
    return 0;
  }
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  uint64_t e = static_cast<uint64_t>(exp);
  while (e != 0) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<int64_t>(result);
}

inline uint64_t WidthMask(int w) { return w >= 64 ? ~uint64_t{0} : ((uint64_t{1} << w) - 1); }

inline uint64_t FloatToBits(DType t, float f) {
  switch (t) {
    case DType::kBF16: return num::F32ToBF16(f);
    case DType::kF16: return num::F32ToF16(f);
    default: return num::FloatBits(f);
  }
}
inline float BitsToFloat(DType t, uint64_t bits) {
  switch (t) {
    case DType::kBF16: return num::BF16ToF32(static_cast<uint16_t>(bits));
    case DType::kF16: return num::F16ToF32(static_cast<uint16_t>(bits));
    default: return num::BitsFloat(static_cast<uint32_t>(bits));
  }
}

// ---- the decoded program ------------------------------------------------------------------------

struct DecodedInstr {
  EwOp op = EwOp::LOAD;
  DType dt = DType::kInvalid;    // result dtype
  DType adt = DType::kInvalid;   // operand a's dtype (registers)
  bool is_float = false;
  int a = 0, b = 0, c = 0;
  int64_t imm_i = 0;
  double imm_f = 0;
  bool live = false;
  bool invariant = false;  // same value for every element: computed once per chunk
};

struct DecodedView {
  int input = 0;                 // the input it reads (Elementwise views)
  DType dtype = DType::kInvalid;
  int64_t offset = 0;
  std::vector<int64_t> strides;  // per (collapsed) iteration dim, in elements
};

struct DecodedResult {
  int reg = 0;
  DType dtype = DType::kInvalid;
  int output = 0;                // the output it writes (Elementwise results)
};

// A program decoded once (at load time for Elementwise kernels); the storage it runs on is bound
// per run (Binding).
struct Decoded {
  std::vector<int64_t> dims;         // collapsed iteration space
  std::vector<int> iota_dim;         // original dim -> collapsed dim (only for IOTA dims)
  int64_t num_elements = 1;
  std::vector<DecodedView> views;
  std::vector<DecodedInstr> instrs;
  std::vector<DecodedResult> results;
};

// The storage of one run: view v reads from base[v], result i writes to out[i].
struct Binding {
  const uint8_t* const* base;
  uint8_t* const* out;
};

// Calls fn(pos, idx, len) for each run of consecutive elements [start, start+n) sharing all
// indices but the innermost; idx holds the run's first multi-index.
template <typename Fn>
inline void WalkRuns(const std::vector<int64_t>& dims, int64_t start, int64_t n, int64_t* idx, Fn fn) {
  const int rank = static_cast<int>(dims.size());
  if (rank == 0) {
    fn(int64_t{0}, idx, n);
    return;
  }
  int64_t rem = start;
  for (int k = rank - 1; k >= 0; --k) {
    idx[k] = rem % dims[k];
    rem /= dims[k];
  }
  const int last = rank - 1;
  int64_t pos = 0;
  while (pos < n) {
    const int64_t len = std::min(n - pos, dims[last] - idx[last]);
    if (len <= 0) break;  // past the end of the iteration space (callers never ask for that)
    fn(pos, idx, len);
    pos += len;
    idx[last] += len;
    for (int k = last; k > 0 && idx[k] >= dims[k]; --k) {
      idx[k] = 0;
      ++idx[k - 1];
    }
  }
}

template <typename Dst, typename Src, typename Conv>
inline void GatherRun(Dst* dst, const Src* src, int64_t stride, int64_t len, Conv conv) {
  if (stride == 1) {
    for (int64_t j = 0; j < len; ++j) dst[j] = conv(src[j]);
  } else if (stride == 0) {
    const Dst v = conv(src[0]);
    for (int64_t j = 0; j < len; ++j) dst[j] = v;
  } else {
    for (int64_t j = 0; j < len; ++j) dst[j] = conv(src[j * stride]);
  }
}

// Reads `n` elements of a view starting at linear element `start` into a register tile.
void Gather(const Decoded& p, const DecodedView& v, const uint8_t* base, int64_t start, int64_t n, int64_t* idx, void* reg) {
  float* f = static_cast<float*>(reg);
  int64_t* i = static_cast<int64_t*>(reg);
  const int rank = static_cast<int>(p.dims.size());
  const int64_t inner_stride = rank == 0 ? 0 : v.strides[rank - 1];
  WalkRuns(p.dims, start, n, idx, [&](int64_t pos, const int64_t* ix, int64_t len) {
    int64_t off = v.offset;
    for (int k = 0; k < rank; ++k) off += ix[k] * v.strides[k];
    const uint8_t* src = base + off * DTypeByteSize(v.dtype);
    switch (v.dtype) {
      case DType::kF32:
        GatherRun(f + pos, reinterpret_cast<const float*>(src), inner_stride, len, [](float x) { return x; });
        break;
      case DType::kBF16:
        GatherRun(f + pos, reinterpret_cast<const uint16_t*>(src), inner_stride, len,
                  [](uint16_t x) { return num::BF16ToF32(x); });
        break;
      case DType::kF16:
        GatherRun(f + pos, reinterpret_cast<const uint16_t*>(src), inner_stride, len,
                  [](uint16_t x) { return num::F16ToF32(x); });
        break;
      case DType::kPred:
        GatherRun(i + pos, src, inner_stride, len, [](uint8_t x) { return int64_t{x != 0}; });
        break;
      case DType::kS8:
        GatherRun(i + pos, reinterpret_cast<const int8_t*>(src), inner_stride, len, [](int8_t x) { return int64_t{x}; });
        break;
      case DType::kU8:
        GatherRun(i + pos, src, inner_stride, len, [](uint8_t x) { return int64_t{x}; });
        break;
      case DType::kS16:
        GatherRun(i + pos, reinterpret_cast<const int16_t*>(src), inner_stride, len, [](int16_t x) { return int64_t{x}; });
        break;
      case DType::kU16:
        GatherRun(i + pos, reinterpret_cast<const uint16_t*>(src), inner_stride, len, [](uint16_t x) { return int64_t{x}; });
        break;
      case DType::kS32:
        GatherRun(i + pos, reinterpret_cast<const int32_t*>(src), inner_stride, len, [](int32_t x) { return int64_t{x}; });
        break;
      case DType::kU32:
        GatherRun(i + pos, reinterpret_cast<const uint32_t*>(src), inner_stride, len, [](uint32_t x) { return int64_t{x}; });
        break;
      case DType::kInvalid:
        break;
    }
  });
}

void Iota(const Decoded& p, int dim, bool is_float, int64_t start, int64_t n, int64_t* idx, void* reg) {
  float* f = static_cast<float*>(reg);
  int64_t* i = static_cast<int64_t*>(reg);
  const int last = static_cast<int>(p.dims.size()) - 1;
  WalkRuns(p.dims, start, n, idx, [&](int64_t pos, const int64_t* ix, int64_t len) {
    for (int64_t j = 0; j < len; ++j) {
      const int64_t v = dim == last ? ix[dim] + j : ix[dim];
      if (is_float) f[pos + j] = static_cast<float>(v); else i[pos + j] = v;
    }
  });
}

template <typename R, typename A, typename F>
inline void Map1(R* r, const A* a, int n, F f) {
  for (int j = 0; j < n; ++j) r[j] = f(a[j]);
}
template <typename R, typename A, typename F>
inline void Map2(R* r, const A* a, const A* b, int n, F f) {
  for (int j = 0; j < n; ++j) r[j] = f(a[j], b[j]);
}

// IEEE comparisons for float registers (NaN unordered), plain ones for integer registers; the
// result register holds 0 or 1.
template <typename T>
void CompareMap(EwOp op, const T* a, const T* b, int64_t* r, int n) {
  switch (op) {
    case EwOp::CMP_EQ: Map2(r, a, b, n, [](T x, T y) { return int64_t{x == y}; }); break;
    case EwOp::CMP_NE: Map2(r, a, b, n, [](T x, T y) { return int64_t{x != y}; }); break;
    case EwOp::CMP_LT: Map2(r, a, b, n, [](T x, T y) { return int64_t{x < y}; }); break;
    case EwOp::CMP_LE: Map2(r, a, b, n, [](T x, T y) { return int64_t{x <= y}; }); break;
    case EwOp::CMP_GT: Map2(r, a, b, n, [](T x, T y) { return int64_t{x > y}; }); break;
    default: Map2(r, a, b, n, [](T x, T y) { return int64_t{x >= y}; }); break;
  }
}
template <typename R, typename A, typename F>
inline void Map3(R* r, const int64_t* p, const A* a, const A* b, int n, F f) {
  for (int j = 0; j < n; ++j) r[j] = f(p[j], a[j], b[j]);
}

// The register file of one worker: kTile slots of 8 bytes per register.
class Registers {
 public:
  explicit Registers(size_t n) : buf_(n * kTile * sizeof(int64_t)) {}
  float* F(int r) { return buf_.as<float>() + static_cast<size_t>(r) * kTile * 2; }
  int64_t* I(int r) { return buf_.as<int64_t>() + static_cast<size_t>(r) * kTile; }
  void* Raw(int r) { return I(r); }

 private:
  AlignedBuffer buf_;
};

// Computes register `reg` (instruction `in`) for `n` elements starting at `start`.
void Eval(const Decoded& p, const Binding& b, int reg, const DecodedInstr& in, int64_t start, int n, int64_t* idx, Registers& R) {
  const bool rf = in.is_float;
  float* rF = R.F(reg);
  int64_t* rI = R.I(reg);
  const bool af = IsFloat(in.adt);
  switch (in.op) {
    case EwOp::LOAD: {
      const DecodedView& v = p.views[in.a];
      if (in.invariant) {  // every element reads the same one (a broadcast scalar)
        const uint8_t* src = b.base[in.a] + v.offset * DTypeByteSize(v.dtype);
        if (rf) std::fill(rF, rF + n, num::LoadAsFloat(v.dtype, src));
        else std::fill(rI, rI + n, num::LoadAsInt(v.dtype, src));
      } else {
        Gather(p, v, b.base[in.a], start, n, idx, R.Raw(reg));
      }
      return;  // loaded values are already exact in their dtype
    }
    case EwOp::CONST:
      if (rf) std::fill(rF, rF + n, num::RoundTo(in.dt, static_cast<float>(in.imm_f)));
      else std::fill(rI, rI + n, num::WrapTo(in.dt, in.imm_i));
      return;
    case EwOp::IOTA:
      Iota(p, p.iota_dim[in.a], rf, start, n, idx, R.Raw(reg));
      break;
    case EwOp::CONVERT:
      if (af && rf) {
        std::memcpy(rF, R.F(in.a), sizeof(float) * n);
      } else if (af) {
        const DType dt = in.dt;
        Map1(rI, R.F(in.a), n, [dt](float x) { return num::FloatToInt(dt, x); });
      } else if (rf) {
        Map1(rF, R.I(in.a), n, [](int64_t x) { return static_cast<float>(x); });
      } else {
        std::memcpy(rI, R.I(in.a), sizeof(int64_t) * n);
      }
      break;
    case EwOp::BITCAST_CONVERT: {
      const DType adt = in.adt, dt = in.dt;
      const uint64_t amask = WidthMask(num::BitWidth(adt));
      if (af && rf) {
        Map1(rF, R.F(in.a), n, [adt, dt](float x) { return BitsToFloat(dt, FloatToBits(adt, x)); });
      } else if (af) {
        Map1(rI, R.F(in.a), n, [adt, dt](float x) { return num::WrapTo(dt, static_cast<int64_t>(FloatToBits(adt, x))); });
      } else if (rf) {
        Map1(rF, R.I(in.a), n, [amask, dt](int64_t x) { return BitsToFloat(dt, static_cast<uint64_t>(x) & amask); });
      } else {
        Map1(rI, R.I(in.a), n, [amask, dt](int64_t x) {
          return num::WrapTo(dt, static_cast<int64_t>(static_cast<uint64_t>(x) & amask));
        });
      }
      return;  // exact bit patterns: no rounding
    }
    case EwOp::IS_FINITE:
      Map1(rI, R.F(in.a), n, [](float x) { return int64_t{std::isfinite(x)}; });
      return;
    case EwOp::CMP_EQ: case EwOp::CMP_NE: case EwOp::CMP_LT:
    case EwOp::CMP_LE: case EwOp::CMP_GT: case EwOp::CMP_GE: {
      if (af) {
        CompareMap(in.op, R.F(in.a), R.F(in.b), rI, n);
      } else {
        CompareMap(in.op, R.I(in.a), R.I(in.b), rI, n);
      }
      return;
    }
    case EwOp::SELECT: {
      const int64_t* pr = R.I(in.a);
      if (rf) Map3(rF, pr, R.F(in.b), R.F(in.c), n, [](int64_t s, float x, float y) { return s ? x : y; });
      else Map3(rI, pr, R.I(in.b), R.I(in.c), n, [](int64_t s, int64_t x, int64_t y) { return s ? x : y; });
      return;  // operands already have the result dtype
    }
    default:
      break;
  }

  if (in.op == EwOp::IOTA || in.op == EwOp::CONVERT) {
    // falls through to rounding / wrapping below
  } else if (rf) {
    const float* a = R.F(in.a);
    const float* b = R.F(in.b);
    const float* c = R.F(in.c);
    switch (in.op) {
      case EwOp::ADD: Map2(rF, a, b, n, [](float x, float y) { return x + y; }); break;
      case EwOp::SUB: Map2(rF, a, b, n, [](float x, float y) { return x - y; }); break;
      case EwOp::MUL: Map2(rF, a, b, n, [](float x, float y) { return x * y; }); break;
      case EwOp::DIV: Map2(rF, a, b, n, [](float x, float y) { return x / y; }); break;
      case EwOp::MAX: Map2(rF, a, b, n, FMax); break;
      case EwOp::MIN: Map2(rF, a, b, n, FMin); break;
      case EwOp::POW: Map2(rF, a, b, n, [](float x, float y) { return std::pow(x, y); }); break;
      case EwOp::REM: Map2(rF, a, b, n, [](float x, float y) { return std::fmod(x, y); }); break;
      case EwOp::ATAN2: Map2(rF, a, b, n, [](float x, float y) { return std::atan2(x, y); }); break;
      case EwOp::NEG: Map1(rF, a, n, [](float x) { return -x; }); break;
      case EwOp::ABS: Map1(rF, a, n, [](float x) { return std::fabs(x); }); break;
      case EwOp::SIGN: Map1(rF, a, n, FSign); break;
      case EwOp::EXP: Map1(rF, a, n, fast::Exp); break;
      case EwOp::EXPM1: Map1(rF, a, n, [](float x) { return std::expm1(x); }); break;
      case EwOp::LOG: Map1(rF, a, n, fast::Log); break;
      case EwOp::LOG1P: Map1(rF, a, n, [](float x) { return std::log1p(x); }); break;
      case EwOp::TANH: Map1(rF, a, n, fast::Tanh); break;
      case EwOp::LOGISTIC: Map1(rF, a, n, fast::Logistic); break;
      case EwOp::SQRT: Map1(rF, a, n, [](float x) { return std::sqrt(x); }); break;
      case EwOp::RSQRT: Map1(rF, a, n, [](float x) { return 1.0f / std::sqrt(x); }); break;
      case EwOp::CBRT: Map1(rF, a, n, [](float x) { return std::cbrt(x); }); break;
      case EwOp::SIN: Map1(rF, a, n, [](float x) { return std::sin(x); }); break;
      case EwOp::COS: Map1(rF, a, n, [](float x) { return std::cos(x); }); break;
      case EwOp::TAN: Map1(rF, a, n, [](float x) { return std::tan(x); }); break;
      case EwOp::ERF: Map1(rF, a, n, fast::Erf); break;
      case EwOp::FLOOR: Map1(rF, a, n, [](float x) { return std::floor(x); }); break;
      case EwOp::CEIL: Map1(rF, a, n, [](float x) { return std::ceil(x); }); break;
      case EwOp::ROUND_NEAREST_EVEN: Map1(rF, a, n, [](float x) { return std::nearbyint(x); }); break;
      case EwOp::ROUND_AFZ: Map1(rF, a, n, [](float x) { return std::round(x); }); break;
      case EwOp::REDUCE_PRECISION: {
        const int eb = static_cast<int>((in.imm_i >> 16) & 0xFFFF), mb = static_cast<int>(in.imm_i & 0xFFFF);
        Map1(rF, a, n, [eb, mb](float x) { return ReducePrecision(x, eb, mb); });
        break;
      }
      case EwOp::CLAMP:
        // stablehlo.clamp(min=a, operand=b, max=c)
        for (int j = 0; j < n; ++j) rF[j] = FMin(FMax(b[j], a[j]), c[j]);
        break;
      default:
        break;
    }
  } else {
    const int64_t* a = R.I(in.a);
    const int64_t* b = R.I(in.b);
    const int64_t* c = R.I(in.c);
    const DType dt = in.dt;
    const int w = num::BitWidth(dt);
    const uint64_t mask = WidthMask(w);
    const int64_t all_ones = num::WrapTo(dt, -1);
    switch (in.op) {
      case EwOp::ADD:
        Map2(rI, a, b, n, [](int64_t x, int64_t y) {
          return static_cast<int64_t>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
        });
        break;
      case EwOp::SUB:
        Map2(rI, a, b, n, [](int64_t x, int64_t y) {
          return static_cast<int64_t>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y));
        });
        break;
      case EwOp::MUL:
        Map2(rI, a, b, n, [](int64_t x, int64_t y) {
          return static_cast<int64_t>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y));
        });
        break;
      // Division by zero gives all ones and x % 0 gives x; INT_MIN / -1 wraps to INT_MIN (the
      // quotient is exact in int64 and wraps below) and INT_MIN % -1 is 0.
      case EwOp::DIV:
        Map2(rI, a, b, n, [all_ones](int64_t x, int64_t y) { return y == 0 ? all_ones : x / y; });
        break;
      case EwOp::REM:
        Map2(rI, a, b, n, [](int64_t x, int64_t y) { return y == 0 ? x : x % y; });
        break;
      case EwOp::MAX: Map2(rI, a, b, n, [](int64_t x, int64_t y) { return std::max(x, y); }); break;
      case EwOp::MIN: Map2(rI, a, b, n, [](int64_t x, int64_t y) { return std::min(x, y); }); break;
      case EwOp::POW: Map2(rI, a, b, n, IntPow); break;
      case EwOp::NEG:
        Map1(rI, a, n, [](int64_t x) { return static_cast<int64_t>(uint64_t{0} - static_cast<uint64_t>(x)); });
        break;
      case EwOp::ABS:
        Map1(rI, a, n, [](int64_t x) { return x < 0 ? static_cast<int64_t>(uint64_t{0} - static_cast<uint64_t>(x)) : x; });
        break;
      case EwOp::SIGN: Map1(rI, a, n, [](int64_t x) { return int64_t{(x > 0) - (x < 0)}; }); break;
      case EwOp::CLAMP:
        for (int j = 0; j < n; ++j) rI[j] = std::min(std::max(b[j], a[j]), c[j]);
        break;
      case EwOp::AND: Map2(rI, a, b, n, [](int64_t x, int64_t y) { return x & y; }); break;
      case EwOp::OR: Map2(rI, a, b, n, [](int64_t x, int64_t y) { return x | y; }); break;
      case EwOp::XOR: Map2(rI, a, b, n, [](int64_t x, int64_t y) { return x ^ y; }); break;
      case EwOp::NOT:
        if (dt == DType::kPred) Map1(rI, a, n, [](int64_t x) { return int64_t{x == 0}; });
        else Map1(rI, a, n, [](int64_t x) { return ~x; });
        break;
      // Shift amounts are read as unsigned; >= the bit width gives 0 (sign fill for arithmetic).
      case EwOp::SHL:
        Map2(rI, a, b, n, [w, mask](int64_t x, int64_t y) {
          const uint64_t s = static_cast<uint64_t>(y) & mask;
          return s >= static_cast<uint64_t>(w) ? int64_t{0} : static_cast<int64_t>(static_cast<uint64_t>(x) << s);
        });
        break;
      case EwOp::SHR_LOGICAL:
        Map2(rI, a, b, n, [w, mask](int64_t x, int64_t y) {
          const uint64_t s = static_cast<uint64_t>(y) & mask;
          return s >= static_cast<uint64_t>(w) ? int64_t{0} : static_cast<int64_t>((static_cast<uint64_t>(x) & mask) >> s);
        });
        break;
      case EwOp::SHR_ARITHMETIC:
        Map2(rI, a, b, n, [w, mask](int64_t x, int64_t y) {
          const uint64_t s = static_cast<uint64_t>(y) & mask;
          const int64_t sext = static_cast<int64_t>(static_cast<uint64_t>(x) << (64 - w)) >> (64 - w);
          if (s >= static_cast<uint64_t>(w)) return sext < 0 ? int64_t{-1} : int64_t{0};
          return sext >> s;
        });
        break;
      case EwOp::POPCNT:
        Map1(rI, a, n, [mask](int64_t x) { return int64_t{__builtin_popcountll(static_cast<uint64_t>(x) & mask)}; });
        break;
      case EwOp::CLZ:
        Map1(rI, a, n, [w, mask](int64_t x) {
          const uint64_t bits = static_cast<uint64_t>(x) & mask;
          return bits == 0 ? int64_t{w} : int64_t{__builtin_clzll(bits) - (64 - w)};
        });
        break;
      // Registers hold values sign- or zero-extended to 64 bits and widths are at most 32, so
      // the exact product fits: signed in int64, unsigned in uint64.
      case EwOp::MUL_HI:
        if (IsSignedInt(dt)) {
          Map2(rI, a, b, n, [w](int64_t x, int64_t y) { return (x * y) >> w; });
        } else {
          Map2(rI, a, b, n, [w](int64_t x, int64_t y) {
            return static_cast<int64_t>((static_cast<uint64_t>(x) * static_cast<uint64_t>(y)) >> w);
          });
        }
        break;
      default:
        break;
    }
  }
  // Round floating results to their dtype, wrap integers to their width.
  if (rf) {
    if (in.dt == DType::kBF16) for (int j = 0; j < n; ++j) rF[j] = num::RoundBF16(rF[j]);
    else if (in.dt == DType::kF16) for (int j = 0; j < n; ++j) rF[j] = num::RoundF16(rF[j]);
  } else {
    switch (in.dt) {
      case DType::kPred: for (int j = 0; j < n; ++j) rI[j] = rI[j] != 0; break;
      case DType::kS8: for (int j = 0; j < n; ++j) rI[j] = static_cast<int8_t>(rI[j]); break;
      case DType::kU8: for (int j = 0; j < n; ++j) rI[j] = static_cast<uint8_t>(rI[j]); break;
      case DType::kS16: for (int j = 0; j < n; ++j) rI[j] = static_cast<int16_t>(rI[j]); break;
      case DType::kU16: for (int j = 0; j < n; ++j) rI[j] = static_cast<uint16_t>(rI[j]); break;
      case DType::kS32: for (int j = 0; j < n; ++j) rI[j] = static_cast<int32_t>(rI[j]); break;
      case DType::kU32: for (int j = 0; j < n; ++j) rI[j] = static_cast<uint32_t>(rI[j]); break;
      default: break;
    }
  }
}

void StoreResult(const DecodedResult& res, uint8_t* base, int64_t start, int n, Registers& R) {
  uint8_t* out = base + start * DTypeByteSize(res.dtype);
  const float* f = R.F(res.reg);
  const int64_t* v = R.I(res.reg);
  switch (res.dtype) {
    case DType::kF32: std::memcpy(out, f, sizeof(float) * n); break;
    case DType::kBF16: {
      // Registers hold values already rounded to bf16: storing them is taking the top half.
      uint16_t* o = reinterpret_cast<uint16_t*>(out);
      for (int j = 0; j < n; ++j) o[j] = static_cast<uint16_t>(num::FloatBits(f[j]) >> 16);
      break;
    }
    case DType::kF16: {
      uint16_t* o = reinterpret_cast<uint16_t*>(out);
      for (int j = 0; j < n; ++j) o[j] = num::F32ToF16(f[j]);
      break;
    }
    case DType::kPred: case DType::kS8: case DType::kU8:
      for (int j = 0; j < n; ++j) out[j] = static_cast<uint8_t>(v[j]);
      break;
    case DType::kS16: case DType::kU16: {
      uint16_t* o = reinterpret_cast<uint16_t*>(out);
      for (int j = 0; j < n; ++j) o[j] = static_cast<uint16_t>(v[j]);
      break;
    }
    case DType::kS32: case DType::kU32: {
      uint32_t* o = reinterpret_cast<uint32_t*>(out);
      for (int j = 0; j < n; ++j) o[j] = static_cast<uint32_t>(v[j]);
      break;
    }
    case DType::kInvalid: break;
  }
}

// Evaluates tiles [t0, t1) of the program on this thread.
void RunTiles(const Decoded& p, const Binding& b, int64_t t0, int64_t t1) {
  Registers regs(p.instrs.size());
  std::vector<int64_t> idx(std::max<size_t>(p.dims.size(), 1));
  const int nregs = static_cast<int>(p.instrs.size());
  // Values that do not depend on the element (constants, broadcast scalars) once per chunk.
  for (int r = 0; r < nregs; ++r) {
    const DecodedInstr& in = p.instrs[r];
    if (in.live && in.invariant) Eval(p, b, r, in, 0, kTile, idx.data(), regs);
  }
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t start = t * kTile;
    const int n = static_cast<int>(std::min<int64_t>(kTile, p.num_elements - start));
    for (int r = 0; r < nregs; ++r) {
      const DecodedInstr& in = p.instrs[r];
      if (in.live && !in.invariant) Eval(p, b, r, in, start, n, idx.data(), regs);
    }
    for (size_t i = 0; i < p.results.size(); ++i) StoreResult(p.results[i], b.out[i], start, n, regs);
  }
}

bool Overlaps(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
  if (a_bytes <= 0 || b_bytes <= 0) return false;
  const uintptr_t pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return pa < pb + static_cast<uintptr_t>(b_bytes) && pb < pa + static_cast<uintptr_t>(a_bytes);
}

// Multiplies with overflow detection; false when the product exceeds `limit`.
bool CheckedMul(int64_t a, int64_t b, int64_t limit, int64_t* out) {
  if (a < 0 || b < 0) return false;
  if (a != 0 && b > limit / a) return false;
  *out = a * b;
  return *out <= limit;
}

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// Checks a register program: ops implemented, registers defined before use, operand and result
// dtypes valid for each op. LOAD a reads view a (region programs: argument a) of dtype view_dtypes[a].
Status CheckInstrs(const flatbuffers::Vector<const exe::Instr*>* instrs, int rank,
                   const std::vector<DType>& view_dtypes, bool region, std::vector<DType>* reg_dtypes_out) {
  const int num_views = static_cast<int>(view_dtypes.size());
  const int num_instrs = instrs ? static_cast<int>(instrs->size()) : 0;
  std::vector<DType>& reg_dtypes = *reg_dtypes_out;
  reg_dtypes.assign(num_instrs, DType::kInvalid);
  for (int r = 0; r < num_instrs; ++r) {
    const exe::Instr* in = instrs->Get(r);
    const OpInfo* info = GetOpInfo(in->op());
    const std::string where = "instruction " + std::to_string(r);
    if (info == nullptr) {
      return InvalidArgument(where + " uses EwOp " + std::to_string(static_cast<int>(in->op())) +
                             ", which this runtime does not implement");
    }
    const std::string what = where + " (" + info->name + ")";
    const DType dt = ToDType(in->dtype());
    if (!ValidDType(dt)) {
      return InvalidArgument(what + " has invalid result dtype " + std::to_string(static_cast<int>(in->dtype())));
    }
    reg_dtypes[r] = dt;
    const int nops = NumOperands(info->arity);
    const int operands[3] = {in->a(), in->b(), in->c()};
    DType odt[3] = {DType::kInvalid, DType::kInvalid, DType::kInvalid};
    for (int k = 0; k < nops; ++k) {
      if (operands[k] < 0 || operands[k] >= r) {
        return InvalidArgument(what + " reads register " + std::to_string(operands[k]) +
                               ", which is not defined before it");
      }
      odt[k] = reg_dtypes[operands[k]];
    }
    auto bad = [&](const std::string& why) {
      std::string types = std::string(DTypeName(dt)) + " result";
      for (int k = 0; k < nops; ++k) types += std::string(k ? ", " : " from ") + DTypeName(odt[k]);
      return InvalidArgument(what + ": " + why + " (" + types + ")");
    };
    bool same = true;
    for (int k = 0; k < nops; ++k) same = same && odt[k] == dt;
    switch (info->rule) {
      case Rule::kLoad: {
        const char* source = region ? "argument " : "view ";
        if (in->a() < 0 || in->a() >= num_views) {
          return InvalidArgument(what + " loads " + source + std::to_string(in->a()) + " but there are " +
                                 std::to_string(num_views) + (region ? " arguments" : " views"));
        }
        if (view_dtypes[in->a()] != dt) {
          return InvalidArgument(what + " loads " + source + std::to_string(in->a()) + " of dtype " +
                                 DTypeName(view_dtypes[in->a()]) + " into a " + DTypeName(dt) + " register");
        }
        break;
      }
      case Rule::kConst:
      case Rule::kConvert:
        break;
      case Rule::kIota:
        if (region) return InvalidArgument(what + ": IOTA is not allowed in a region program");
        if (in->a() < 0 || in->a() >= rank) {
          return InvalidArgument(what + " iota dimension " + std::to_string(in->a()) + " is out of range for rank " +
                                 std::to_string(rank));
        }
        break;
      case Rule::kSameAny:
        if (!same) return bad("operands must have the result dtype");
        break;
      case Rule::kSameNumeric:
        if (!same || dt == DType::kPred) return bad("operands must have the result dtype, which must be numeric");
        break;
      case Rule::kSameFloat:
        if (!same || !IsFloat(dt)) return bad("operands must have the result dtype, which must be floating");
        break;
      case Rule::kSameInt:
        if (!same || IsFloat(dt) || dt == DType::kPred) {
          return bad("operands must have the result dtype, which must be an integer type");
        }
        break;
      case Rule::kSameIntOrPred:
        if (!same || IsFloat(dt)) return bad("operands must have the result dtype, which must be integer or pred");
        break;
      case Rule::kCompare:
        if (odt[0] != odt[1] || dt != DType::kPred) return bad("compares two values of one dtype into pred");
        break;
      case Rule::kSelect:
        if (odt[0] != DType::kPred || odt[1] != dt || odt[2] != dt) {
          return bad("select takes a pred and two values of the result dtype");
        }
        break;
      case Rule::kIsFinite:
        if (!IsFloat(odt[0]) || dt != DType::kPred) return bad("is_finite maps a floating value to pred");
        break;
      case Rule::kBitcast:
        if (DTypeByteSize(odt[0]) != DTypeByteSize(dt) || odt[0] == DType::kPred || dt == DType::kPred) {
          return bad("bitcast_convert needs equal bit widths and no pred");
        }
        break;
    }
    if (in->op() == EwOp::REDUCE_PRECISION) {
      const int64_t eb = (in->imm_i() >> 16) & 0xFFFF, mb = in->imm_i() & 0xFFFF;
      if (in->imm_i() < 0 || (in->imm_i() >> 32) != 0 || eb < 1 || mb > 23 + 64) {
        return InvalidArgument(what + " has invalid exponent/mantissa bits " + std::to_string(eb) + "/" +
                               std::to_string(mb));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const std::string& ElementwiseOpsJson() {
  static const std::string json = [] {
    std::string s = "[";
    for (size_t i = 0; i < std::size(kOps); ++i) {
      const OpInfo& op = kOps[i];
      s += std::string(i ? ",\n " : "") + "{\"name\": \"" + op.name + "\", \"value\": " + std::to_string(i) +
           ", \"arity\": \"" + ArityName(op.arity) + "\", \"operands\": " + std::to_string(NumOperands(op.arity)) +
           ", \"transcendental\": " + (op.transcendental ? "true" : "false") + "}";
    }
    return s + "]";
  }();
  return json;
}

float ReducePrecision(float x, int exponent_bits, int mantissa_bits) {
  uint32_t bits = num::FloatBits(x);
  if (std::isnan(x)) {
    // NaNs stay NaN while a mantissa bit remains to hold them; else they become infinity.
    return mantissa_bits > 0 ? x : num::BitsFloat((bits & 0x80000000u) | 0x7F800000u);
  }
  if (mantissa_bits < 23) {
    const int drop = 23 - std::max(mantissa_bits, 0);
    const uint32_t last_kept = 1u << drop;
    const uint32_t half_minus_one = (last_kept >> 1) - 1;
    const uint32_t kept_lsb = (bits >> drop) & 1u;
    bits = (bits + half_minus_one + kept_lsb) & ~(last_kept - 1);
  }
  if (exponent_bits < 8) {
    const uint32_t sign = bits & 0x80000000u;
    const uint32_t exp_field = bits & 0x7F800000u;
    const int reduced_bias = (1 << (std::max(exponent_bits, 1) - 1)) - 1;
    const uint32_t max_exp = static_cast<uint32_t>(127 + reduced_bias);
    const uint32_t min_exp = static_cast<uint32_t>(127 - reduced_bias);
    if (exp_field > (max_exp << 23)) bits = sign | 0x7F800000u;
    else if (exp_field <= (min_exp << 23)) bits = sign;
  }
  return num::BitsFloat(bits);
}

Status ValidateElementwise(const exe::Elementwise& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  std::vector<int64_t> dims;
  if (op.dims()) dims.assign(op.dims()->begin(), op.dims()->end());
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return InvalidArgument("iteration space " + DimsString(dims) + " has a negative dimension");
    if (!CheckedMul(n, d, kMaxElements, &n)) {
      return InvalidArgument("iteration space " + DimsString(dims) + " is too large");
    }
  }
  const int rank = static_cast<int>(dims.size());
  const int num_views = op.views() ? static_cast<int>(op.views()->size()) : 0;
  std::vector<DType> view_dtypes(num_views);
  for (int v = 0; v < num_views; ++v) {
    const exe::View* view = op.views()->Get(v);
    const std::string where = "view " + std::to_string(v);
    if (view->input() < 0 || view->input() >= static_cast<int>(inputs.size())) {
      return InvalidArgument(where + " reads input " + std::to_string(view->input()) + " but the kernel has " +
                             std::to_string(inputs.size()) + " inputs");
    }
    const TensorInfo& in = *inputs[view->input()];
    view_dtypes[v] = in.dtype;
    const int nstrides = view->strides() ? static_cast<int>(view->strides()->size()) : 0;
    if (nstrides != rank) {
      return InvalidArgument(where + " has " + std::to_string(nstrides) + " strides for a rank-" +
                             std::to_string(rank) + " iteration space");
    }
    if (n == 0) continue;
    // The lowest and highest element the view touches must lie inside the input.
    __int128 lo = view->offset(), hi = view->offset();
    for (int k = 0; k < rank; ++k) {
      const __int128 span = static_cast<__int128>(view->strides()->Get(k)) * (dims[k] - 1);
      if (span < 0) lo += span; else hi += span;
    }
    if (lo < 0 || hi >= in.num_elements()) {
      return InvalidArgument(where + " (offset " + std::to_string(view->offset()) + ") reads outside input " +
                             std::to_string(view->input()) + " " + in.ToString() + " over iteration space " +
                             DimsString(dims));
    }
  }
  std::vector<DType> reg_dtypes;
  CHIP_RETURN_IF_ERROR(CheckInstrs(op.instrs(), rank, view_dtypes, /*region=*/false, &reg_dtypes));
  const int num_instrs = static_cast<int>(reg_dtypes.size());
  const int num_results = op.results() ? static_cast<int>(op.results()->size()) : 0;
  std::vector<bool> written(outputs.size(), false);
  for (int i = 0; i < num_results; ++i) {
    const exe::ElementwiseResult* res = op.results()->Get(i);
    const std::string where = "result " + std::to_string(i);
    if (res->reg() < 0 || res->reg() >= num_instrs) {
      return InvalidArgument(where + " names register " + std::to_string(res->reg()) + " of " +
                             std::to_string(num_instrs));
    }
    if (res->output() < 0 || res->output() >= static_cast<int>(outputs.size())) {
      return InvalidArgument(where + " writes output " + std::to_string(res->output()) + " but the kernel has " +
                             std::to_string(outputs.size()) + " outputs");
    }
    const TensorInfo& out = *outputs[res->output()];
    if (out.dtype != reg_dtypes[res->reg()] || out.num_elements() != n) {
      return InvalidArgument(where + " writes a " + DTypeName(reg_dtypes[res->reg()]) + DimsString(dims) +
                             " register to output " + std::to_string(res->output()) + " of type " + out.ToString());
    }
    written[res->output()] = true;
  }
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (!written[o]) return InvalidArgument("output " + std::to_string(o) + " is not written by any result");
  }
  return Status::Ok();
}
// Decodes instruction r of a register program (earlier registers already decoded in `prior`).
// Operands an op does not use point at a valid register, so evaluation reads them unconditionally.
Arity DecodeInstr(const exe::Instr& src, int r, const std::vector<DecodedInstr>& prior,
                  DecodedInstr* in) {
  in->op = src.op();
  in->dt = ToDType(src.dtype());
  in->is_float = IsFloat(in->dt);
  in->a = src.a();
  in->b = src.b();
  in->c = src.c();
  in->imm_i = src.imm_i();
  in->imm_f = src.imm_f();
  const Arity arity = GetOpInfo(in->op)->arity;
  const int nops = arity == Arity::kUnary ? 1 : arity == Arity::kBinary ? 2 : arity == Arity::kTernary ? 3 : 0;
  if (nops == 0 && arity == Arity::kNone) in->a = r;
  if (nops < 2) in->b = (nops == 0) ? r : in->a;
  if (nops < 3) in->c = (nops == 0) ? r : in->a;
  if (nops >= 1) in->adt = prior[in->a].dt;
  return arity;
}


namespace {

// Decodes a validated Elementwise program for inputs and outputs of these types.
Decoded DecodeElementwise(const exe::Elementwise& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  Decoded p;
  std::vector<int64_t> dims;
  if (op.dims()) dims.assign(op.dims()->begin(), op.dims()->end());
  for (int64_t d : dims) p.num_elements *= d;
  if (p.num_elements == 0 || outputs.empty()) return p;
  const int rank = static_cast<int>(dims.size());
  const int num_views = op.views() ? static_cast<int>(op.views()->size()) : 0;
  const int num_instrs = op.instrs() ? static_cast<int>(op.instrs()->size()) : 0;
  // Decode instructions; mark live registers (those results depend on) and invariant ones.
  p.instrs.resize(num_instrs);
  std::vector<bool> iota_dims(rank, false);
  std::vector<bool> view_invariant(num_views, true);
  for (int v = 0; v < num_views; ++v) {
    const exe::View* view = op.views()->Get(v);
    for (int k = 0; k < rank; ++k) {
      if (view->strides()->Get(k) != 0 && dims[k] != 1) view_invariant[v] = false;
    }
  }
  for (int r = 0; r < num_instrs; ++r) {
    DecodedInstr& in = p.instrs[r];
    const Arity arity = DecodeInstr(*op.instrs()->Get(r), r, p.instrs, &in);
    switch (arity) {
      case Arity::kNone: in.invariant = true; break;
      case Arity::kView: in.invariant = view_invariant[in.a]; break;
      case Arity::kDim: in.invariant = false; iota_dims[in.a] = true; break;
      default:
        in.invariant = p.instrs[in.a].invariant && p.instrs[in.b].invariant && p.instrs[in.c].invariant;
    }
  }
  const int num_results = op.results() ? static_cast<int>(op.results()->size()) : 0;
  for (int i = 0; i < num_results; ++i) p.instrs[op.results()->Get(i)->reg()].live = true;
  for (int r = num_instrs - 1; r >= 0; --r) {
    DecodedInstr& in = p.instrs[r];
    if (!in.live) continue;
    const Arity arity = GetOpInfo(in.op)->arity;
    if (arity == Arity::kUnary || arity == Arity::kBinary || arity == Arity::kTernary) {
      p.instrs[in.a].live = true;
      p.instrs[in.b].live = true;
      p.instrs[in.c].live = true;
    }
  }

  // Collapse the iteration space: drop size-1 dims and merge neighbours every view walks
  // contiguously (IOTA dims are kept as they are).
  struct Dim {
    int64_t size;
    std::vector<int64_t> strides;
    int orig;  // original dim for IOTA dims, else -1
  };
  std::vector<Dim> cdims;
  for (int k = 0; k < rank; ++k) {
    if (dims[k] == 1 && !iota_dims[k]) continue;
    Dim d{dims[k], std::vector<int64_t>(num_views), iota_dims[k] ? k : -1};
    for (int v = 0; v < num_views; ++v) d.strides[v] = op.views()->Get(v)->strides()->Get(k);
    if (!cdims.empty() && cdims.back().orig < 0 && d.orig < 0) {
      Dim& outer = cdims.back();
      bool mergeable = true;
      for (int v = 0; v < num_views; ++v) mergeable = mergeable && outer.strides[v] == d.strides[v] * d.size;
      if (mergeable) {
        outer.size *= d.size;
        outer.strides = d.strides;
        continue;
      }
    }
    cdims.push_back(std::move(d));
  }
  p.iota_dim.assign(rank, -1);
  for (size_t k = 0; k < cdims.size(); ++k) {
    p.dims.push_back(cdims[k].size);
    if (cdims[k].orig >= 0) p.iota_dim[cdims[k].orig] = static_cast<int>(k);
  }
  p.views.resize(num_views);
  for (int v = 0; v < num_views; ++v) {
    const exe::View* view = op.views()->Get(v);
    DecodedView& dv = p.views[v];
    dv.input = view->input();
    dv.dtype = inputs[view->input()]->dtype;
    dv.offset = view->offset();
    for (const Dim& d : cdims) dv.strides.push_back(d.strides[v]);
  }

  for (int i = 0; i < num_results; ++i) {
    const exe::ElementwiseResult* res = op.results()->Get(i);
    p.results.push_back({res->reg(), outputs[res->output()]->dtype, res->output()});
  }
  return p;
}

// Runs a decoded program on bound storage. Outputs overlapping an input read through anything but
// the identity view are staged.
Status RunDecoded(const Decoded& p, const TensorRefs& inputs, const TensorRefs& outputs) {
  if (p.num_elements == 0 || outputs.empty()) return Status::Ok();
  const int num_views = static_cast<int>(p.views.size());
  std::vector<AlignedBuffer> staged(outputs.size());
  std::vector<uint8_t*> out_ptr(outputs.size());
  for (size_t o = 0; o < outputs.size(); ++o) {
    out_ptr[o] = static_cast<uint8_t*>(outputs[o].data);
    const int64_t out_bytes = outputs[o].info->byte_size();
    bool stage = false;
    for (int v = 0; v < num_views && !stage; ++v) {
      const DecodedView& dv = p.views[v];
      const TensorRef& in = inputs[dv.input];
      if (!Overlaps(in.data, in.info->byte_size(), outputs[o].data, out_bytes)) continue;
      bool identity = in.data == outputs[o].data && dv.offset == 0 &&
                      DTypeByteSize(dv.dtype) == DTypeByteSize(outputs[o].info->dtype);
      int64_t expect = 1;
      for (int k = static_cast<int>(p.dims.size()) - 1; k >= 0 && identity; --k) {
        identity = dv.strides[k] == expect;
        expect *= p.dims[k];
      }
      stage = !identity;
    }
    if (stage) {
      staged[o].Resize(static_cast<size_t>(out_bytes));
      out_ptr[o] = staged[o].as<uint8_t>();
    }
  }
  std::vector<const uint8_t*> base(p.views.size());
  for (int v = 0; v < num_views; ++v) base[v] = static_cast<const uint8_t*>(inputs[p.views[v].input].data);
  std::vector<uint8_t*> out(p.results.size());
  for (size_t i = 0; i < p.results.size(); ++i) out[i] = out_ptr[p.results[i].output];
  const Binding binding{base.data(), out.data()};

  const int64_t num_tiles = (p.num_elements + kTile - 1) / kTile;
  if (p.num_elements >= kParallelMinElements) {
    ThreadPool::Global().ParallelFor(num_tiles, kParallelMinElements / kTile,
                                     [&p, &binding](int64_t t0, int64_t t1) { RunTiles(p, binding, t0, t1); });
  } else {
    RunTiles(p, binding, 0, num_tiles);
  }
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (staged[o].data() != nullptr) std::memcpy(outputs[o].data, staged[o].data(), outputs[o].info->byte_size());
  }
  return Status::Ok();
}

}  // namespace

struct ElementwiseProgram::Impl {
  Decoded program;
};

ElementwiseProgram::ElementwiseProgram(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
ElementwiseProgram::~ElementwiseProgram() = default;

StatusOr<std::unique_ptr<const ElementwiseProgram>> ElementwiseProgram::Prepare(const exe::Elementwise& op,
                                                                              const TensorInfos& inputs,
                                                                              const TensorInfos& outputs) {
  CHIP_RETURN_IF_ERROR(ValidateElementwise(op, inputs, outputs));
  auto impl = std::make_unique<Impl>();
  impl->program = DecodeElementwise(op, inputs, outputs);
  return std::unique_ptr<const ElementwiseProgram>(new ElementwiseProgram(std::move(impl)));
}

Status ElementwiseProgram::Run(const TensorRefs& inputs, const TensorRefs& outputs) const {
  return RunDecoded(impl_->program, inputs, outputs);
}

namespace {

class PreparedElementwise final : public PreparedOp {
 public:
  explicit PreparedElementwise(std::unique_ptr<const ElementwiseProgram> program) : program_(std::move(program)) {}
  Status Run(const KernelArgs& args) const override { return program_->Run(args.inputs, args.outputs); }

 private:
  const std::unique_ptr<const ElementwiseProgram> program_;
};

}  // namespace

StatusOr<PreparedOpPtr> PrepareElementwise(const exe::Kernel& kernel, const TensorInfos& inputs,
                                           const TensorInfos& outputs, const PrepareContext& /*ctx*/) {
  StatusOr<std::unique_ptr<const ElementwiseProgram>> program =
      ElementwiseProgram::Prepare(*kernel.op_as_Elementwise(), inputs, outputs);
  if (!program.ok()) return program.status();
  return PreparedOpPtr(new PreparedElementwise(std::move(program).value()));
}

// ---- Region programs ---------------------------------------------------------------------------

Status ValidateRegionProgram(const exe::RegionProgram* program, const std::vector<DType>& arg_dtypes,
                             const std::vector<DType>& result_dtypes, const std::string& what) {
  if (program == nullptr) return InvalidArgument(what + ": the region program is missing");
  std::vector<DType> regs;
  const Status s = CheckInstrs(program->instrs(), /*rank=*/0, arg_dtypes, /*region=*/true, &regs);
  if (!s.ok()) return InvalidArgument(what + " program: " + s.message());
  const size_t num_results = program->results() ? program->results()->size() : 0;
  if (num_results != result_dtypes.size()) {
    return InvalidArgument(what + " program has " + std::to_string(num_results) + " results, expected " +
                           std::to_string(result_dtypes.size()));
  }
  for (size_t i = 0; i < num_results; ++i) {
    const int reg = program->results()->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (reg < 0 || reg >= static_cast<int>(regs.size())) {
      return InvalidArgument(what + " program result " + std::to_string(i) + " names register " +
                             std::to_string(reg) + " of " + std::to_string(regs.size()));
    }
    if (regs[reg] != result_dtypes[i]) {
      return InvalidArgument(what + " program result " + std::to_string(i) + " is " + DTypeName(regs[reg]) +
                             ", expected " + DTypeName(result_dtypes[i]));
    }
  }
  return Status::Ok();
}

struct RegionEvaluator::Impl {
  explicit Impl(size_t num_regs) : regs(num_regs) {}
  Decoded p;
  std::vector<const uint8_t*> base;  // the arguments of the current Run
  std::vector<uint8_t*> out;         // its results
  std::vector<int> invariant, varying;  // live registers, in order
  Registers regs;
  int64_t idx[1] = {0};
};

RegionEvaluator::RegionEvaluator(const exe::RegionProgram& program, const std::vector<DType>& arg_dtypes) {
  const int num_instrs = program.instrs() ? static_cast<int>(program.instrs()->size()) : 0;
  impl_ = std::make_unique<Impl>(static_cast<size_t>(std::max(num_instrs, 1)));
  Decoded& p = impl_->p;
  p.dims = {0};
  p.iota_dim = {0};
  p.views.resize(arg_dtypes.size());
  for (size_t a = 0; a < arg_dtypes.size(); ++a) {
    p.views[a].dtype = arg_dtypes[a];
    p.views[a].strides = {1};
  }
  p.instrs.resize(num_instrs);
  for (int r = 0; r < num_instrs; ++r) {
    DecodedInstr& in = p.instrs[r];
    const Arity arity = DecodeInstr(*program.instrs()->Get(r), r, p.instrs, &in);
    if (arity == Arity::kNone) {
      in.invariant = true;
    } else if (arity == Arity::kView || arity == Arity::kDim) {
      in.invariant = false;  // arguments change with every lane and call
    } else {
      in.invariant = p.instrs[in.a].invariant && p.instrs[in.b].invariant && p.instrs[in.c].invariant;
    }
  }
  const int num_results = program.results() ? static_cast<int>(program.results()->size()) : 0;
  for (int i = 0; i < num_results; ++i) {
    const int reg = program.results()->Get(i);
    p.instrs[reg].live = true;
    p.results.push_back({reg, p.instrs[reg].dt, i});
  }
  for (int r = num_instrs - 1; r >= 0; --r) {
    DecodedInstr& in = p.instrs[r];
    if (!in.live) continue;
    const Arity arity = GetOpInfo(in.op)->arity;
    if (arity == Arity::kUnary || arity == Arity::kBinary || arity == Arity::kTernary) {
      p.instrs[in.a].live = true;
      p.instrs[in.b].live = true;
      p.instrs[in.c].live = true;
    }
  }
  for (int r = 0; r < num_instrs; ++r) {
    if (p.instrs[r].live) (p.instrs[r].invariant ? impl_->invariant : impl_->varying).push_back(r);
  }
}

RegionEvaluator::~RegionEvaluator() = default;

int RegionEvaluator::num_args() const { return static_cast<int>(impl_->p.views.size()); }
int RegionEvaluator::num_results() const { return static_cast<int>(impl_->p.results.size()); }

void RegionEvaluator::Run(const void* const* args, const int64_t* arg_strides, int64_t n, void* const* results) {
  if (n <= 0) return;
  Impl& im = *impl_;
  Decoded& p = im.p;
  p.dims[0] = n;
  p.num_elements = n;
  im.base.resize(p.views.size());
  im.out.resize(p.results.size());
  for (size_t a = 0; a < p.views.size(); ++a) {
    im.base[a] = static_cast<const uint8_t*>(args[a]);
    p.views[a].strides[0] = arg_strides[a];
  }
  for (size_t i = 0; i < p.results.size(); ++i) im.out[i] = static_cast<uint8_t*>(results[i]);
  const Binding b{im.base.data(), im.out.data()};
  const int first = static_cast<int>(std::min<int64_t>(kTile, n));
  for (int r : im.invariant) Eval(p, b, r, p.instrs[r], 0, first, im.idx, im.regs);
  for (int64_t start = 0; start < n; start += kTile) {
    const int m = static_cast<int>(std::min<int64_t>(kTile, n - start));
    for (int r : im.varying) Eval(p, b, r, p.instrs[r], start, m, im.idx, im.regs);
    for (size_t i = 0; i < p.results.size(); ++i) StoreResult(p.results[i], im.out[i], start, m, im.regs);
  }
}

bool RegionEvaluator::Compare(const void* const* args) {
  static const int64_t kZero[64] = {0};
  uint8_t result = 0;
  void* out = &result;
  if (impl_->p.views.size() <= 64) {
    Run(args, kZero, 1, &out);
  } else {
    const std::vector<int64_t> zeros(impl_->p.views.size(), 0);
    Run(args, zeros.data(), 1, &out);
  }
  return result != 0;
}

}  // namespace kernels
}  // namespace chip
