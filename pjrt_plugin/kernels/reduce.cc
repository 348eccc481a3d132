#include "pjrt_plugin/kernels/reduce.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/kernels/thread_pool.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using exe::ReduceOp;

constexpr int64_t kBlock = 256;  // pairwise summation base block (contiguous rows)
constexpr int64_t kRowBlock = 8; // pairwise summation base block (rows of a column sum)

const char* ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::SUM: return "sum";
    case ReduceOp::PRODUCT: return "product";
    case ReduceOp::MAX: return "max";
    case ReduceOp::MIN: return "min";
    case ReduceOp::AND: return "and";
    case ReduceOp::OR: return "or";
    case ReduceOp::XOR: return "xor";
  }
  return "unknown";
}

// Converts n contiguous floating elements of dtype t to f32.
void ToF32(DType t, const uint8_t* src, int64_t n, float* dst) { num::FloatRowToF32(t, src, n, dst); }

float SumBlock(const float* x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j];
  }
  for (int j = 0; i < n; ++i, ++j) acc[j] += x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Pairwise sum of n contiguous elements of dtype t.
float PairwiseSum(DType t, const uint8_t* src, int64_t n) {
  if (n <= kBlock) {
    if (t == DType::kF32) return SumBlock(reinterpret_cast<const float*>(src), n);
    float buf[kBlock];
    ToF32(t, src, n, buf);
    return SumBlock(buf, n);
  }
  const int64_t half = ((n / 2 + kBlock - 1) / kBlock) * kBlock;
  return PairwiseSum(t, src, half) + PairwiseSum(t, src + half * DTypeByteSize(t), n - half);
}

// Sums rows [0, rows) of a [rows, K] array (columns [k0, k1) only) pairwise into out[0, k1-k0).
// scratch[level...] are (k1-k0)-wide buffers, one per recursion level.
void PairwiseColumns(DType t, const uint8_t* src, int64_t rows, int64_t K, int64_t k0, int64_t k1, float* out,
                     std::vector<std::vector<float>>& scratch, size_t level) {
  const int64_t width = k1 - k0;
  const int size = DTypeByteSize(t);
  if (scratch.size() <= level) scratch.emplace_back(width);
  float* tmp = scratch[level].data();
  if (rows <= kRowBlock) {
    ToF32(t, src + k0 * size, width, out);
    for (int64_t r = 1; r < rows; ++r) {
      ToF32(t, src + (r * K + k0) * size, width, tmp);
      for (int64_t k = 0; k < width; ++k) out[k] += tmp[k];
    }
    return;
  }
  const int64_t half = rows / 2;
  PairwiseColumns(t, src, half, K, k0, k1, out, scratch, level + 1);
  tmp = scratch[level].data();  // deeper levels may have grown `scratch`
  PairwiseColumns(t, src + half * K * size, rows - half, K, k0, k1, tmp, scratch, level + 1);
  tmp = scratch[level].data();
  for (int64_t k = 0; k < width; ++k) out[k] += tmp[k];
}

inline float CombineF(ReduceOp op, float a, float b) {
  switch (op) {
    case ReduceOp::SUM: return a + b;
    case ReduceOp::PRODUCT: return a * b;
    case ReduceOp::MAX: return (std::isnan(a) || a >= b) ? a : b;
    case ReduceOp::MIN: return (std::isnan(a) || a <= b) ? a : b;
    default: return a;
  }
}

inline int64_t CombineI(ReduceOp op, int64_t a, int64_t b) {
  switch (op) {
    case ReduceOp::SUM: return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    case ReduceOp::PRODUCT: return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    case ReduceOp::MAX: return std::max(a, b);
    case ReduceOp::MIN: return std::min(a, b);
    case ReduceOp::AND: return a & b;
    case ReduceOp::OR: return a | b;
    case ReduceOp::XOR: return a ^ b;
  }
  return a;
}

std::vector<int64_t> RowMajorStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int k = static_cast<int>(dims.size()) - 2; k >= 0; --k) s[k] = s[k + 1] * dims[k + 1];
  return s;
}

