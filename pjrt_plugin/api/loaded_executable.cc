#include "pjrt_plugin/api/loaded_executable.h"

#include <algorithm>
#include <map>
#include <set>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/buffer.h"
#include "pjrt_plugin/api/client.h"
#include "pjrt_plugin/api/compile_options.h"
#include "pjrt_plugin/api/device.h"
#include "pjrt_plugin/api/event.h"
#include "pjrt_plugin/api/executable.h"
#include "pjrt_plugin/api/memory.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

PJRT_LoadedExecutable::PJRT_LoadedExecutable(PJRT_Client* client,
                                             std::shared_ptr<const chip::LoadedProgram> program,
                                             std::vector<PJRT_Device*> devices, bool bound)
    : client(client),
      devices(std::move(devices)),
      bound(bound),
      name(program->name()),
      fingerprint(chip::api::ProgramFingerprint(*program)),
      program_(std::move(program)) {}

chip::StatusOr<std::shared_ptr<const chip::LoadedProgram>> PJRT_LoadedExecutable::program(
    const char* function) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (program_ == nullptr) {
    return chip::FailedPrecondition(std::string(function) + ": executable '" + name +
                                    "' was deleted (PJRT_LoadedExecutable_Delete)");
  }
  return program_;
}

void PJRT_LoadedExecutable::Delete() {
  std::shared_ptr<const chip::LoadedProgram> dropped;  // runs in flight keep their own reference
  std::lock_guard<std::mutex> lock(mu_);
  dropped = std::move(program_);
}

bool PJRT_LoadedExecutable::is_deleted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return program_ == nullptr;
}

namespace chip::api {

StatusOr<PJRT_LoadedExecutable*> NewLoadedExecutable(PJRT_Client* client,
                                                     std::shared_ptr<const LoadedProgram> program,
                                                     std::string_view compile_options, const char* function) {
  CompileDeviceOptions options;
  if (compile_options.empty()) {
    options.num_replicas = std::max<int64_t>(1, program->fb().num_replicas());
    options.num_partitions = std::max<int64_t>(1, program->fb().num_partitions());
  } else {
    StatusOr<CompileDeviceOptions> parsed = ParseCompileDeviceOptions(compile_options);
    if (!parsed.ok()) return Status(parsed.status().code(), std::string(function) + ": " + parsed.status().message());
    options = std::move(parsed).value();
  }
  StatusOr<std::vector<int>> ids = ResolveExecutionDevices(options, client->num_devices());
  if (!ids.ok()) return Status(ids.status().code(), std::string(function) + ": " + ids.status().message());
  std::vector<PJRT_Device*> devices;
  for (int id : ids.value()) devices.push_back(client->device(id));
  return new PJRT_LoadedExecutable(client, std::move(program), std::move(devices), !compile_options.empty());
}

PJRT_Error* LoadedExecutableDestroy(PJRT_LoadedExecutable_Destroy_Args* args) {
  return RunApi("PJRT_LoadedExecutable_Destroy", args, CHIP_MIN_ARGS_SIZE(PJRT_LoadedExecutable_Destroy_Args, executable),
                [&]() -> Status {
                  std::unique_ptr<PJRT_LoadedExecutable> owned(args->executable);
                  return Status::Ok();
                });
}

PJRT_Error* LoadedExecutableGetExecutable(PJRT_LoadedExecutable_GetExecutable_Args* args) {
  static constexpr const char* kFn = "PJRT_LoadedExecutable_GetExecutable";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_LoadedExecutable_GetExecutable_Args, loaded_executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->loaded_executable, "loaded_executable");
    CHIP_ASSIGN_OR_RETURN(std::shared_ptr<const LoadedProgram> program, args->loaded_executable->program(kFn));
    args->executable = new PJRT_Executable(std::move(program));
    return Status::Ok();
  });
}

PJRT_Error* LoadedExecutableAddressableDevices(PJRT_LoadedExecutable_AddressableDevices_Args* args) {
  static constexpr const char* kFn = "PJRT_LoadedExecutable_AddressableDevices";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_LoadedExecutable_AddressableDevices_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->addressable_devices = args->executable->devices.data();
    args->num_addressable_devices = args->executable->devices.size();
    return Status::Ok();
  });
}

PJRT_Error* LoadedExecutableDelete(PJRT_LoadedExecutable_Delete_Args* args) {
  static constexpr const char* kFn = "PJRT_LoadedExecutable_Delete";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_LoadedExecutable_Delete_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->executable->Delete();
    return Status::Ok();
  });
}

PJRT_Error* LoadedExecutableIsDeleted(PJRT_LoadedExecutable_IsDeleted_Args* args) {
  static constexpr const char* kFn = "PJRT_LoadedExecutable_IsDeleted";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_LoadedExecutable_IsDeleted_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->is_deleted = args->executable->is_deleted();
    return Status::Ok();
  });
}

