#include "pjrt_plugin/api/executable.h"

#include <algorithm>
#include <cstdio>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/device_description.h"
#include "pjrt_plugin/api/dtypes.h"
#include "pjrt_plugin/api/memory.h"
#include "pjrt_plugin/api/serialized_executable.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip::api {

std::string ProgramFingerprint(const LoadedProgram& program) {
  if (!program.fingerprint().empty()) return program.fingerprint();
  const uint64_t h = Fnv1a64(program.bytes());
  char buf[32];
  std::snprintf(buf, sizeof(buf), "chipx-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {

std::vector<PJRT_Buffer_Type> OutputTypes(const LoadedProgram& p) {
  std::vector<PJRT_Buffer_Type> v;
  for (int i = 0; i < p.num_outputs(); ++i) v.push_back(ToPjrtType(p.output(i).dtype));
  return v;
}

std::vector<int64_t> OutputDims(const LoadedProgram& p) {
  std::vector<int64_t> v;
  for (int i = 0; i < p.num_outputs(); ++i) v.insert(v.end(), p.output(i).dims.begin(), p.output(i).dims.end());
  return v;
}

std::vector<size_t> OutputRanks(const LoadedProgram& p) {
  std::vector<size_t> v;
  for (int i = 0; i < p.num_outputs(); ++i) v.push_back(p.output(i).dims.size());
  return v;
}

std::vector<PJRT_NamedValue> CostProperties(const LoadedProgram& p) {
  // XLA's cost-analysis keys, so jax's compiled.cost_analysis() reads them as for other backends.
  return {NamedFloat("flops", static_cast<float>(p.total_flops())),
          NamedFloat("transcendentals", static_cast<float>(p.total_transcendentals())),
          NamedFloat("bytes accessed", static_cast<float>(p.total_bytes_accessed()))};
}

int NumReplicas(const LoadedProgram& p) { return std::max(1, static_cast<int>(p.fb().num_replicas())); }
int NumPartitions(const LoadedProgram& p) { return std::max(1, static_cast<int>(p.fb().num_partitions())); }

}  // namespace
}  // namespace chip::api

PJRT_Executable::PJRT_Executable(std::shared_ptr<const chip::LoadedProgram> p)
    : program(std::move(p)),
      fingerprint(chip::api::ProgramFingerprint(*program)),
      num_replicas(chip::api::NumReplicas(*program)),
      num_partitions(chip::api::NumPartitions(*program)),
      output_types(chip::api::OutputTypes(*program)),
      output_dims(chip::api::OutputDims(*program)),
      output_dim_sizes(chip::api::OutputRanks(*program)),
      output_memory_kinds(program->num_outputs(), chip::api::kDeviceMemoryKind),
      output_memory_kind_sizes(program->num_outputs(), std::string(chip::api::kDeviceMemoryKind).size()),
      cost_properties(chip::api::CostProperties(*program)) {}

// Backs the bytes PJRT_Executable_Serialize returns: the program's bytes, sealed
// (serialized_executable.h).
struct PJRT_SerializedExecutable {
  std::string bytes;
};

namespace chip::api {

PJRT_Error* ExecutableDestroy(PJRT_Executable_Destroy_Args* args) {
  return RunApi("PJRT_Executable_Destroy", args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_Destroy_Args, executable), [&]() -> Status {
    std::unique_ptr<PJRT_Executable> owned(args->executable);
    return Status::Ok();
  });
}

PJRT_Error* ExecutableName(PJRT_Executable_Name_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_Name";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_Name_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->executable_name = args->executable->program->name().c_str();
    args->executable_name_size = args->executable->program->name().size();
    return Status::Ok();
  });
}

PJRT_Error* ExecutableNumReplicas(PJRT_Executable_NumReplicas_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_NumReplicas";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_NumReplicas_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->num_replicas = static_cast<size_t>(args->executable->num_replicas);
    return Status::Ok();
  });
}

PJRT_Error* ExecutableNumPartitions(PJRT_Executable_NumPartitions_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_NumPartitions";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_NumPartitions_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->num_partitions = static_cast<size_t>(args->executable->num_partitions);
    return Status::Ok();
  });
}

PJRT_Error* ExecutableNumOutputs(PJRT_Executable_NumOutputs_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_NumOutputs";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_NumOutputs_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->num_outputs = static_cast<size_t>(args->executable->program->num_outputs());
    return Status::Ok();
  });
}

