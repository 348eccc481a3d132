// PJRT_Executable: a compiled chip program (chip::LoadedProgram), not bound to devices. Its
// serialization is exactly the chip executable bytes (the FlatBuffer the compiler produced).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pjrt_plugin/runtime/loaded_program.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_Executable {
  explicit PJRT_Executable(std::shared_ptr<const chip::LoadedProgram> program);
  PJRT_Executable(const PJRT_Executable&) = delete;
  PJRT_Executable& operator=(const PJRT_Executable&) = delete;

  const std::shared_ptr<const chip::LoadedProgram> program;
  const std::string fingerprint;
  const int num_replicas;
  const int num_partitions;
  // Views the C API hands out (lifetime of the executable).
  const std::vector<PJRT_Buffer_Type> output_types;
  const std::vector<int64_t> output_dims;       // concatenated
  const std::vector<size_t> output_dim_sizes;   // rank of each output
  const std::vector<const char*> output_memory_kinds;
  const std::vector<size_t> output_memory_kind_sizes;
  const std::vector<PJRT_NamedValue> cost_properties;
};

namespace chip::api {

// The program's fingerprint, or a hash of its bytes if the compiler recorded none.
std::string ProgramFingerprint(const LoadedProgram& program);

PJRT_Error* ExecutableDestroy(PJRT_Executable_Destroy_Args* args);
PJRT_Error* ExecutableName(PJRT_Executable_Name_Args* args);
PJRT_Error* ExecutableNumReplicas(PJRT_Executable_NumReplicas_Args* args);
PJRT_Error* ExecutableNumPartitions(PJRT_Executable_NumPartitions_Args* args);
PJRT_Error* ExecutableNumOutputs(PJRT_Executable_NumOutputs_Args* args);
PJRT_Error* ExecutableSizeOfGeneratedCodeInBytes(PJRT_Executable_SizeOfGeneratedCodeInBytes_Args* args);
PJRT_Error* ExecutableGetCostAnalysis(PJRT_Executable_GetCostAnalysis_Args* args);
PJRT_Error* ExecutableOutputMemoryKinds(PJRT_Executable_OutputMemoryKinds_Args* args);
PJRT_Error* ExecutableOptimizedProgram(PJRT_Executable_OptimizedProgram_Args* args);
PJRT_Error* ExecutableSerialize(PJRT_Executable_Serialize_Args* args);
PJRT_Error* ExecutableOutputElementTypes(PJRT_Executable_OutputElementTypes_Args* args);
PJRT_Error* ExecutableOutputDimensions(PJRT_Executable_OutputDimensions_Args* args);
PJRT_Error* ExecutableFingerprint(PJRT_Executable_Fingerprint_Args* args);
PJRT_Error* ExecutableGetCompiledMemoryStats(PJRT_Executable_GetCompiledMemoryStats_Args* args);

}  // namespace chip::api
