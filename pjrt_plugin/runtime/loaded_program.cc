#include "pjrt_plugin/runtime/loaded_program.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace {

constexpr int64_t kMaxBytes = int64_t{1} << 46;  // 64 TiB: anything larger is malformed
constexpr int64_t kArenaAlignment = 64;

std::string Quote(const flatbuffers::String* s) { return s ? "'" + s->str() + "'" : std::string("(unnamed)"); }

// Decodes a TensorType, rejecting invalid dtypes, negative dims and absurd sizes.
Status DecodeType(const exe::TensorType* t, const std::string& what, TensorInfo* out) {
  if (t == nullptr) return InvalidArgument(what + " has no type");
  const int dt = static_cast<int>(t->dtype());
  if (DTypeByteSize(static_cast<DType>(dt)) == 0) {  // not a DType member
    return InvalidArgument(what + " has invalid dtype " + std::to_string(dt));
  }
  out->dtype = static_cast<DType>(dt);
  out->dims.clear();
  int64_t bytes = DTypeByteSize(out->dtype);
  if (t->dims()) {
    for (int64_t d : *t->dims()) {
      out->dims.push_back(d);
      if (d < 0) return InvalidArgument(what + " has a negative dimension " + std::to_string(d));
    }
    for (int64_t d : out->dims) {
      if (d != 0 && bytes > kMaxBytes / d) {
        return InvalidArgument(what + " of type " + out->ToString() + " is too large");
      }
      bytes *= d;
    }
  }
  return Status::Ok();
}

const char* StorageName(exe::StorageKind k) {
  switch (k) {
    case exe::StorageKind::PARAMETER: return "PARAMETER";
    case exe::StorageKind::OUTPUT: return "OUTPUT";
    case exe::StorageKind::TEMP: return "TEMP";
    case exe::StorageKind::CONSTANT: return "CONSTANT";
  }
  return "?";
}

bool FiniteNonNegative(double x) { return std::isfinite(x) && x >= 0; }

KernelWork WorkOf(const exe::KernelCost* cost) {
  KernelWork w;
  if (cost == nullptr) return w;
  w.matrix_flops = cost->matrix_flops();
  w.matrix_dtype = cost->matrix_dtype() == exe::DType::INVALID ? DType::kBF16 : static_cast<DType>(cost->matrix_dtype());
  w.vector_flops = cost->vector_flops();
  w.transcendentals = cost->transcendentals();
  w.bytes_read = cost->bytes_read();
  w.bytes_written = cost->bytes_written();
  w.sram_bytes_read = cost->sram_bytes_read();
  w.sram_bytes_written = cost->sram_bytes_written();
  return w;
}

// Checks what every kernel shares (value ids, writes only to writable storage, its static cost)
// and has the kernel's kind check and prepare the rest.
class KernelLoader final : public kernels::PrepareContext {
 public:
  using KernelList = flatbuffers::Vector<flatbuffers::Offset<exe::Kernel>>;
  struct Totals {
    double flops = 0, transcendentals = 0, bytes = 0;
  };

  KernelLoader(const exe::Executable& fb, const std::vector<TensorInfo>& values, const std::string& prefix)
      : fb_(fb), values_(values), prefix_(prefix) {}

  const TensorInfo* value(int id) const override {
    return id >= 0 && id < static_cast<int>(values_.size()) ? &values_[id] : nullptr;
  }

  StatusOr<kernels::PreparedKernels> PrepareRegion(const exe::Region& region, const std::string& what) const override {
    return PrepareKernels(region.kernels(), what + ", ");
  }

  // `where` names the enclosing control-flow regions in messages.
  StatusOr<kernels::PreparedKernels> PrepareKernels(const KernelList* kernel_list, const std::string& where) const {
    kernels::PreparedKernels prepared;
    const int num_kernels = kernel_list ? static_cast<int>(kernel_list->size()) : 0;
    for (int k = 0; k < num_kernels; ++k) {
      CHIP_ASSIGN_OR_RETURN(kernels::PreparedKernel kernel, Prepare(*kernel_list->Get(k), k, where));
      prepared.push_back(std::move(kernel));
    }
    return prepared;
  }

  const Totals& totals() const { return totals_; }

 private:
  Status Error(const std::string& m) const { return InvalidArgument(prefix_ + m); }

