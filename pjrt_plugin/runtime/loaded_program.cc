#include "pjrt_plugin/runtime/loaded_program.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <new>

#include "pjrt_plugin/kernels/concatenate.h"
#include "pjrt_plugin/kernels/convolution.h"
#include "pjrt_plugin/kernels/copy.h"
#include "pjrt_plugin/kernels/custom_call.h"
#include "pjrt_plugin/kernels/dot_general.h"
#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/kernels/indexing.h"
#include "pjrt_plugin/kernels/reduce.h"
#include "pjrt_plugin/runtime/control_flow.h"
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
  if (dt < static_cast<int>(DType::kPred) || dt > static_cast<int>(DType::kF32)) {
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

}  // namespace

int64_t TensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t TensorInfo::byte_size() const { return num_elements() * DTypeByteSize(dtype); }

std::string TensorInfo::ToString() const {
  std::string s = DTypeName(dtype);
  s += "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

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

  // Kernels (control-flow kernels' regions recursively, with `where` naming the enclosing ones).
  using KernelList = flatbuffers::Vector<flatbuffers::Offset<exe::Kernel>>;
  std::function<Status(const KernelList*, const std::string&)> validate_kernels;
  RegionChecker region_checker;
  region_checker.value = [&](int v) -> const TensorInfo* {
    return v >= 0 && v < num_values ? &p->values_[v] : nullptr;
  };
  region_checker.validate_kernels = [&](const exe::Region& region, const std::string& what) {
    return validate_kernels(region.kernels(), what + ", ");
  };
  validate_kernels = [&](const KernelList* kernel_list, const std::string& where) -> Status {
    const int num_kernels = kernel_list ? static_cast<int>(kernel_list->size()) : 0;
    for (int k = 0; k < num_kernels; ++k) {
      const exe::Kernel* kernel = kernel_list->Get(k);
      const std::string what = where + "kernel " + std::to_string(k) + " " + Quote(kernel->name());
      kernels::TensorInfos ins, outs;
      for (int side = 0; side < 2; ++side) {
        const flatbuffers::Vector<int32_t>* ids = side == 0 ? kernel->inputs() : kernel->outputs();
        if (ids == nullptr) continue;
        for (flatbuffers::uoffset_t i = 0; i < ids->size(); ++i) {
          const int v = ids->Get(i);
          const std::string which = std::string(side == 0 ? "input " : "output ") + std::to_string(i);
          if (v < 0 || v >= num_values) {
            return error(what + " " + which + " is value " + std::to_string(v) + " of " + std::to_string(num_values));
          }
          if (side == 1) {
            const exe::StorageKind kind = fb->values()->Get(v)->storage();
            if (kind == exe::StorageKind::PARAMETER || kind == exe::StorageKind::CONSTANT) {
              return error(what + " " + which + " writes value " + std::to_string(v) + ", which is read-only " +
                           StorageName(kind) + " storage");
            }
          }
          (side == 0 ? ins : outs).push_back(&p->values_[v]);
        }
      }
      if (const exe::KernelCost* cost = kernel->cost()) {
        if (!FiniteNonNegative(cost->matrix_flops()) || !FiniteNonNegative(cost->vector_flops()) ||
            !FiniteNonNegative(cost->transcendentals()) || !FiniteNonNegative(cost->bytes_read()) ||
            !FiniteNonNegative(cost->bytes_written()) || !FiniteNonNegative(cost->sram_bytes_read()) ||
            !FiniteNonNegative(cost->sram_bytes_written())) {
          return error(what + " has a negative or non-finite cost");
        }
        const int mdt = static_cast<int>(cost->matrix_dtype());
        if (mdt < 0 || mdt > static_cast<int>(DType::kF32)) {
          return error(what + " has invalid matrix_dtype " + std::to_string(mdt));
        }
        p->total_flops_ += cost->matrix_flops() + cost->vector_flops();
        p->total_transcendentals_ += cost->transcendentals();
        p->total_bytes_ += cost->bytes_read() + cost->bytes_written() + cost->sram_bytes_read() +
                           cost->sram_bytes_written();
      }
      const int op_type = static_cast<int>(kernel->op_type());
      if (kernel->op() == nullptr && op_type != static_cast<int>(exe::KernelOp::NONE)) {
        return error(what + " has no op table");
      }
      Status s;
      switch (kernel->op_type()) {
        case exe::KernelOp::Elementwise:
          s = kernels::ValidateElementwise(*kernel->op_as_Elementwise(), ins, outs);
          break;
        case exe::KernelOp::DotGeneral:
          s = kernels::ValidateDotGeneral(*kernel->op_as_DotGeneral(), ins, outs);
          break;
        case exe::KernelOp::Reduce:
          s = kernels::ValidateReduce(*kernel->op_as_Reduce(), ins, outs);
          break;
        case exe::KernelOp::Concatenate:
          s = kernels::ValidateConcatenate(*kernel->op_as_Concatenate(), ins, outs);
          break;
        case exe::KernelOp::Copy:
          s = kernels::ValidateCopy(*kernel->op_as_Copy(), ins, outs);
          break;
        case exe::KernelOp::While:
          s = ValidateWhile(*kernel->op_as_While(), ins, outs, region_checker);
          if (!s.ok() && s.message().rfind(prefix, 0) == 0) return s;   // a nested kernel's error
          break;
        case exe::KernelOp::Case:
          s = ValidateCase(*kernel->op_as_Case(), ins, outs, region_checker);
          if (!s.ok() && s.message().rfind(prefix, 0) == 0) return s;
          break;
        case exe::KernelOp::CustomCall:
          s = kernels::ValidateCustomCall(*kernel->op_as_CustomCall(), ins, outs);
          if (!s.ok()) return Status(s.code(), prefix + what + ": " + s.message());  // keeps UNIMPLEMENTED
          break;
        case exe::KernelOp::Convolution:
          s = kernels::ValidateConvolution(*kernel->op_as_Convolution(), ins, outs);
          break;
        case exe::KernelOp::NONE:
          return error(what + " has no op");
        default:
          if (kernels::IsIndexingKernel(kernel->op_type())) {
            s = kernels::ValidateIndexingKernel(*kernel, ins, outs);
            break;
          }
          return error(what + " uses kernel op " + std::to_string(static_cast<int>(kernel->op_type())) +
                       ", which this runtime does not implement");
      }
      if (!s.ok()) return error(what + ": " + s.message());
    }
    return Status::Ok();
  };
  CHIP_RETURN_IF_ERROR(validate_kernels(fb->kernels(), ""));
  return std::shared_ptr<const LoadedProgram>(std::move(p));
}

}  // namespace chip
