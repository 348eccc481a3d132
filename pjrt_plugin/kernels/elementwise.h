// The fused elementwise kernel: a straight-line register program (chip::exe::Elementwise)
// evaluated over every element of its iteration space, a tile of elements at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/kernel.h"
#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe {
struct Elementwise;
struct Kernel;
struct RegionProgram;
}  // namespace exe
namespace kernels {

// Checks the program against its inputs' and outputs' types: views in bounds, registers defined
// before use, operand and result dtypes valid for each op, results covering every output.
Status ValidateElementwise(const exe::Elementwise& op, const TensorInfos& inputs, const TensorInfos& outputs);

// A program validated and decoded once (register dtypes, live and invariant registers, the
// collapsed iteration space, view strides), run on storage bound per call: the Elementwise kernel
// and a Reduce kernel's fused prologue. Outputs may alias inputs (in-place updates are staged when
// needed). Run keeps no state in the object (several devices may run one program at once).
class ElementwiseProgram {
 public:
  static StatusOr<std::unique_ptr<const ElementwiseProgram>> Prepare(const exe::Elementwise& op,
                                                                     const TensorInfos& inputs,
                                                                     const TensorInfos& outputs);
  ~ElementwiseProgram();
  Status Run(const TensorRefs& inputs, const TensorRefs& outputs) const;

 private:
  struct Impl;
  explicit ElementwiseProgram(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

// The instruction table (elementwise_ops.h) as JSON: a list of {"name", "value" (the EwOp),
// "arity" ("view", "none", "dim", "unary", "binary", "ternary"), "operands", "transcendental"},
// in EwOp order. Exported to Python by chip_elementwise_ops_json (api/chip_extension.h).
const std::string& ElementwiseOpsJson();

// The Elementwise kind (kernel_registry.cc): validates the program and decodes it once (register
// dtypes, live and invariant registers, the collapsed iteration space, view strides).
StatusOr<PreparedOpPtr> PrepareElementwise(const exe::Kernel& kernel, const TensorInfos& inputs,
                                           const TensorInfos& outputs, const PrepareContext& ctx);

// Element-level semantics, shared with tests: XLA's reduce-precision of an f32 value.
float ReducePrecision(float x, int exponent_bits, int mantissa_bits);

// ---- Region programs (chip::exe::RegionProgram) ---------------------------------------------------
// The update computation of a scatter, a sort comparator, a reduce body: a register program with
// Elementwise semantics whose LOAD a reads argument a. Other kernels evaluate it with this same
// evaluator over "lanes" of caller-provided arguments.

// Checks a region program: LOADs of arguments of `arg_dtypes`, no IOTA, results of
// `result_dtypes`. `what` names the region in messages (e.g. "scatter update").
Status ValidateRegionProgram(const exe::RegionProgram* program, const std::vector<DType>& arg_dtypes,
                             const std::vector<DType>& result_dtypes, const std::string& what);

class RegionEvaluator {
 public:
  // `program` must have passed ValidateRegionProgram with `arg_dtypes`; it must outlive this.
  RegionEvaluator(const exe::RegionProgram& program, const std::vector<DType>& arg_dtypes);
  ~RegionEvaluator();
  RegionEvaluator(const RegionEvaluator&) = delete;
  RegionEvaluator& operator=(const RegionEvaluator&) = delete;

  // Evaluates lanes 0..n-1: argument a of lane j is the element at args[a] + j * arg_strides[a]
  // (elements of the argument's dtype, stored as in memory; a stride may be 0), result r of lane j
  // is stored at results[r] + j. Results may overwrite arguments of the same lanes (lane j's
  // arguments are read before its results are written). Not thread-safe: one per thread.
  void Run(const void* const* args, const int64_t* arg_strides, int64_t n, void* const* results);
  // One lane, one PRED result (a comparator): arguments are single elements.
  bool Compare(const void* const* args);

  int num_args() const;
  int num_results() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kernels
}  // namespace chip
