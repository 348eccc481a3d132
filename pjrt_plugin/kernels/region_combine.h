// acc = body(acc, x) over lanes: the combining step of scatter, multi-operand reduce and
// reduce_window. The body is a RegionKind the runtime runs natively (one operand: SET, ADD, MUL,
// MAX, MIN, AND, OR, XOR with the Elementwise numerics of the dtype; two operands (values,
// indices): ARGMAX, ARGMIN) or a region program run by the Elementwise evaluator
// (RegionEvaluator).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/core/dtype.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe {
enum class RegionKind : uint8_t;
struct RegionProgram;
}  // namespace exe
namespace kernels {

const char* RegionKindName(exe::RegionKind kind);

class Combiner {
 public:
  // Checks that `kind` can combine values of `dtypes` (natively: one dtype; PROGRAM: the program
  // takes 2N arguments (accumulators, then new values) and has N results of `dtypes`).
  static Status Validate(exe::RegionKind kind, const exe::RegionProgram* program,
                         const std::vector<DType>& dtypes, const std::string& what);

  // Validated arguments; `program` (may be null for native kinds) must outlive the combiner.
  Combiner(exe::RegionKind kind, const exe::RegionProgram* program, std::vector<DType> dtypes);
  ~Combiner();

  // For each lane j < n and operand k: acc[k][j * acc_stride] = body(acc, x)[k] where x is
  // x[k][j * x_stride] (strides in elements; x_stride may be 0). Not thread-safe.
  void Combine(void* const* acc, int64_t acc_stride, const void* const* x, int64_t x_stride, int64_t n);

  // Folds n elements x[k][i * stride] in order into the single accumulator acc[k] (one lane).
  void Fold(void* const* acc, const void* const* x, int64_t stride, int64_t n);

  // A scan along one line of n elements (stride in elements, the same for inputs and outputs):
  // out_i = body(out_prev, x_i) with out_prev = init before the first element; in reverse order
  // (from the last element) when `reverse`. Pointers address element 0 of the line.
  void ScanLine(void* const* out, const void* const* x, int64_t stride, int64_t n, const void* const* init,
                bool reverse);

  int num_operands() const { return static_cast<int>(dtypes_.size()); }
  bool native() const { return evaluator_ == nullptr; }

 private:
  exe::RegionKind kind_;
  std::vector<DType> dtypes_;
  std::unique_ptr<RegionEvaluator> evaluator_;
  std::vector<AlignedBuffer> scratch_;  // program results of strided accumulators
};

}  // namespace kernels
}  // namespace chip
