// PJRT_Client_Compile and PJRT_Compile: StableHLO in, a chip executable out, through the Python
// compiler (compiler_bridge.h).
#include <string>
#include <string_view>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/client.h"
#include "pjrt_plugin/api/compile.h"
#include "pjrt_plugin/api/compile_options.h"
#include "pjrt_plugin/api/compiler_bridge.h"
#include "pjrt_plugin/api/executable.h"
#include "pjrt_plugin/api/loaded_executable.h"
#include "pjrt_plugin/api/topology.h"

namespace chip::api {
namespace {

struct ProgramView {
  std::string_view code;
  std::string_view format;
};

StatusOr<ProgramView> ReadProgram(const PJRT_Program* program, const char* function) {
  if (program == nullptr) return InvalidArgument(std::string(function) + ": program is null");
  CHIP_RETURN_IF_ERROR(CheckStructSize(function, "program", program->struct_size, PJRT_Program_STRUCT_SIZE));
  if (program->code == nullptr && program->code_size > 0) {
    return InvalidArgument(std::string(function) + ": program->code is null");
  }
  if (program->format == nullptr) return InvalidArgument(std::string(function) + ": program->format is null");
  ProgramView v{std::string_view(program->code == nullptr ? "" : program->code, program->code_size),
                std::string_view(program->format, program->format_size)};
  if (v.format == "hlo" || v.format == "hlo_with_config") {
    return Unimplemented(std::string(function) + ": program format '" + std::string(v.format) +
                         "' (an HloModuleProto) is not supported: the chip compiler takes StableHLO, "
                         "format 'mlir' (portable-artifact bytecode or text), which is what JAX sends");
  }
  if (v.format != "mlir") {
    return InvalidArgument(std::string(function) + ": unknown program format '" + std::string(v.format) +
                           "'; the chip compiler takes 'mlir' (StableHLO bytecode or text)");
  }
  if (v.code.empty()) return InvalidArgument(std::string(function) + ": the program is empty");
  return v;
}

StatusOr<std::shared_ptr<const LoadedProgram>> CompileAndLoad(const ProgramView& program,
                                                              std::string_view options, const ChipConfig& config,
                                                              const char* function) {
  CHIP_ASSIGN_OR_RETURN(std::string bytes, CompileWithPython(program.code, program.format, options, config, function));
  StatusOr<std::shared_ptr<const LoadedProgram>> loaded = LoadedProgram::Load(std::move(bytes));
  if (!loaded.ok()) {
    return Internal(std::string(function) + ": the chip compiler produced an executable the runtime rejects: " +
                    loaded.status().message());
  }
  return loaded;
}

std::string_view OptionsView(const char* data, size_t size) {
  return data == nullptr ? std::string_view() : std::string_view(data, size);
}

}  // namespace

PJRT_Error* ClientCompile(PJRT_Client_Compile_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_Compile";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_Compile_Args, compile_options_size), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    CHIP_ASSIGN_OR_RETURN(ProgramView program, ReadProgram(args->program, kFn));
    std::string_view options = OptionsView(args->compile_options, args->compile_options_size);
    // Check the device assignment before spending time in the compiler.
    StatusOr<CompileDeviceOptions> device_options = ParseCompileDeviceOptions(options);
    if (!device_options.ok()) {
      return Status(device_options.status().code(), std::string(kFn) + ": " + device_options.status().message());
    }
    StatusOr<std::vector<int>> devices = ResolveExecutionDevices(device_options.value(), args->client->num_devices());
    if (!devices.ok()) return Status(devices.status().code(), std::string(kFn) + ": " + devices.status().message());

    CHIP_ASSIGN_OR_RETURN(std::shared_ptr<const LoadedProgram> loaded,
                          CompileAndLoad(program, options, args->client->config(), kFn));
    CHIP_ASSIGN_OR_RETURN(args->executable, NewLoadedExecutable(args->client, std::move(loaded), options, kFn));
    return Status::Ok();
  });
}

PJRT_Error* Compile(PJRT_Compile_Args* args) {
  static constexpr const char* kFn = "PJRT_Compile";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Compile_Args, compile_options_size), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->topology, "topology");
    CHIP_ASSIGN_OR_RETURN(ProgramView program, ReadProgram(args->program, kFn));
    std::string_view options = OptionsView(args->compile_options, args->compile_options_size);
    CHIP_RETURN_IF_ERROR(ParseCompileDeviceOptions(options).status());
    CHIP_ASSIGN_OR_RETURN(std::shared_ptr<const LoadedProgram> loaded,
                          CompileAndLoad(program, options, args->topology->config, kFn));
    args->executable = new PJRT_Executable(std::move(loaded));
    return Status::Ok();
  });
}

}  // namespace chip::api
