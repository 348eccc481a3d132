#include "pjrt_plugin/kernels/sort.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/kernels/thread_pool.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using idx::Dims;
using exe::SortCompare;

constexpr int64_t kParallelMinElements = 1 << 15;
constexpr int64_t kInsertionRun = 16;

// Stable merge sort of `a` (n indices) with any comparator: every loop is bounded by the array,
// whatever `less` answers.
template <typename Less>
void StableSort(int32_t* a, int32_t* tmp, int64_t n, Less less) {
  for (int64_t s = 0; s < n; s += kInsertionRun) {
    const int64_t e = std::min(n, s + kInsertionRun);
    for (int64_t i = s + 1; i < e; ++i) {
      const int32_t v = a[i];
      int64_t j = i;
      while (j > s && less(v, a[j - 1])) {
        a[j] = a[j - 1];
        --j;
      }
      a[j] = v;
    }
  }
  int32_t* src = a;
  int32_t* dst = tmp;
  for (int64_t w = kInsertionRun; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      const int64_t mid = std::min(lo + w, n), hi = std::min(lo + 2 * w, n);
      int64_t i = lo, j = mid, o = lo;
      while (i < mid && j < hi) dst[o++] = less(src[j], src[i]) ? src[j++] : src[i++];
      while (i < mid) dst[o++] = src[i++];
      while (j < hi) dst[o++] = src[j++];
    }
    std::swap(src, dst);
  }
  if (src != a) std::memcpy(a, src, static_cast<size_t>(n) * sizeof(int32_t));
}

// An integer key whose order is the comparison's: total order for floats (-NaN < -inf < -0 <
// +0 < +inf < +NaN), the value for integers read as signed or unsigned.
inline int64_t TotalOrderKey(DType t, const void* p) {
  if (t == DType::kF32) {
    int32_t s;
    std::memcpy(&s, p, 4);
    return static_cast<int64_t>(s ^ ((s >> 31) & 0x7FFFFFFF));
  }
  int16_t s;
  std::memcpy(&s, p, 2);
  return static_cast<int64_t>(static_cast<int16_t>(s ^ ((s >> 15) & 0x7FFF)));
}

inline int64_t IntKey(DType t, const void* p, bool as_signed) {
  const int64_t v = num::LoadAsInt(t, p);
  const int w = num::BitWidth(t);
  if (w >= 64) return v;
  const uint64_t mask = (uint64_t{1} << w) - 1;
  const uint64_t u = static_cast<uint64_t>(v) & mask;
  if (!as_signed || w == 1) return static_cast<int64_t>(u);
  const uint64_t sign = uint64_t{1} << (w - 1);
  return static_cast<int64_t>((u ^ sign)) - static_cast<int64_t>(sign);
}

struct KeyInfo {
  int operand = 0;
  const exe::RegionProgram* transform = nullptr;
  DType dtype = DType::kInvalid;  // of the key (the transform's result)
  SortCompare compare = SortCompare::FLOAT;
  bool descending = false;
};

DType TransformResultDType(const exe::RegionProgram* p) {
  if (p == nullptr || p->results() == nullptr || p->results()->size() != 1 || p->instrs() == nullptr) {
    return DType::kInvalid;
  }
  const int reg = p->results()->Get(0);
  if (reg < 0 || reg >= static_cast<int>(p->instrs()->size())) return DType::kInvalid;
  return static_cast<DType>(p->instrs()->Get(reg)->dtype());
}

std::vector<KeyInfo> DecodeKeys(const exe::Sort& op, const TensorInfos& inputs) {
  std::vector<KeyInfo> keys;
  if (op.keys() == nullptr) return keys;
  for (const exe::SortKey* k : *op.keys()) {
    KeyInfo info;
    info.operand = k->operand();
    info.transform = k->transform();
    info.compare = k->compare();
    info.descending = k->descending();
    if (info.operand >= 0 && info.operand < static_cast<int>(inputs.size())) {
      info.dtype = info.transform ? TransformResultDType(info.transform) : inputs[info.operand]->dtype;
    }
    keys.push_back(info);
  }
  return keys;
}

// One worker's state: evaluators are not thread-safe.
struct SortWorker {
  std::unique_ptr<RegionEvaluator> comparator;
  std::vector<std::unique_ptr<RegionEvaluator>> transforms;
  std::vector<int32_t> perm, tmp;
  std::vector<AlignedBuffer> key_bytes;
  std::vector<std::vector<int64_t>> ikeys;
  std::vector<std::vector<float>> fkeys;
};

}  // namespace

