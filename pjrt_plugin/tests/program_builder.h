// Test helpers: build chip executables in C++ (FlatBufferBuilder), make random host tensors, and
// run programs on a ChipDevice. Header-only; used by the runtime_* and kernel_* tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "pjrt_plugin/runtime/chip_device.h"
#include "pjrt_plugin/runtime/cost_model.h"
#include "pjrt_plugin/core/dtype.h"
#include "pjrt_plugin/runtime/loaded_program.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace testing {

using Dims = std::vector<int64_t>;

inline exe::DType Fb(DType t) { return static_cast<exe::DType>(t); }

inline int64_t NumElements(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

inline std::vector<int64_t> RowMajorStrides(const Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int k = static_cast<int>(dims.size()) - 2; k >= 0; --k) s[k] = s[k + 1] * dims[k + 1];
  return s;
}

// ---- host tensors ------------------------------------------------------------------------------

struct HostTensor {
  TensorInfo info;
  std::vector<uint8_t> bytes;

  HostTensor() = default;
  HostTensor(DType dtype, Dims dims) : info{dtype, std::move(dims)}, bytes(info.byte_size()) {}
  int64_t size() const { return info.num_elements(); }
  uint8_t* at(int64_t i) { return bytes.data() + i * DTypeByteSize(info.dtype); }
  const uint8_t* at(int64_t i) const { return bytes.data() + i * DTypeByteSize(info.dtype); }

  // Element i as a double (floats exact, integers exact).
  double Get(int64_t i) const {
    const uint8_t* p = at(i);
    switch (info.dtype) {
      case DType::kF32: { float f; std::memcpy(&f, p, 4); return f; }
      case DType::kBF16: { uint16_t b; std::memcpy(&b, p, 2); return BF16BitsToF32(b); }
      case DType::kF16: { uint16_t b; std::memcpy(&b, p, 2); return F16BitsToF32(b); }
      case DType::kPred: return *p != 0;
      case DType::kS8: return static_cast<int8_t>(*p);
      case DType::kU8: return *p;
      case DType::kS16: { int16_t v; std::memcpy(&v, p, 2); return v; }
      case DType::kU16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
      case DType::kS32: { int32_t v; std::memcpy(&v, p, 4); return v; }
      case DType::kU32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
      default: return 0;
    }
  }
  // Element i's integer value (integer dtypes).
  int64_t GetInt(int64_t i) const { return static_cast<int64_t>(Get(i)); }
  // Stores v (rounded to nearest even for bf16/f16; wrapped for integers).
  void Set(int64_t i, double v) {
    uint8_t* p = at(i);
    switch (info.dtype) {
      case DType::kF32: { float f = static_cast<float>(v); std::memcpy(p, &f, 4); break; }
      case DType::kBF16: { uint16_t b = F32ToBF16Bits(static_cast<float>(v)); std::memcpy(p, &b, 2); break; }
      case DType::kF16: { uint16_t b = F32ToF16Bits(static_cast<float>(v)); std::memcpy(p, &b, 2); break; }
      default: SetInt(i, static_cast<int64_t>(v)); break;
    }
  }
  void SetInt(int64_t i, int64_t v) {
    uint8_t* p = at(i);
    switch (info.dtype) {
      case DType::kPred: *p = v != 0; break;
      case DType::kS8: case DType::kU8: *p = static_cast<uint8_t>(v); break;
      case DType::kS16: case DType::kU16: { uint16_t x = static_cast<uint16_t>(v); std::memcpy(p, &x, 2); break; }
      case DType::kS32: case DType::kU32: { uint32_t x = static_cast<uint32_t>(v); std::memcpy(p, &x, 4); break; }
      default: Set(i, static_cast<double>(v)); break;
    }
  }
  // Raw bits of element i (for bit-exact comparisons).
  uint32_t Bits(int64_t i) const {
    uint32_t b = 0;
    std::memcpy(&b, at(i), DTypeByteSize(info.dtype));
    return b;
  }
};

// Random values of dtype t: floats in [lo, hi] (never all zero), integers over their full range
// (or [lo, hi] when given), pred 0/1.
inline HostTensor Random(DType t, const Dims& dims, std::mt19937& rng, double lo = -4.0, double hi = 4.0,
                         bool full_int_range = true) {
  HostTensor h(t, dims);
  for (int64_t i = 0; i < h.size(); ++i) {
    if (IsFloat(t)) {
      double v;
      do {
        v = std::uniform_real_distribution<double>(lo, hi)(rng);
      } while (v == 0.0);
      h.Set(i, v);
    } else if (t == DType::kPred) {
      h.SetInt(i, rng() & 1);
    } else if (full_int_range) {
      h.SetInt(i, static_cast<int64_t>(rng()));  // wraps to the width: uniform over all bit patterns
    } else {
      h.SetInt(i, std::uniform_int_distribution<int64_t>(static_cast<int64_t>(lo), static_cast<int64_t>(hi))(rng));
    }
  }
  return h;
}