PJRT_Error* LoadedExecutableFingerprint(PJRT_LoadedExecutable_Fingerprint_Args* args) {
  static constexpr const char* kFn = "PJRT_LoadedExecutable_Fingerprint";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_LoadedExecutable_Fingerprint_Args, executable), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    args->executable_fingerprint = args->executable->fingerprint.c_str();
    args->executable_fingerprint_size = args->executable->fingerprint.size();
    return Status::Ok();
  });
}

namespace {

// Everything Execute needs, checked before any work is enqueued.
struct RunPlan {
  PJRT_Device* device = nullptr;
  std::vector<PJRT_Buffer*> arguments;
  std::vector<std::shared_ptr<DeviceArray>> arrays;
  std::vector<bool> donate;
};

Status CheckArgument(const char* fn, const LoadedProgram& program, size_t d, size_t i, PJRT_Buffer* buffer,
                     PJRT_Device* device) {
  const std::string which = "argument " + std::to_string(i) + " of '" + program.name() + "'" +
                            (d > 0 ? " (device list " + std::to_string(d) + ")" : "");
  if (buffer == nullptr) return InvalidArgument(std::string(fn) + ": " + which + " is null");
  const TensorInfo& expected = program.parameter(static_cast<int>(i));
  if (buffer->info.dtype != expected.dtype || buffer->info.dims != expected.dims) {
    return InvalidArgument(std::string(fn) + ": " + which + ": expected " + expected.ToString() + ", got " +
                           buffer->info.ToString());
  }
  if (buffer->memory->space != MemorySpace::kDevice) {
    return InvalidArgument(std::string(fn) + ": " + which + " (" + buffer->Describe() + ") is in " +
                           buffer->memory->kind + " memory; chip programs read device memory only: copy it "
                           "there first (jax.device_put(x, memory_kind='device'))");
  }
  if (buffer->device != device) {
    return InvalidArgument(std::string(fn) + ": " + which + " is on chip:" + std::to_string(buffer->device->id()) +
                           " but this run is on chip:" + std::to_string(device->id()) +
                           "; copy it there first (jax.device_put)");
  }
  return Status::Ok();
}

}  // namespace