// Walks every operand element in row-major order, calling fn(operand_index, output_index, len,
// output_stride) for runs along the innermost dim (output_stride is 0 or 1... any stride).
template <typename Fn>
void WalkOperand(const std::vector<int64_t>& dims, const std::vector<int64_t>& out_strides, Fn fn) {
  const int rank = static_cast<int>(dims.size());
  for (int64_t d : dims) {
    if (d == 0) return;
  }
  if (rank == 0) {
    fn(int64_t{0}, int64_t{0}, int64_t{1}, int64_t{0});
    return;
  }
  std::vector<int64_t> idx(rank, 0);
  const int64_t inner = dims[rank - 1];
  int64_t in_off = 0;
  for (;;) {
    int64_t out_off = 0;
    for (int k = 0; k < rank - 1; ++k) out_off += idx[k] * out_strides[k];
    fn(in_off, out_off, inner, out_strides[rank - 1]);
    in_off += inner;
    int k = rank - 2;
    for (; k >= 0; --k) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

}  // namespace

static Status ValidateReduceCore(const exe::Reduce& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.size() != 2 || outputs.size() != 1) {
    return InvalidArgument("reduce takes 2 inputs (operand, init) and 1 output, got " + std::to_string(inputs.size()) +
                           " and " + std::to_string(outputs.size()));
  }
  const TensorInfo& in = *inputs[0];
  const TensorInfo& init = *inputs[1];
  const TensorInfo& out = *outputs[0];
  const int op_code = static_cast<int>(op.op());
  if (op_code < 0 || op_code > static_cast<int>(ReduceOp::XOR)) {
    return InvalidArgument("reduce op " + std::to_string(op_code) + " is not implemented by this runtime");
  }
  const std::string sig = std::string("reduce ") + ReduceOpName(op.op()) + " of " + in.ToString();
  if (!init.dims.empty()) return InvalidArgument(sig + ": init must be 0-d, got " + init.ToString());
  if (init.dtype != out.dtype) {
    return InvalidArgument(sig + ": init " + init.ToString() + " and output " + out.ToString() + " dtypes differ");
  }
  if (IsFloat(in.dtype) != IsFloat(out.dtype) || (!IsFloat(in.dtype) && in.dtype != out.dtype)) {
    return InvalidArgument(sig + ": output dtype " + DTypeName(out.dtype) + " does not match the operand's");
  }
  if (IsFloat(in.dtype) && (op.op() == ReduceOp::AND || op.op() == ReduceOp::OR || op.op() == ReduceOp::XOR)) {
    return InvalidArgument(sig + ": a bitwise reduction needs an integer or pred operand");
  }
  std::vector<bool> reduced(in.dims.size(), false);
  if (op.dims()) {
    for (int64_t d : *op.dims()) {
      if (d < 0 || d >= static_cast<int64_t>(in.dims.size()) || reduced[d]) {
        return InvalidArgument(sig + ": reduced dim " + std::to_string(d) + " is out of range or repeated");
      }
      reduced[d] = true;
    }
  }
  std::vector<int64_t> kept;
  for (size_t d = 0; d < in.dims.size(); ++d) {
    if (!reduced[d]) kept.push_back(in.dims[d]);
  }
  if (kept != out.dims) {
    return InvalidArgument(sig + ": output is " + out.ToString() + " but the kept dims give " +
                           TensorInfo{out.dtype, kept}.ToString());
  }
  return Status::Ok();
}