// ---- executable builder ------------------------------------------------------------------------

struct ViewSpec {
  int input = 0;
  int64_t offset = 0;
  std::vector<int64_t> strides;
};

struct InstrSpec {
  exe::EwOp op;
  DType dtype;
  int a = 0, b = 0, c = 0;
  int64_t imm_i = 0;
  double imm_f = 0;
};

struct ElementwiseSpec {
  Dims dims;
  std::vector<ViewSpec> views;
  std::vector<InstrSpec> instrs;
  std::vector<std::pair<int, int>> results;  // (register, kernel output index)
};

struct DotSpec {
  std::vector<int64_t> lhs_batch, rhs_batch, lhs_contracting, rhs_contracting;
};

struct ReduceSpec {
  std::vector<int64_t> dims;
  exe::ReduceOp op = exe::ReduceOp::SUM;
  std::optional<ElementwiseSpec> prologue;  // input fusion (inputs: the prologue's, then init)
};

struct ConcatSpec {
  int64_t dim = 0;
};

struct CopySpec {};

// Any other kernel op (gather, scatter, sort, ...): writes its own table into the builder.
struct RawOpSpec {
  exe::KernelOp type = exe::KernelOp::NONE;
  std::function<flatbuffers::Offset<void>(flatbuffers::FlatBufferBuilder&)> write;
};

using OpSpec = std::variant<ElementwiseSpec, DotSpec, ReduceSpec, ConcatSpec, CopySpec, RawOpSpec>;

struct KernelSpec {
  std::string name;
  std::string source;
  std::vector<int> inputs, outputs;
  bool has_cost = true;
  KernelWork cost;
  OpSpec op;
  int op_type_override = -1;  // write this union type instead (malformed-executable tests)
};

inline flatbuffers::Offset<exe::Elementwise> WriteElementwise(flatbuffers::FlatBufferBuilder& b,
                                                             const ElementwiseSpec& e) {
  std::vector<flatbuffers::Offset<exe::View>> views;
  for (const ViewSpec& v : e.views) views.push_back(exe::CreateViewDirect(b, v.input, v.offset, &v.strides));
  std::vector<exe::Instr> instrs;
  for (const InstrSpec& i : e.instrs) {
    instrs.emplace_back(i.op, Fb(i.dtype), i.a, i.b, i.c, i.imm_i, i.imm_f);
  }
  std::vector<flatbuffers::Offset<exe::ElementwiseResult>> results;
  for (const auto& [reg, out] : e.results) results.push_back(exe::CreateElementwiseResult(b, reg, out));
  return exe::CreateElementwiseDirect(b, &e.dims, &views, &instrs, &results);
}

class ProgramBuilder {
 public:
  explicit ProgramBuilder(std::string name = "test_program") : name_(std::move(name)) {}

  struct ValueSpec {
    TensorInfo type;
    exe::StorageKind storage;
    int64_t index;
    std::string name;
  };
  struct ParamSpec {
    int value;
    TensorInfo type;
    int aliased_output;
  };
  struct OutputSpec {
    int value;
    TensorInfo type;
    int aliased_parameter;
  };

  // A value with an explicit storage place.
  int AddValue(DType t, Dims dims, exe::StorageKind storage, int64_t index, std::string name = "") {
    values_.push_back({TensorInfo{t, std::move(dims)}, storage, index,
                       name.empty() ? "%v" + std::to_string(values_.size()) : std::move(name)});
    return static_cast<int>(values_.size()) - 1;
  }
  // A new parameter and its value; returns the value id.
  int Param(DType t, Dims dims, int aliased_output = -1) {
    const int index = static_cast<int>(params_.size());
    const int v = AddValue(t, dims, exe::StorageKind::PARAMETER, index, "%arg" + std::to_string(index));
    params_.push_back({v, TensorInfo{t, dims}, aliased_output});
    return v;
  }
  // A new program output and its value (stored in the output); returns the value id.
  int Output(DType t, Dims dims, int aliased_parameter = -1) {
    const int index = static_cast<int>(outputs_.size());
    const int v = AddValue(t, dims, exe::StorageKind::OUTPUT, index, "%out" + std::to_string(index));
    outputs_.push_back({v, TensorInfo{t, dims}, aliased_parameter});
    return v;
  }
  // A program output whose value lives elsewhere (copied in after the kernels).
  int OutputOf(int value) {
    outputs_.push_back({value, values_[value].type, -1});
    return static_cast<int>(outputs_.size()) - 1;
  }
  // A value in the scratch arena (64-byte aligned offsets).
  int Temp(DType t, Dims dims) {
    const int64_t offset = arena_bytes_;
    TensorInfo info{t, dims};
    arena_bytes_ += (info.byte_size() + 63) / 64 * 64;
    return AddValue(t, std::move(dims), exe::StorageKind::TEMP, offset);
  }
  int Constant(const HostTensor& h) {
    constants_.push_back(h.bytes);
    return AddValue(h.info.dtype, h.info.dims, exe::StorageKind::CONSTANT, static_cast<int64_t>(constants_.size()) - 1);
  }
  // Another value sharing value `v`'s storage (a reshape).
  int Alias(int v, DType t, Dims dims) { return AddValue(t, std::move(dims), values_[v].storage, values_[v].index); }