PJRT_Error* LoadedExecutableExecute(PJRT_LoadedExecutable_Execute_Args* args) {
  static constexpr const char* kFn = "PJRT_LoadedExecutable_Execute";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_LoadedExecutable_Execute_Args, execute_device), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->executable, "executable");
    PJRT_LoadedExecutable* exe = args->executable;
    CHIP_ASSIGN_OR_RETURN(std::shared_ptr<const LoadedProgram> program, exe->program(kFn));

    // Which devices run.
    std::vector<PJRT_Device*> run_devices;
    if (args->execute_device != nullptr) {
      if (args->num_devices != 1) {
        return InvalidArgument(std::string(kFn) + ": execute_device is set, so num_devices must be 1, not " +
                               std::to_string(args->num_devices));
      }
      if (!exe->client->Owns(args->execute_device)) {
        return InvalidArgument(std::string(kFn) + ": execute_device belongs to a different client");
      }
      run_devices = {args->execute_device};
    } else {
      if (args->num_devices != exe->devices.size()) {
        return InvalidArgument(std::string(kFn) + ": '" + exe->name + "' runs on " +
                               std::to_string(exe->devices.size()) + " device(s) but " +
                               std::to_string(args->num_devices) + " argument list(s) were given");
      }
      run_devices = exe->devices;
      // Deserialized without compile options (e.g. from JAX's compilation cache through a PJRT 0.70
      // caller): the program is not bound to a chip, so a single-device run goes where its
      // arguments are.
      if (!exe->bound && run_devices.size() == 1 && args->num_args > 0 && args->argument_lists != nullptr &&
          args->argument_lists[0] != nullptr && args->argument_lists[0][0] != nullptr &&
          exe->client->Owns(args->argument_lists[0][0]->device)) {
        run_devices[0] = args->argument_lists[0][0]->device;
      }
    }
    if (args->num_args != static_cast<size_t>(program->num_parameters())) {
      return InvalidArgument(std::string(kFn) + ": '" + exe->name + "' takes " +
                             std::to_string(program->num_parameters()) + " argument(s), got " +
                             std::to_string(args->num_args));
    }
    if (run_devices.size() > 0 && args->num_args > 0 && args->argument_lists == nullptr) {
      return InvalidArgument(std::string(kFn) + ": argument_lists is null");
    }
    if (run_devices.size() > 0 && program->num_outputs() > 0 && args->output_lists == nullptr) {
      return InvalidArgument(std::string(kFn) + ": output_lists is null");
    }

    // Arguments the caller forbids donating.
    std::set<int64_t> non_donatable;
    if (const PJRT_ExecuteOptions* o = args->options) {
      CHIP_RETURN_IF_ERROR(CheckStructSize(kFn, "options", o->struct_size,
                                           PJRT_STRUCT_SIZE(PJRT_ExecuteOptions, num_non_donatable_input_indices)));
      if (o->num_non_donatable_input_indices > 0 && o->non_donatable_input_indices != nullptr) {
        non_donatable.insert(o->non_donatable_input_indices,
                             o->non_donatable_input_indices + o->num_non_donatable_input_indices);
      }
    }

    // Check every argument of every run before enqueuing anything.
    std::map<PJRT_Buffer*, int> uses;
    std::vector<RunPlan> plans(run_devices.size());
    for (size_t d = 0; d < run_devices.size(); ++d) {
      RunPlan& plan = plans[d];
      plan.device = run_devices[d];
      PJRT_Buffer* const* list = args->num_args > 0 ? args->argument_lists[d] : nullptr;
      if (args->num_args > 0 && list == nullptr) {
        return InvalidArgument(std::string(kFn) + ": argument list " + std::to_string(d) + " is null");
      }
      if (program->num_outputs() > 0 && args->output_lists[d] == nullptr) {
        return InvalidArgument(std::string(kFn) + ": output list " + std::to_string(d) + " is null");
      }
      for (size_t i = 0; i < args->num_args; ++i) {
        CHIP_RETURN_IF_ERROR(CheckArgument(kFn, *program, d, i, list[i], plan.device));
        std::string what = std::string(kFn) + ": argument " + std::to_string(i);
        CHIP_ASSIGN_OR_RETURN(std::shared_ptr<DeviceArray> array, list[i]->array(what.c_str()));
        plan.arguments.push_back(list[i]);
        plan.arrays.push_back(std::move(array));
        ++uses[list[i]];
      }
    }
    // Donate an argument only if the program aliases it, the caller allows it, and nothing else
    // (another argument slot, an external framework) still needs its memory.
    for (RunPlan& plan : plans) {
      plan.donate.resize(plan.arguments.size(), false);
      for (size_t i = 0; i < plan.arguments.size(); ++i) {
        plan.donate[i] = program->parameter_aliased_output(static_cast<int>(i)) >= 0 &&
                         non_donatable.count(static_cast<int64_t>(i)) == 0 && uses[plan.arguments[i]] == 1 &&
                         !plan.arguments[i]->has_external_references();
      }
    }

    // Enqueue.
    for (size_t d = 0; d < plans.size(); ++d) {
      RunPlan& plan = plans[d];
      for (size_t i = 0; i < plan.arguments.size(); ++i) {
        if (plan.donate[i]) plan.arguments[i]->Donate();  // the buffer is now deleted (donated)
      }
      std::vector<std::shared_ptr<DeviceArray>> outputs;
      for (int j = 0; j < program->num_outputs(); ++j) {
        outputs.push_back(std::make_shared<DeviceArray>(plan.device->id(), program->output(j), AsyncEvent::Create()));
      }
      std::shared_ptr<AsyncEvent> done =
          plan.device->chip().EnqueueExecute(program, std::move(plan.arrays), plan.donate, outputs);
      for (int j = 0; j < program->num_outputs(); ++j) {
        args->output_lists[d][j] = new PJRT_Buffer(plan.device, outputs[j]);
      }
      if (args->device_complete_events != nullptr) args->device_complete_events[d] = NewEvent(std::move(done));
    }
    return Status::Ok();
  });
}

PJRT_Error* ExecutableDeserializeAndLoad(PJRT_Executable_DeserializeAndLoad_Args* args) {
  static constexpr const char* kFn = "PJRT_Executable_DeserializeAndLoad";
  // overridden_serialized_compile_options* arrived in PJRT 0.71: read only if the caller's struct
  // has them.
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Executable_DeserializeAndLoad_Args, serialized_executable_size),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    if (args->serialized_executable == nullptr && args->serialized_executable_size > 0) {
      return InvalidArgument(std::string(kFn) + ": serialized_executable is null");
    }
    std::string bytes(args->serialized_executable == nullptr ? "" : args->serialized_executable,
                      args->serialized_executable_size);
    StatusOr<std::shared_ptr<const LoadedProgram>> program = LoadedProgram::Load(std::move(bytes));
    if (!program.ok()) {
      return Status(program.status().code(), std::string(kFn) + ": the bytes (" +
                                                 std::to_string(args->serialized_executable_size) +
                                                 ") are not a loadable chip executable: " +
                                                 program.status().message());
    }
    std::string_view options;
    if (CHIP_HAS_FIELD(args, PJRT_Executable_DeserializeAndLoad_Args, overridden_serialized_compile_options_size) &&
        args->overridden_serialized_compile_options != nullptr) {
      options = std::string_view(args->overridden_serialized_compile_options,
                                 args->overridden_serialized_compile_options_size);
    }
    CHIP_ASSIGN_OR_RETURN(args->loaded_executable,
                          NewLoadedExecutable(args->client, std::move(program).value(), options, kFn));
    return Status::Ok();
  });
}

}  // namespace chip::api