static Status RunReduceCore(const exe::Reduce& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& in = *inputs[0].info;
  const TensorInfo& out = *outputs[0].info;
  const int64_t out_elems = out.num_elements();
  if (out_elems == 0) return Status::Ok();
  const uint8_t* src = static_cast<const uint8_t*>(inputs[0].data);
  uint8_t* dst = static_cast<uint8_t*>(outputs[0].data);
  const int rank = static_cast<int>(in.dims.size());
  std::vector<bool> reduced(rank, false);
  if (op.dims()) for (int64_t d : *op.dims()) reduced[d] = true;
  int64_t R = 1;
  for (int d = 0; d < rank; ++d) if (reduced[d]) R *= in.dims[d];
  const int out_size = DTypeByteSize(out.dtype);
  // Output strides over the operand's dims (0 for reduced dims).
  const std::vector<int64_t> kept_strides = RowMajorStrides(out.dims);
  std::vector<int64_t> out_strides(rank, 0);
  for (int d = 0, o = 0; d < rank; ++d) {
    if (!reduced[d]) out_strides[d] = kept_strides[o++];
  }
  // Reduced dims all after kept ones: [K, R]; all before: [R, K] (size-1 dims are ignored).
  bool suffix = true, prefix = true;
  {
    bool seen_reduced = false, seen_kept = false;
    for (int d = 0; d < rank; ++d) {
      if (in.dims[d] == 1) continue;
      if (reduced[d]) {
        seen_reduced = true;
        if (seen_kept) prefix = false;
      } else {
        seen_kept = true;
        if (seen_reduced) suffix = false;
      }
    }
  }

  if (IsFloat(in.dtype)) {
    const float init = num::LoadAsFloat(out.dtype, inputs[1].data);
    std::vector<float> acc(out_elems);
    if (op.op() == ReduceOp::SUM) {
      const int in_size = DTypeByteSize(in.dtype);
      if (R == 0) {
        std::fill(acc.begin(), acc.end(), 0.0f);
      } else if (suffix) {
        ThreadPool::Global().ParallelFor(out_elems, std::max<int64_t>(1, 65536 / R), [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) acc[i] = PairwiseSum(in.dtype, src + i * R * in_size, R);
        });
      } else if (prefix) {
        ThreadPool::Global().ParallelFor(out_elems, std::max<int64_t>(256, 65536 / R), [&](int64_t b, int64_t e) {
          std::vector<std::vector<float>> scratch;
          PairwiseColumns(in.dtype, src, R, out_elems, b, e, acc.data() + b, scratch, 0);
        });
      } else {
        // Gather into [K, R] f32, then sum rows.
        AlignedBuffer packed(sizeof(float) * out_elems * R);
        float* p = packed.as<float>();
        std::vector<int64_t> pos_in_red(rank, 0);
        {
          // Position of each reduced element within the packed row.
          std::vector<int64_t> rdims;
          for (int d = 0; d < rank; ++d) if (reduced[d]) rdims.push_back(in.dims[d]);
          const std::vector<int64_t> rstr = RowMajorStrides(rdims);
          for (int d = 0, r = 0; d < rank; ++d) if (reduced[d]) pos_in_red[d] = rstr[r++];
        }
        std::vector<int64_t> idx(rank, 0);
        for (int64_t i = 0, total = in.num_elements(); i < total; ++i) {
          int64_t o = 0, r = 0;
          for (int d = 0; d < rank; ++d) {
            o += idx[d] * out_strides[d];
            r += idx[d] * pos_in_red[d];
          }
          p[o * R + r] = num::LoadAsFloat(in.dtype, src + i * in_size);
          for (int d = rank - 1; d >= 0; --d) {
            if (++idx[d] < in.dims[d]) break;
            idx[d] = 0;
          }
        }
        ThreadPool::Global().ParallelFor(out_elems, std::max<int64_t>(1, 65536 / R), [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) acc[i] = PairwiseSum(DType::kF32, reinterpret_cast<const uint8_t*>(p + i * R), R);
        });
      }
      for (int64_t i = 0; i < out_elems; ++i) num::StoreFloat(out.dtype, dst + i * out_size, init + acc[i]);
      return Status::Ok();
    }
    std::fill(acc.begin(), acc.end(), init);
    const ReduceOp rop = op.op();
    const int in_size = DTypeByteSize(in.dtype);
    std::vector<float> row(rank == 0 ? 1 : in.dims[rank - 1]);
    WalkOperand(in.dims, out_strides, [&](int64_t in_off, int64_t out_off, int64_t len, int64_t os) {
      ToF32(in.dtype, src + in_off * in_size, len, row.data());
      float* a = acc.data() + out_off;
      if (os == 0) {
        float v = a[0];
        for (int64_t j = 0; j < len; ++j) v = CombineF(rop, v, row[j]);
        a[0] = v;
      } else {
        for (int64_t j = 0; j < len; ++j) a[j * os] = CombineF(rop, a[j * os], row[j]);
      }
    });
    for (int64_t i = 0; i < out_elems; ++i) num::StoreFloat(out.dtype, dst + i * out_size, acc[i]);
    return Status::Ok();
  }

  // Integers and pred: exact (wrapping) int64 accumulation starting from init.
  const int64_t init = num::LoadAsInt(out.dtype, inputs[1].data);
  std::vector<int64_t> acc(out_elems, init);
  const ReduceOp rop = op.op();
  const int in_size = DTypeByteSize(in.dtype);
  WalkOperand(in.dims, out_strides, [&](int64_t in_off, int64_t out_off, int64_t len, int64_t os) {
    int64_t* a = acc.data() + out_off;
    const uint8_t* s = src + in_off * in_size;
    for (int64_t j = 0; j < len; ++j) {
      a[j * os] = CombineI(rop, a[j * os], num::LoadAsInt(in.dtype, s + j * in_size));
    }
  });
  for (int64_t i = 0; i < out_elems; ++i) num::StoreInt(out.dtype, dst + i * out_size, acc[i]);
  return Status::Ok();
}