Status ValidateSort(const exe::Sort& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  const size_t n = inputs.size();
  if (n == 0 || outputs.size() != n) {
    return InvalidArgument("sort takes N >= 1 operands and has N outputs, got " + std::to_string(n) + " and " +
                           std::to_string(outputs.size()));
  }
  std::vector<DType> args;
  for (size_t i = 0; i < n; ++i) {
    if (inputs[i]->dims != inputs[0]->dims || outputs[i]->dims != inputs[i]->dims ||
        outputs[i]->dtype != inputs[i]->dtype) {
      return InvalidArgument("sort operand " + std::to_string(i) + " " + inputs[i]->ToString() + " and output " +
                             outputs[i]->ToString() + " do not match operand 0 " + inputs[0]->ToString());
    }
    args.push_back(inputs[i]->dtype);
    args.push_back(inputs[i]->dtype);
  }
  const int64_t rank = static_cast<int64_t>(inputs[0]->dims.size());
  if (op.dimension() < 0 || (rank > 0 && op.dimension() >= rank) || (rank == 0 && op.dimension() != 0)) {
    return InvalidArgument("sort dimension " + std::to_string(op.dimension()) + " is out of range for " +
                           inputs[0]->ToString());
  }
  if (inputs[0]->num_elements() > INT32_MAX) return InvalidArgument("sort of more than 2^31 elements");
  CHIP_RETURN_IF_ERROR(ValidateRegionProgram(op.comparator(), args, {DType::kPred}, "sort comparator"));
  const std::vector<KeyInfo> keys = DecodeKeys(op, inputs);
  for (size_t i = 0; i < keys.size(); ++i) {
    const KeyInfo& k = keys[i];
    const std::string what = "sort key " + std::to_string(i);
    if (k.operand < 0 || k.operand >= static_cast<int>(n)) {
      return InvalidArgument(what + " names operand " + std::to_string(k.operand) + " of " + std::to_string(n));
    }
    if (k.transform != nullptr) {
      if (k.dtype == DType::kInvalid) return InvalidArgument(what + " transform must have one result");
      CHIP_RETURN_IF_ERROR(ValidateRegionProgram(k.transform, {inputs[k.operand]->dtype}, {k.dtype}, what + " transform"));
    }
    const int c = static_cast<int>(k.compare);
    const bool float_cmp = k.compare == SortCompare::FLOAT || k.compare == SortCompare::TOTALORDER;
    if (c < 0 || c > static_cast<int>(SortCompare::UNSIGNED) || float_cmp != IsFloat(k.dtype)) {
      return InvalidArgument(what + " compares " + DTypeName(k.dtype) + " keys with compare type " + std::to_string(c));
    }
  }
  return Status::Ok();
}