  void AddKernel(KernelSpec k) {
    if (k.name.empty()) k.name = "kernel." + std::to_string(kernels_.size());
    kernels_.push_back(std::move(k));
  }
  void Elementwise(std::vector<int> inputs, std::vector<int> outputs, ElementwiseSpec spec, std::string name = "") {
    KernelSpec k;
    k.name = std::move(name);
    k.inputs = std::move(inputs);
    k.outputs = std::move(outputs);
    const double n = static_cast<double>(NumElements(spec.dims));
    k.cost.vector_flops = n * spec.instrs.size();
    k.cost.bytes_read = 0;
    for (int v : k.inputs) k.cost.bytes_read += static_cast<double>(values_[v].type.byte_size());
    for (int v : k.outputs) k.cost.bytes_written += static_cast<double>(values_[v].type.byte_size());
    k.op = std::move(spec);
    AddKernel(std::move(k));
  }
  void Op(OpSpec op, std::vector<int> inputs, std::vector<int> outputs, std::string name = "") {
    KernelSpec k;
    k.name = std::move(name);
    k.inputs = std::move(inputs);
    k.outputs = std::move(outputs);
    for (int v : k.inputs) k.cost.bytes_read += static_cast<double>(values_[v].type.byte_size());
    for (int v : k.outputs) k.cost.bytes_written += static_cast<double>(values_[v].type.byte_size());
    k.op = std::move(op);
    AddKernel(std::move(k));
  }

  std::vector<ValueSpec>& values() { return values_; }
  std::vector<ParamSpec>& params() { return params_; }
  std::vector<OutputSpec>& outputs() { return outputs_; }
  std::vector<KernelSpec>& kernels() { return kernels_; }
  std::vector<std::vector<uint8_t>>& constants() { return constants_; }
  int64_t& arena_bytes() { return arena_bytes_; }
  uint32_t& format_version() { return format_version_; }