  StatusOr<kernels::PreparedKernel> Prepare(const exe::Kernel& kernel, int k, const std::string& where) const {
    const int num_values = static_cast<int>(values_.size());
    const std::string what = where + "kernel " + std::to_string(k) + " " + Quote(kernel.name());
    kernels::PreparedKernel out;
    kernels::TensorInfos ins, outs;
    for (int side = 0; side < 2; ++side) {
      const flatbuffers::Vector<int32_t>* ids = side == 0 ? kernel.inputs() : kernel.outputs();
      if (ids == nullptr) continue;
      for (flatbuffers::uoffset_t i = 0; i < ids->size(); ++i) {
        const int v = ids->Get(i);
        const std::string which = std::string(side == 0 ? "input " : "output ") + std::to_string(i);
        if (v < 0 || v >= num_values) {
          return Error(what + " " + which + " is value " + std::to_string(v) + " of " + std::to_string(num_values));
        }
        if (side == 1) {
          const exe::StorageKind kind = fb_.values()->Get(v)->storage();
          if (kind == exe::StorageKind::PARAMETER || kind == exe::StorageKind::CONSTANT) {
            return Error(what + " " + which + " writes value " + std::to_string(v) + ", which is read-only " +
                         StorageName(kind) + " storage");
          }
        }
        (side == 0 ? ins : outs).push_back(&values_[v]);
        (side == 0 ? out.inputs : out.outputs).push_back(v);
      }
    }
    if (const exe::KernelCost* cost = kernel.cost()) {
      if (!FiniteNonNegative(cost->matrix_flops()) || !FiniteNonNegative(cost->vector_flops()) ||
          !FiniteNonNegative(cost->transcendentals()) || !FiniteNonNegative(cost->bytes_read()) ||
          !FiniteNonNegative(cost->bytes_written()) || !FiniteNonNegative(cost->sram_bytes_read()) ||
          !FiniteNonNegative(cost->sram_bytes_written())) {
        return Error(what + " has a negative or non-finite cost");
      }
      const int mdt = static_cast<int>(cost->matrix_dtype());
      if (mdt < 0 || mdt > static_cast<int>(DType::kF32)) {
        return Error(what + " has invalid matrix_dtype " + std::to_string(mdt));
      }
      totals_.flops += cost->matrix_flops() + cost->vector_flops();
      totals_.transcendentals += cost->transcendentals();
      totals_.bytes += cost->bytes_read() + cost->bytes_written() + cost->sram_bytes_read() + cost->sram_bytes_written();
    }
    out.static_work = WorkOf(kernel.cost());
    const int op_type = static_cast<int>(kernel.op_type());
    if (kernel.op() == nullptr && op_type != static_cast<int>(exe::KernelOp::NONE)) {
      return Error(what + " has no op table");
    }
    if (kernel.op_type() == exe::KernelOp::NONE) return Error(what + " has no op");
    out.kind = kernels::FindKernelKind(kernel.op_type());
    if (out.kind == nullptr) {
      return Error(what + " uses kernel op " + std::to_string(op_type) + ", which this runtime does not implement");
    }
    StatusOr<kernels::PreparedOpPtr> op = out.kind->prepare(kernel, ins, outs, *this);
    if (!op.ok()) {
      const Status& s = op.status();
      if (s.message().rfind(prefix_, 0) == 0) return s;  // a nested kernel's error names it already
      return Status(s.code(), prefix_ + what + ": " + s.message());
    }
    out.op = std::move(op).value();
    out.name = kernel.name() ? kernel.name()->str() : "kernel." + std::to_string(k);
    out.source = kernel.source() ? kernel.source()->str() : "";
    return out;
  }

  const exe::Executable& fb_;
  const std::vector<TensorInfo>& values_;
  const std::string& prefix_;
  mutable Totals totals_;
};

}  // namespace

void LoadedProgram::FreeDeleter::operator()(void* p) const { std::free(p); }

int LoadedProgram::num_kernels() const {
  return fb_ && fb_->kernels() ? static_cast<int>(fb_->kernels()->size()) : 0;
}

StatusOr<std::shared_ptr<const LoadedProgram>> LoadedProgram::Load(std::string bytes) {
  try {
    return LoadImpl(std::move(bytes));
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("host memory exhausted loading a chip executable");
  }
}