Status RunSort(const exe::Sort& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const size_t n_ops = inputs.size();
  const TensorInfo& shape = *inputs[0].info;
  const int64_t total = shape.num_elements();
  if (total == 0) return Status::Ok();
  const int rank = static_cast<int>(shape.dims.size());
  const int64_t dim = rank ? op.dimension() : 0;
  const int64_t n = rank ? shape.dims[dim] : 1;
  int64_t inner = 1;
  for (int d = static_cast<int>(dim) + 1; d < rank; ++d) inner *= shape.dims[d];
  const int64_t slices = total / n;
  TensorInfos infos;
  for (const TensorRef& r : inputs) infos.push_back(r.info);
  const std::vector<KeyInfo> keys = DecodeKeys(op, infos);
  bool int_keys = !keys.empty();
  for (const KeyInfo& k : keys) int_keys = int_keys && k.compare != SortCompare::FLOAT;
  std::vector<DType> args;
  std::vector<int> esize;
  for (const TensorRef& r : inputs) {
    args.push_back(r.info->dtype);
    args.push_back(r.info->dtype);
    esize.push_back(DTypeByteSize(r.info->dtype));
  }

  auto run_slices = [&](int64_t s0, int64_t s1) {
    SortWorker w;
    w.perm.resize(n);
    w.tmp.resize(n);
    if (keys.empty()) {
      w.comparator = std::make_unique<RegionEvaluator>(*op.comparator(), args);
    } else {
      w.transforms.resize(keys.size());
      w.key_bytes.resize(keys.size());
      w.ikeys.resize(keys.size());
      w.fkeys.resize(keys.size());
      for (size_t k = 0; k < keys.size(); ++k) {
        if (keys[k].transform) {
          w.transforms[k] = std::make_unique<RegionEvaluator>(*keys[k].transform,
                                                              std::vector<DType>{inputs[keys[k].operand].info->dtype});
          w.key_bytes[k].Resize(static_cast<size_t>(n) * DTypeByteSize(keys[k].dtype));
        }
        (keys[k].compare == SortCompare::FLOAT ? static_cast<void>(w.fkeys[k].resize(n))
                                               : static_cast<void>(w.ikeys[k].resize(n)));
      }
    }
    std::vector<const void*> cargs(2 * n_ops);
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t base = (s / inner) * n * inner + (s % inner);  // element (slice, 0)
      for (int64_t i = 0; i < n; ++i) w.perm[i] = static_cast<int32_t>(i);
      if (keys.empty()) {
        auto less = [&](int32_t a, int32_t b) {
          for (size_t k = 0; k < n_ops; ++k) {
            const uint8_t* p = static_cast<const uint8_t*>(inputs[k].data);
            cargs[2 * k] = p + (base + a * inner) * esize[k];
            cargs[2 * k + 1] = p + (base + b * inner) * esize[k];
          }
          return w.comparator->Compare(cargs.data());
        };
        StableSort(w.perm.data(), w.tmp.data(), n, less);
      } else {
        for (size_t k = 0; k < keys.size(); ++k) {
          const KeyInfo& key = keys[k];
          const int oe = esize[key.operand];
          const uint8_t* src = static_cast<const uint8_t*>(inputs[key.operand].data) + base * oe;
          int64_t stride = inner;
          if (key.transform) {
            const void* a[1] = {src};
            void* r[1] = {w.key_bytes[k].data()};
            w.transforms[k]->Run(a, &stride, n, r);
            src = w.key_bytes[k].as<uint8_t>();
            stride = 1;
          }
          const int ke = DTypeByteSize(key.dtype);
          for (int64_t i = 0; i < n; ++i) {
            const uint8_t* p = src + i * stride * ke;
            switch (key.compare) {
              case SortCompare::FLOAT: w.fkeys[k][i] = num::LoadAsFloat(key.dtype, p); break;
              case SortCompare::TOTALORDER: w.ikeys[k][i] = TotalOrderKey(key.dtype, p); break;
              default: w.ikeys[k][i] = IntKey(key.dtype, p, key.compare == SortCompare::SIGNED); break;
            }
            if (key.descending && key.compare != SortCompare::FLOAT) w.ikeys[k][i] = -w.ikeys[k][i];
          }
        }
        if (int_keys) {
          // (keys..., index) is a strict total order: any sort gives the stable result.
          const size_t nk = keys.size();
          std::sort(w.perm.begin(), w.perm.end(), [&](int32_t a, int32_t b) {
            for (size_t k = 0; k < nk; ++k) {
              const int64_t x = w.ikeys[k][a], y = w.ikeys[k][b];
              if (x != y) return x < y;
            }
            return a < b;
          });
        } else {
          // lt(k0) | (eq(k0) & (lt(k1) | ...)) with IEEE float keys (NaN neither less nor equal).
          auto less = [&](int32_t a, int32_t b) {
            for (size_t k = 0; k < keys.size(); ++k) {
              if (keys[k].compare == SortCompare::FLOAT) {
                const float x = w.fkeys[k][a], y = w.fkeys[k][b];
                if (keys[k].descending ? x > y : x < y) return true;
                if (!(x == y)) return false;
              } else {
                const int64_t x = w.ikeys[k][a], y = w.ikeys[k][b];
                if (x != y) return x < y;
              }
            }
            return false;
          };
          StableSort(w.perm.data(), w.tmp.data(), n, less);
        }
      }
      for (size_t k = 0; k < n_ops; ++k) {
        const int e = esize[k];
        const uint8_t* src = static_cast<const uint8_t*>(inputs[k].data);
        uint8_t* dst = static_cast<uint8_t*>(outputs[k].data);
        for (int64_t i = 0; i < n; ++i) {
          std::memcpy(dst + (base + i * inner) * e, src + (base + static_cast<int64_t>(w.perm[i]) * inner) * e, e);
        }
      }
    }
  };
  if (total >= kParallelMinElements && slices > 1) {
    ThreadPool::Global().ParallelFor(slices, std::max<int64_t>(1, kParallelMinElements / n), run_slices);
  } else {
    run_slices(0, slices);
  }
  return Status::Ok();
}

Status ValidateTopK(const exe::TopK& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.size() != 1 || outputs.size() != 2) {
    return InvalidArgument("top_k takes 1 input and has 2 outputs (values, indices)");
  }
  const TensorInfo& in = *inputs[0];
  if (in.dims.empty()) return InvalidArgument("top_k of a 0-d operand " + in.ToString());
  Dims expect = in.dims;
  const int64_t n = in.dims.back();
  if (op.k() < 0 || op.k() > n) {
    return InvalidArgument("top_k k=" + std::to_string(op.k()) + " is out of range for " + in.ToString());
  }
  if (n > INT32_MAX) return InvalidArgument("top_k over more than 2^31 elements");
  expect.back() = op.k();
  if (outputs[0]->dtype != in.dtype || outputs[0]->dims != expect || outputs[1]->dtype != DType::kS32 ||
      outputs[1]->dims != expect) {
    return InvalidArgument("top_k of " + in.ToString() + " with k=" + std::to_string(op.k()) + " cannot write " +
                           outputs[0]->ToString() + " and " + outputs[1]->ToString());
  }
  return Status::Ok();
}