// ---- input fusion: an elementwise prologue computes the reduced operand -----------------------

namespace {

// The type of the prologue's single result (the reduced operand).
StatusOr<TensorInfo> PrologueResult(const exe::Elementwise& prologue) {
  const auto* results = prologue.results();
  const auto* instrs = prologue.instrs();
  if (results == nullptr || results->size() != 1 || results->Get(0)->output() != 0 || instrs == nullptr ||
      results->Get(0)->reg() < 0 || static_cast<flatbuffers::uoffset_t>(results->Get(0)->reg()) >= instrs->size()) {
    return InvalidArgument("reduce prologue must have exactly one result, written to output 0");
  }
  TensorInfo info;
  info.dtype = static_cast<DType>(instrs->Get(static_cast<flatbuffers::uoffset_t>(results->Get(0)->reg()))->dtype());
  if (prologue.dims()) info.dims.assign(prologue.dims()->begin(), prologue.dims()->end());
  return info;
}

}  // namespace

Status ValidateReduce(const exe::Reduce& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (op.prologue() == nullptr) return ValidateReduceCore(op, inputs, outputs);
  if (inputs.empty()) return InvalidArgument("reduce with a prologue needs the prologue's inputs and init");
  StatusOr<TensorInfo> operand = PrologueResult(*op.prologue());
  if (!operand.ok()) return operand.status();
  const TensorInfos prologue_ins(inputs.begin(), inputs.end() - 1);
  Status s = ValidateElementwise(*op.prologue(), prologue_ins, {&operand.value()});
  if (!s.ok()) return InvalidArgument("reduce prologue: " + s.message());
  return ValidateReduceCore(op, {&operand.value(), inputs.back()}, outputs);
}

namespace {

// A Reduce kernel prepared at load time: a fused prologue's program decoded once.
class PreparedReduce final : public PreparedOp {
 public:
  PreparedReduce(const exe::Reduce& op, TensorInfo operand, std::unique_ptr<const ElementwiseProgram> prologue)
      : op_(op), operand_(std::move(operand)), prologue_(std::move(prologue)) {}

  Status Run(const KernelArgs& args) const override {
    if (prologue_ == nullptr) return RunReduceCore(op_, args.inputs, args.outputs);
    AlignedBuffer scratch(static_cast<size_t>(operand_.byte_size()));   // on-chip: never in HBM
    const TensorRef computed{&operand_, scratch.data()};
    const TensorRefs prologue_ins(args.inputs.begin(), args.inputs.end() - 1);
    CHIP_RETURN_IF_ERROR(prologue_->Run(prologue_ins, {computed}));
    return RunReduceCore(op_, {computed, args.inputs.back()}, args.outputs);
  }

 private:
  const exe::Reduce& op_;
  const TensorInfo operand_;   // the prologue's result: the reduced operand
  const std::unique_ptr<const ElementwiseProgram> prologue_;
};

}  // namespace

StatusOr<PreparedOpPtr> PrepareReduce(const exe::Kernel& kernel, const TensorInfos& inputs,
                                      const TensorInfos& outputs, const PrepareContext& /*ctx*/) {
  const exe::Reduce& op = *kernel.op_as_Reduce();
  CHIP_RETURN_IF_ERROR(ValidateReduce(op, inputs, outputs));
  if (op.prologue() == nullptr) return PreparedOpPtr(new PreparedReduce(op, TensorInfo{}, nullptr));
  StatusOr<TensorInfo> operand = PrologueResult(*op.prologue());
  if (!operand.ok()) return operand.status();
  const TensorInfos prologue_ins(inputs.begin(), inputs.end() - 1);
  StatusOr<std::unique_ptr<const ElementwiseProgram>> program =
      ElementwiseProgram::Prepare(*op.prologue(), prologue_ins, {&operand.value()});
  if (!program.ok()) return InvalidArgument("reduce prologue: " + program.status().message());
  return PreparedOpPtr(new PreparedReduce(op, std::move(operand).value(), std::move(program).value()));
}

}  // namespace kernels
}  // namespace chip