PJRT_Error* ExecutableSizeOfGeneratedCodeInBytes(PJRT_Executable_SizeOfGeneratedCodeInBytes_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_SizeOfGeneratedCodeInBytes";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_SizeOfGeneratedCodeInBytes_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->size_in_bytes = static_cast<int64_t>(args->executable->program->bytes().size());
    return Status::Ok();
  });
}

PJRT_Error* ExecutableGetCostAnalysis(PJRT_Executable_GetCostAnalysis_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_GetCostAnalysis";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_GetCostAnalysis_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->properties = args->executable->cost_properties.data();
    args->num_properties = args->executable->cost_properties.size();
    return Status::Ok();
  });
}

PJRT_Error* ExecutableOutputMemoryKinds(PJRT_Executable_OutputMemoryKinds_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_OutputMemoryKinds";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_OutputMemoryKinds_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->num_outputs = args->executable->output_memory_kinds.size();
    args->memory_kinds = args->executable->output_memory_kinds.data();
    args->memory_kind_sizes = args->executable->output_memory_kind_sizes.data();
    return Status::Ok();
  });
}

PJRT_Error* ExecutableOptimizedProgram(PJRT_Executable_OptimizedProgram_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_OptimizedProgram";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_OptimizedProgram_Args, program), [&]() -> Status {
    return Unimplemented(std::string(kFn) +
                         ": a chip executable carries no HLO module (serialize it to get the chip "
                         "executable itself)");
  });
}

PJRT_Error* ExecutableSerialize(PJRT_Executable_Serialize_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_Serialize";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_Serialize_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    auto s = std::make_unique<PJRT_SerializedExecutable>();
    s->bytes = SealExecutable(args->executable->program->bytes());
    args->serialized_bytes = s->bytes.data();
    args->serialized_bytes_size = s->bytes.size();
    args->serialized_executable_deleter = [](PJRT_SerializedExecutable* e) { delete e; };
    args->serialized_executable = s.release();
    return Status::Ok();
  });
}

PJRT_Error* ExecutableOutputElementTypes(PJRT_Executable_OutputElementTypes_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_OutputElementTypes";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_OutputElementTypes_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    // The C API hands out a mutable pointer; callers only read it.
    args->output_types = const_cast<PJRT_Buffer_Type*>(args->executable->output_types.data());
    args->num_output_types = args->executable->output_types.size();
    return Status::Ok();
  });
}

PJRT_Error* ExecutableOutputDimensions(PJRT_Executable_OutputDimensions_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_OutputDimensions";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_OutputDimensions_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->num_outputs = args->executable->output_dim_sizes.size();
    args->dims = args->executable->output_dims.data();
    args->dim_sizes = args->executable->output_dim_sizes.data();
    return Status::Ok();
  });
}

PJRT_Error* ExecutableFingerprint(PJRT_Executable_Fingerprint_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_Fingerprint";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_Fingerprint_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->executable_fingerprint = args->executable->fingerprint.c_str();
    args->executable_fingerprint_size = args->executable->fingerprint.size();
    return Status::Ok();
  });
}

PJRT_Error* ExecutableGetCompiledMemoryStats(PJRT_Executable_GetCompiledMemoryStats_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_GetCompiledMemoryStats";
  // peak_memory_in_bytes arrived in PJRT 0.72: written only if the caller's struct has it.
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_GetCompiledMemoryStats_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    const LoadedProgram& p = *args->executable->program;
    int64_t arguments = 0, outputs = 0, aliased = 0;
    for (int i = 0; i < p.num_parameters(); ++i) arguments += p.parameter(i).byte_size();
    for (int i = 0; i < p.num_outputs(); ++i) {
      outputs += p.output(i).byte_size();
      if (p.output_aliased_parameter(i) >= 0) aliased += p.output(i).byte_size();
    }
    args->generated_code_size_in_bytes = static_cast<int64_t>(p.bytes().size());
    args->argument_size_in_bytes = arguments;
    args->output_size_in_bytes = outputs;
    args->alias_size_in_bytes = aliased;
    args->temp_size_in_bytes = p.arena_bytes();
    args->host_generated_code_size_in_bytes = 0;
    args->host_argument_size_in_bytes = 0;
    args->host_output_size_in_bytes = 0;
    args->host_alias_size_in_bytes = 0;
    args->host_temp_size_in_bytes = 0;
    if (CHIP_HAS_FIELD(args, PJRT_Executable_GetCompiledMemoryStats_Args, peak_memory_in_bytes)) {
      args->peak_memory_in_bytes = arguments + outputs - aliased + p.arena_bytes();
    }
    return Status::Ok();
  });
}

}  // namespace chip::api