Status RunTopK(const exe::TopK& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& in = *inputs[0].info;
  const int64_t n = in.dims.back();
  const int64_t k = op.k();
  const int64_t rows = n ? in.num_elements() / n : 0;
  if (rows == 0 || k == 0) return Status::Ok();
  const DType t = in.dtype;
  const int e = DTypeByteSize(t);
  const bool largest = op.largest();
  const uint8_t* src = static_cast<const uint8_t*>(inputs[0].data);
  uint8_t* values = static_cast<uint8_t*>(outputs[0].data);
  int32_t* indices = static_cast<int32_t*>(outputs[1].data);
  // Each element packs into one uint64 whose order is the result order: the key mapped to an
  // order-preserving uint32 (complemented for smallest-first) above the complemented index (the
  // lower index wins ties).
  auto map_keys = [&](const uint8_t* row, uint32_t* key) {
    const uint32_t flip = largest ? 0u : 0xFFFFFFFFu;
    switch (t) {
      case DType::kF32: {
        const int32_t* v = reinterpret_cast<const int32_t*>(row);
        for (int64_t i = 0; i < n; ++i) {
          const int32_t s = v[i] ^ ((v[i] >> 31) & 0x7FFFFFFF);
          key[i] = (static_cast<uint32_t>(s) ^ 0x80000000u) ^ flip;
        }
        break;
      }
      case DType::kBF16: case DType::kF16: {
        const int16_t* v = reinterpret_cast<const int16_t*>(row);
        for (int64_t i = 0; i < n; ++i) {
          const int32_t s = static_cast<int16_t>(v[i] ^ ((v[i] >> 15) & 0x7FFF));
          key[i] = (static_cast<uint32_t>(s) ^ 0x80000000u) ^ flip;
        }
        break;
      }
      default:
        for (int64_t i = 0; i < n; ++i) {
          const int64_t v = IntKey(t, row + i * e, IsSignedInt(t));
          const uint32_t u = IsSignedInt(t) ? static_cast<uint32_t>(v + (int64_t{1} << 31)) : static_cast<uint32_t>(v);
          key[i] = u ^ flip;
        }
        break;
    }
  };
  auto packed = [](const uint32_t* key, int64_t i) {
    return (static_cast<uint64_t>(key[i]) << 32) | static_cast<uint64_t>(0xFFFFFFFFu - static_cast<uint32_t>(i));
  };
  auto run_rows = [&](int64_t r0, int64_t r1) {
    std::vector<uint64_t> best;
    std::vector<uint32_t> keys(static_cast<size_t>(n));
    best.reserve(static_cast<size_t>(k <= n / 8 ? k : n));
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = src + r * n * e;
      map_keys(row, keys.data());
      best.clear();
      if (k <= n / 8) {
        // A min-heap of the k best so far: most elements are rejected by one comparison.
        for (int64_t i = 0; i < n; ++i) {
          const uint64_t p = packed(keys.data(), i);
          if (static_cast<int64_t>(best.size()) < k) {
            best.push_back(p);
            std::push_heap(best.begin(), best.end(), std::greater<uint64_t>());
          } else if (p > best.front()) {
            std::pop_heap(best.begin(), best.end(), std::greater<uint64_t>());
            best.back() = p;
            std::push_heap(best.begin(), best.end(), std::greater<uint64_t>());
          }
        }
      } else {
        for (int64_t i = 0; i < n; ++i) best.push_back(packed(keys.data(), i));
        if (k < n) std::nth_element(best.begin(), best.begin() + k, best.end(), std::greater<uint64_t>());
        best.resize(static_cast<size_t>(k));
      }
      std::sort(best.begin(), best.end(), std::greater<uint64_t>());
      for (int64_t j = 0; j < k; ++j) {
        const int64_t idx = static_cast<int64_t>(0xFFFFFFFFu - static_cast<uint32_t>(best[j] & 0xFFFFFFFFu));
        std::memcpy(values + (r * k + j) * e, row + idx * e, e);
        indices[r * k + j] = static_cast<int32_t>(idx);
      }
    }
  };
  if (in.num_elements() >= kParallelMinElements && rows > 1) {
    ThreadPool::Global().ParallelFor(rows, std::max<int64_t>(1, kParallelMinElements / n), run_rows);
  } else {
    run_rows(0, rows);
  }
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