StatusOr<std::shared_ptr<const LoadedProgram>> LoadedProgram::LoadImpl(std::string bytes) {
  std::shared_ptr<LoadedProgram> p(new LoadedProgram());
  p->bytes_ = std::move(bytes);
  const std::string& b = p->bytes_;
  const uint8_t* data = reinterpret_cast<const uint8_t*>(b.data());
  if (b.size() < 8) {
    return InvalidArgument("not a chip executable: " + std::to_string(b.size()) + " bytes is too short");
  }
  if (!flatbuffers::BufferHasIdentifier(data, exe::ExecutableIdentifier())) {
    std::string id = b.substr(4, 4);
    for (char& c : id) {
      if (c < 0x20 || c > 0x7E) c = '?';
    }
    return InvalidArgument("not a chip executable: file identifier is '" + id + "', expected '" +
                           exe::ExecutableIdentifier() + "'");
  }
  if (b.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return InvalidArgument("chip executable of " + std::to_string(b.size()) + " bytes is too large");
  }
  flatbuffers::Verifier verifier(data, b.size(), /*max_depth=*/64, /*max_tables=*/10000000);
  if (!exe::VerifyExecutableBuffer(verifier)) {
    return InvalidArgument("malformed chip executable: the FlatBuffer (" + std::to_string(b.size()) +
                           " bytes) fails verification");
  }
  const exe::Executable* fb = exe::GetExecutable(data);
  p->fb_ = fb;
  if (fb->format_version() != kExecutableFormatVersion) {
    return InvalidArgument("chip executable format version " + std::to_string(fb->format_version()) +
                           " is not supported: this runtime reads format version " +
                           std::to_string(kExecutableFormatVersion));
  }
  p->name_ = fb->name() ? fb->name()->str() : "unnamed";
  p->fingerprint_ = fb->fingerprint() ? fb->fingerprint()->str() : "";
  const std::string prefix = "invalid chip executable '" + p->name_ + "': ";
  auto error = [&](const std::string& m) { return InvalidArgument(prefix + m); };

  if (fb->arena_bytes() < 0 || fb->arena_bytes() > kMaxBytes) {
    return error("arena_bytes " + std::to_string(fb->arena_bytes()) + " is out of range");
  }
  p->arena_bytes_ = fb->arena_bytes();
  if (fb->num_replicas() < 1 || fb->num_partitions() < 1) {
    return error("num_replicas and num_partitions must be >= 1");
  }

  const int num_values = fb->values() ? static_cast<int>(fb->values()->size()) : 0;
  const int num_params = fb->parameters() ? static_cast<int>(fb->parameters()->size()) : 0;
  const int num_outputs = fb->outputs() ? static_cast<int>(fb->outputs()->size()) : 0;
  const int num_constants = fb->constants() ? static_cast<int>(fb->constants()->size()) : 0;

  // Parameters and outputs: types and aliasing.
  p->parameters_.resize(num_params);
  p->param_alias_.assign(num_params, -1);
  for (int i = 0; i < num_params; ++i) {
    const exe::Parameter* param = fb->parameters()->Get(i);
    const std::string what = "parameter " + std::to_string(i);
    CHIP_RETURN_IF_ERROR(DecodeType(param->type(), prefix + what, &p->parameters_[i]));
    if (param->value() < 0 || param->value() >= num_values) {
      return error(what + " names value " + std::to_string(param->value()) + " of " + std::to_string(num_values));
    }
    const int alias = param->aliased_output();
    if (alias < -1 || alias >= num_outputs) {
      return error(what + " is aliased to output " + std::to_string(alias) + " of " + std::to_string(num_outputs));
    }
    p->param_alias_[i] = alias;
  }
  p->outputs_.resize(num_outputs);
  p->output_alias_.assign(num_outputs, -1);
  for (int i = 0; i < num_outputs; ++i) {
    const exe::Output* out = fb->outputs()->Get(i);
    const std::string what = "output " + std::to_string(i);
    CHIP_RETURN_IF_ERROR(DecodeType(out->type(), prefix + what, &p->outputs_[i]));
    if (out->value() < 0 || out->value() >= num_values) {
      return error(what + " names value " + std::to_string(out->value()) + " of " + std::to_string(num_values));
    }
    const int alias = out->aliased_parameter();
    if (alias < -1 || alias >= num_params) {
      return error(what + " is aliased to parameter " + std::to_string(alias) + " of " + std::to_string(num_params));
    }
    p->output_alias_[i] = alias;
  }
  for (int i = 0; i < num_outputs; ++i) {
    const int param = p->output_alias_[i];
    if (param < 0) continue;
    if (p->param_alias_[param] != i) {
      return error("output " + std::to_string(i) + " aliases parameter " + std::to_string(param) +
                   " but that parameter's aliased_output is " + std::to_string(p->param_alias_[param]));
    }
    if (p->parameters_[param].byte_size() != p->outputs_[i].byte_size()) {
      return error("output " + std::to_string(i) + " " + p->outputs_[i].ToString() + " aliases parameter " +
                   std::to_string(param) + " " + p->parameters_[param].ToString() + " of a different size");
    }
  }
  for (int i = 0; i < num_params; ++i) {
    const int out = p->param_alias_[i];
    if (out >= 0 && p->output_alias_[out] != i) {
      return error("parameter " + std::to_string(i) + " is aliased to output " + std::to_string(out) +
                   " but that output's aliased_parameter is " + std::to_string(p->output_alias_[out]));
    }
  }

  // Values: type and storage place.
  p->values_.resize(num_values);
  for (int v = 0; v < num_values; ++v) {
    const exe::Value* value = fb->values()->Get(v);
    const std::string what = "value " + std::to_string(v) + " " + Quote(value->name());
    TensorInfo& info = p->values_[v];
    CHIP_RETURN_IF_ERROR(DecodeType(value->type(), prefix + what, &info));
    const int64_t bytes = info.byte_size();
    const int64_t index = value->index();
    const std::string where = what + " " + info.ToString() + " (" + StorageName(value->storage()) + " " +
                              std::to_string(index) + ")";
    switch (value->storage()) {
      case exe::StorageKind::PARAMETER:
        if (index < 0 || index >= num_params) return error(where + ": no such parameter");
        if (bytes > p->parameters_[index].byte_size()) {
          return error(where + " is larger than parameter " + p->parameters_[index].ToString());
        }
        break;
      case exe::StorageKind::OUTPUT:
        if (index < 0 || index >= num_outputs) return error(where + ": no such output");
        if (bytes > p->outputs_[index].byte_size()) {
          return error(where + " is larger than output " + p->outputs_[index].ToString());
        }
        break;
      case exe::StorageKind::TEMP:
        if (index < 0 || index % kArenaAlignment != 0) {
          return error(where + ": arena offset must be non-negative and 64-byte aligned");
        }
        if (index > p->arena_bytes_ || bytes > p->arena_bytes_ - index) {
          return error(where + " ends outside the arena of " + std::to_string(p->arena_bytes_) + " bytes");
        }
        break;
      case exe::StorageKind::CONSTANT: {
        if (index < 0 || index >= num_constants) return error(where + ": no such constant");
        const auto* cdata = fb->constants()->Get(static_cast<flatbuffers::uoffset_t>(index))->data();
        const int64_t have = cdata ? static_cast<int64_t>(cdata->size()) : 0;
        if (have != bytes) {
          return error(where + " needs " + std::to_string(bytes) + " bytes of constant data, the constant has " +
                       std::to_string(have));
        }
        break;
      }
      default:
        return error(what + " has invalid storage kind " + std::to_string(static_cast<int>(value->storage())));
    }
  }
  for (int i = 0; i < num_params; ++i) {
    const exe::Value* value = fb->values()->Get(fb->parameters()->Get(i)->value());
    if (value->storage() != exe::StorageKind::PARAMETER || value->index() != i) {
      return error("parameter " + std::to_string(i) + " names value " +
                   std::to_string(fb->parameters()->Get(i)->value()) + ", which is not stored in parameter " +
                   std::to_string(i));
    }
  }
  for (int i = 0; i < num_outputs; ++i) {
    const int v = fb->outputs()->Get(i)->value();
    const exe::Value* value = fb->values()->Get(v);
    const bool in_place = value->storage() == exe::StorageKind::OUTPUT && value->index() == i;
    // An output whose value lives elsewhere (a parameter, a constant, another output) is copied
    // into the output after the kernels have run, so sizes must match.
    if (!in_place && p->values_[v].byte_size() != p->outputs_[i].byte_size()) {
      return error("output " + std::to_string(i) + " " + p->outputs_[i].ToString() + " names value " +
                   std::to_string(v) + " " + p->values_[v].ToString() + " of a different size");
    }
  }

  // Constants: kernels read them through typed pointers, so misaligned ones are copied.
  p->constant_ptrs_.assign(num_constants, nullptr);
  for (int c = 0; c < num_constants; ++c) {
    const auto* cdata = fb->constants()->Get(c)->data();
    if (cdata == nullptr || cdata->size() == 0) continue;
    const uint8_t* src = cdata->data();
    if (reinterpret_cast<uintptr_t>(src) % 64 == 0) {
      p->constant_ptrs_[c] = src;
      continue;
    }
    const size_t n = cdata->size();
    void* copy = std::aligned_alloc(64, (n + 63) / 64 * 64);
    if (copy == nullptr) return ResourceExhausted(prefix + "host memory exhausted copying constants");
    std::memcpy(copy, src, n);
    p->constant_copies_.emplace_back(static_cast<uint8_t*>(copy));
    p->constant_ptrs_[c] = static_cast<const uint8_t*>(copy);
  }

  // Kernels (control-flow kernels' regions recursively), each checked and prepared by its kind.
  KernelLoader loader(*fb, p->values_, prefix);
  CHIP_ASSIGN_OR_RETURN(p->kernels_, loader.PrepareKernels(fb->kernels(), ""));
  p->total_flops_ = loader.totals().flops;
  p->total_transcendentals_ = loader.totals().transcendentals;
  p->total_bytes_ = loader.totals().bytes;
  return std::shared_ptr<const LoadedProgram>(std::move(p));
}

}  // namespace chip
