// A chip executable loaded and verified for the runtime: the serialized bytes (read zero-copy
// through the FlatBuffers accessors) plus decoded parameter/output signatures.
// Load() rejects, with INVALID_ARGUMENT and a message saying what is wrong, anything malformed:
// bad FlatBuffer, wrong file identifier, other format_version, value/kernel indices out of range,
// TEMP storage outside the arena, CONSTANT data of the wrong size, a kernel op or EwOp this
// runtime does not implement (named), shapes inconsistent with the op.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pjrt_plugin/core/tensor_info.h"
#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/kernels/kernel.h"

namespace chip {
namespace exe { struct Executable; }

constexpr uint32_t kExecutableFormatVersion = 1;

class LoadedProgram {
 public:
  static StatusOr<std::shared_ptr<const LoadedProgram>> Load(std::string bytes);

  const std::string& bytes() const { return bytes_; }
  const exe::Executable& fb() const { return *fb_; }
  const std::string& name() const { return name_; }
  const std::string& fingerprint() const { return fingerprint_; }
  int num_parameters() const { return static_cast<int>(parameters_.size()); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  const TensorInfo& parameter(int i) const { return parameters_[i]; }
  const TensorInfo& output(int i) const { return outputs_[i]; }
  int parameter_aliased_output(int i) const { return param_alias_[i]; }
  int output_aliased_parameter(int i) const { return output_alias_[i]; }
  int64_t arena_bytes() const { return arena_bytes_; }
  int num_kernels() const;
  // The top-level kernels, checked and prepared by their kinds at load time (control-flow
  // kernels hold their regions' prepared kernels).
  const kernels::PreparedKernels& kernels() const { return kernels_; }
  // Every value's type (value ids index this), decoded once at load time.
  int num_values() const { return static_cast<int>(values_.size()); }
  const TensorInfo& value(int i) const { return values_[i]; }
  // Constant i's bytes, 64-byte aligned (copied at load time when the buffer's copy is not).
  const uint8_t* constant_data(int i) const { return constant_ptrs_[i]; }
  // Sum of the kernels' static work (for PJRT_Executable_GetCostAnalysis).
  double total_flops() const { return total_flops_; }
  double total_transcendentals() const { return total_transcendentals_; }
  double total_bytes_accessed() const { return total_bytes_; }

 private:
  LoadedProgram() = default;
  static StatusOr<std::shared_ptr<const LoadedProgram>> LoadImpl(std::string bytes);
  std::string bytes_;
  const exe::Executable* fb_ = nullptr;
  std::string name_, fingerprint_;
  std::vector<TensorInfo> parameters_, outputs_, values_;
  std::vector<int> param_alias_, output_alias_;
  int64_t arena_bytes_ = 0;
  double total_flops_ = 0, total_transcendentals_ = 0, total_bytes_ = 0;
  std::vector<const uint8_t*> constant_ptrs_;
  kernels::PreparedKernels kernels_;
  struct FreeDeleter { void operator()(void* p) const; };
  std::vector<std::unique_ptr<uint8_t, FreeDeleter>> constant_copies_;
};

}  // namespace chip