  std::string Finish() const {
    flatbuffers::FlatBufferBuilder b;
    auto type = [&](const TensorInfo& t) { return exe::CreateTensorTypeDirect(b, Fb(t.dtype), &t.dims); };
    std::vector<flatbuffers::Offset<exe::Value>> values;
    for (const ValueSpec& v : values_) {
      values.push_back(exe::CreateValueDirect(b, type(v.type), v.storage, v.index, v.name.c_str()));
    }
    std::vector<flatbuffers::Offset<exe::Constant>> constants;
    for (const auto& c : constants_) {
      // No forced alignment (the Python writer has none either): the runtime realigns.
      constants.push_back(exe::CreateConstant(b, b.CreateVector(c)));
    }
    std::vector<flatbuffers::Offset<exe::Parameter>> params;
    for (const ParamSpec& p : params_) params.push_back(exe::CreateParameter(b, p.value, type(p.type), p.aliased_output));
    std::vector<flatbuffers::Offset<exe::Output>> outputs;
    for (const OutputSpec& o : outputs_) {
      outputs.push_back(exe::CreateOutput(b, o.value, type(o.type), o.aliased_parameter));
    }
    std::vector<flatbuffers::Offset<exe::Kernel>> kernels;
    for (const KernelSpec& k : kernels_) {
      flatbuffers::Offset<void> op;
      exe::KernelOp op_type = exe::KernelOp::NONE;
      if (const auto* e = std::get_if<ElementwiseSpec>(&k.op)) {
        op = WriteElementwise(b, *e).Union();
        op_type = exe::KernelOp::Elementwise;
      } else if (const auto* d = std::get_if<DotSpec>(&k.op)) {
        op = exe::CreateDotGeneralDirect(b, &d->lhs_batch, &d->rhs_batch, &d->lhs_contracting, &d->rhs_contracting)
                 .Union();
        op_type = exe::KernelOp::DotGeneral;
      } else if (const auto* r = std::get_if<ReduceSpec>(&k.op)) {
        flatbuffers::Offset<exe::Elementwise> prologue;
        if (r->prologue) prologue = WriteElementwise(b, *r->prologue);
        op = exe::CreateReduceDirect(b, &r->dims, r->op, prologue).Union();
        op_type = exe::KernelOp::Reduce;
      } else if (const auto* c = std::get_if<ConcatSpec>(&k.op)) {
        op = exe::CreateConcatenate(b, c->dim).Union();
        op_type = exe::KernelOp::Concatenate;
      } else if (const auto* raw = std::get_if<RawOpSpec>(&k.op)) {
        op = raw->write(b);
        op_type = raw->type;
      } else {
        op = exe::CreateCopy(b).Union();
        op_type = exe::KernelOp::Copy;
      }
      if (k.op_type_override >= 0) op_type = static_cast<exe::KernelOp>(k.op_type_override);
      flatbuffers::Offset<exe::KernelCost> cost;
      if (k.has_cost) {
        cost = exe::CreateKernelCost(b, k.cost.matrix_flops, Fb(k.cost.matrix_dtype), k.cost.vector_flops,
                                     k.cost.transcendentals, k.cost.bytes_read, k.cost.bytes_written);
      }
      kernels.push_back(exe::CreateKernelDirect(b, k.name.c_str(), k.source.c_str(), &k.inputs, &k.outputs, cost,
                                                op_type, op));
    }
    auto root = exe::CreateExecutableDirect(b, format_version_, name_.c_str(), "fingerprint-test", "test-compiler",
                                            1, 1, &values, &constants, &params, &outputs, &kernels, arena_bytes_, "");
    exe::FinishExecutableBuffer(b, root);
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  }

 private:
  std::string name_;
  uint32_t format_version_ = kExecutableFormatVersion;
  std::vector<ValueSpec> values_;
  std::vector<ParamSpec> params_;
  std::vector<OutputSpec> outputs_;
  std::vector<KernelSpec> kernels_;
  std::vector<std::vector<uint8_t>> constants_;
  int64_t arena_bytes_ = 0;
};

// The identity view of a value of `dims` over iteration space `dims`.
inline ViewSpec IdentityView(int input, const Dims& dims) { return ViewSpec{input, 0, RowMajorStrides(dims)}; }

// ---- running programs ----------------------------------------------------------------------------

struct RunResult {
  Status status;
  std::vector<HostTensor> outputs;
};

// Loads `bytes`, copies `args` to `device`, runs once and copies the outputs back.
inline RunResult RunOn(ChipDevice& device, const std::string& bytes, const std::vector<HostTensor>& args,
                       std::vector<bool> donated = {}) {
  RunResult r;
  auto program = LoadedProgram::Load(bytes);
  if (!program.ok()) {
    r.status = program.status();
    return r;
  }
  std::vector<std::shared_ptr<DeviceArray>> arrays;
  for (const HostTensor& a : args) {
    auto arr = device.CreateFromHost(a.info, a.bytes.data());
    if (!arr.ok()) {
      r.status = arr.status();
      return r;
    }
    arrays.push_back(arr.value());
  }
  std::vector<std::shared_ptr<DeviceArray>> outs;
  for (int i = 0; i < program.value()->num_outputs(); ++i) {
    outs.push_back(std::make_shared<DeviceArray>(device.id(), program.value()->output(i), AsyncEvent::Create()));
  }
  auto done = device.EnqueueExecute(program.value(), arrays, std::move(donated), outs);
  r.status = done->Await();
  if (!r.status.ok()) return r;
  for (const auto& o : outs) {
    Status s = o->ready->Await();
    if (!s.ok()) {
      r.status = s;
      return r;
    }
    HostTensor h(o->info.dtype, o->info.dims);
    if (!h.bytes.empty()) std::memcpy(h.bytes.data(), o->allocation->data(), h.bytes.size());
    r.outputs.push_back(std::move(h));
  }
  return r;
}

// A device shared by the tests of one binary (default chip config).
inline ChipDevice& TestDevice() {
  static ChipDevice* device = new ChipDevice(0, ChipConfig());
  return *device;
}

inline RunResult Run(const std::string& bytes, const std::vector<HostTensor>& args) {
  return RunOn(TestDevice(), bytes, args);
}

}  // namespace testing
}  // namespace chip
