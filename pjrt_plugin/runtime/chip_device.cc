#include "pjrt_plugin/runtime/chip_device.h"

#include <cstring>
#include <exception>
#include <new>

#include "pjrt_plugin/runtime/cost_model.h"
#include "pjrt_plugin/runtime/executor.h"
#include "pjrt_plugin/runtime/fault_injection.h"
#include "pjrt_plugin/runtime/trace.h"

namespace chip {
namespace {

// Completes every output (OK, or with `status` after dropping any allocation made for it) and
// then `done`. The caller's references to the outputs are released first: whoever wakes up may
// free them and expect the memory accounting to show it at once.
void Complete(std::vector<std::shared_ptr<DeviceArray>>& outputs, const std::shared_ptr<AsyncEvent>& done,
              const Status& status) {
  std::vector<std::shared_ptr<AsyncEvent>> events;
  for (auto& out : outputs) {
    if (!out) continue;
    if (!status.ok()) out->allocation.reset();
    events.push_back(out->ready);
  }
  outputs.clear();
  for (const auto& e : events) e->SetReady(status);
  done->SetReady(status);
}

void Fail(std::vector<std::shared_ptr<DeviceArray>>& outputs, const std::shared_ptr<AsyncEvent>& done,
          const Status& status) {
  Complete(outputs, done, status);
}

}  // namespace

const char* MemorySpaceName(MemorySpace space) {
  return space == MemorySpace::kDevice ? "device" : "pinned_host";
}

ChipDevice::ChipDevice(int id, const ChipConfig& config)
    : id_(id), config_(config), allocator_(HbmAllocator::Create(id, config.hbm_bytes)),
      host_allocator_(HbmAllocator::Create(id, config.pinned_host_bytes, "pinned host memory")),
      queue_("chip:" + std::to_string(id)) {}

ChipDevice::~ChipDevice() { queue_.Drain(); }

StatusOr<std::shared_ptr<DeviceArray>> ChipDevice::CreateFromHost(const TensorInfo& info, const void* host_data,
                                                                  MemorySpace space) {
  const int64_t bytes = info.byte_size();
  if (bytes < 0 || info.dtype == DType::kInvalid) {
    return InvalidArgument("cannot create a device array of type " + info.ToString());
  }
  if (bytes > 0 && host_data == nullptr) {
    return InvalidArgument("no host data for a device array of type " + info.ToString());
  }
  const bool to_device = space == MemorySpace::kDevice;
  CHIP_ASSIGN_OR_RETURN(std::shared_ptr<DeviceAllocation> alloc,
                        allocator(space).Allocate(static_cast<size_t>(bytes),
                                                  std::string(to_device ? "host-to-device" : "pinned host") +
                                                      " buffer " + info.ToString()));
  if (bytes > 0) std::memcpy(alloc->data(), host_data, static_cast<size_t>(bytes));
  auto array = std::make_shared<DeviceArray>(id_, info, AsyncEvent::Create(), space);
  array->allocation = std::move(alloc);
  array->ready->SetReady();
  if (to_device) RecordHostToDevice(bytes, info.ToString());
  return array;
}

void ChipDevice::RecordDeviceToHost(int64_t bytes, std::string what) {
  RecordTransfer(kDeviceToHost, "host_link", std::move(what),
                 ModelHostTransferSeconds(static_cast<double>(bytes), config_),
                 static_cast<double>(bytes), 0.0);
}

void ChipDevice::RecordHostToDevice(int64_t bytes, std::string what) {
  RecordTransfer(kHostToDevice, "host_link", std::move(what),
                 ModelHostTransferSeconds(static_cast<double>(bytes), config_), 0.0,
                 static_cast<double>(bytes));
}

void ChipDevice::RecordTransfer(const char* name, const char* bound, std::string what,
                                double seconds, double bytes_read, double bytes_written) {
  const int64_t host_start_ns = HostWallClockNs();
  double start;
  {
    std::lock_guard<std::mutex> lock(clock_mu_);
    start = clock_s_;
    clock_s_ += seconds;
  }
  if (!TraceRecorder::Global().enabled()) return;
  TraceEvent e;
  e.host_start_ns = host_start_ns;
  e.kind = TraceEvent::Kind::kTransfer;
  e.device_id = id_;
  e.name = name;
  e.category = "transfer";
  e.program = std::move(what);
  e.start_s = start;
  e.time.total_s = seconds;
  e.time.memory_s = seconds;
  e.time.launch_s = 0;
  e.time.bound = bound;
  e.work.bytes_read = bytes_read;
  e.work.bytes_written = bytes_written;
  TraceRecorder::Global().Record(std::move(e));
}

double ChipDevice::modeled_time_s() const {
  std::lock_guard<std::mutex> lock(clock_mu_);
  return clock_s_;
}

int64_t ChipDevice::executions() const { return executions_.load(); }

std::shared_ptr<AsyncEvent> ChipDevice::EnqueueExecute(std::shared_ptr<const LoadedProgram> program,
                                                       std::vector<std::shared_ptr<DeviceArray>> args,
                                                       std::vector<bool> donated,
                                                       std::vector<std::shared_ptr<DeviceArray>> outputs) {
  std::shared_ptr<AsyncEvent> done = AsyncEvent::Create();
  // Shape errors are reported at once (still through the events, so callers have one path).
  if (!program) {
    Fail(outputs, done, InvalidArgument("EnqueueExecute without a program"));
    return done;
  }
  const std::string name = program->name();
  if (static_cast<int>(args.size()) != program->num_parameters() ||
      static_cast<int>(outputs.size()) != program->num_outputs() ||
      (!donated.empty() && donated.size() != args.size())) {
    Fail(outputs, done,
         InvalidArgument("executing '" + name + "': got " + std::to_string(args.size()) + " arguments, " +
                         std::to_string(outputs.size()) + " outputs and " + std::to_string(donated.size()) +
                         " donation flags; the program has " + std::to_string(program->num_parameters()) +
                         " parameters and " + std::to_string(program->num_outputs()) + " outputs"));
    return done;
  }
  donated.resize(args.size(), false);
  for (size_t i = 0; i < args.size(); ++i) {
    Status s;
    if (!args[i]) {
      s = InvalidArgument("executing '" + name + "': argument " + std::to_string(i) + " is null");
    } else if (args[i]->space != MemorySpace::kDevice) {
      s = InvalidArgument("executing '" + name + "': argument " + std::to_string(i) + " (" +
                          args[i]->info.ToString() + ") is in " + MemorySpaceName(args[i]->space) +
                          " memory; chip programs read device memory only: copy it there first "
                          "(jax.device_put(x, memory_kind='device'))");
    } else if (args[i]->device_id != id_) {
      s = InvalidArgument("executing '" + name + "' on chip:" + std::to_string(id_) + ": argument " +
                          std::to_string(i) + " is on chip:" + std::to_string(args[i]->device_id));
    } else if (args[i]->info.byte_size() != program->parameter(static_cast<int>(i)).byte_size() ||
               args[i]->info.dtype != program->parameter(static_cast<int>(i)).dtype) {
      s = InvalidArgument("executing '" + name + "': argument " + std::to_string(i) + " is " +
                          args[i]->info.ToString() + " but parameter " + std::to_string(i) + " is " +
                          program->parameter(static_cast<int>(i)).ToString());
    }
    if (!s.ok()) {
      Fail(outputs, done, s);
      return done;
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i]) {
      Fail(outputs, done, InvalidArgument("executing '" + name + "': output " + std::to_string(i) + " is null"));
      return done;
    }
  }

  queue_.Enqueue([this, program = std::move(program), args = std::move(args), donated = std::move(donated),
                  outputs = std::move(outputs), done]() mutable {
    const std::string& name = program->name();
    // Arguments first: an argument's error becomes every output's error.
    for (size_t i = 0; i < args.size(); ++i) {
      Status s = args[i]->ready->Await();
      if (!s.ok()) {
        args.clear();
        Fail(outputs, done, Status(s.code(), "argument " + std::to_string(i) + " of '" + name + "' failed: " +
                                                 s.message()));
        return;
      }
      if (!args[i]->allocation && args[i]->info.byte_size() > 0) {
        args.clear();
        Fail(outputs, done, FailedPrecondition("argument " + std::to_string(i) + " of '" + name +
                                               "' has no device memory (deleted or donated)"));
        return;
      }
    }
    Status status = TakeInjectedFault(name);
    try {
      ExecutionBindings bindings;
      bindings.parameters.resize(args.size(), nullptr);
      for (size_t i = 0; i < args.size(); ++i) {
        if (args[i]->allocation) bindings.parameters[i] = args[i]->allocation->data();
      }
      bindings.outputs.resize(outputs.size(), nullptr);
      for (size_t o = 0; o < outputs.size() && status.ok(); ++o) {
        const int p = program->output_aliased_parameter(static_cast<int>(o));
        if (p >= 0 && donated[p] && args[p]->allocation) {
          outputs[o]->allocation = args[p]->allocation;  // in place: the donated memory
        } else {
          auto alloc = allocator_->Allocate(static_cast<size_t>(program->output(static_cast<int>(o)).byte_size()),
                                            "output " + std::to_string(o) + " of " + name + " (" +
                                                program->output(static_cast<int>(o)).ToString() + ")");
          if (!alloc.ok()) {
            status = alloc.status();
            break;
          }
          outputs[o]->allocation = std::move(alloc).value();
        }
        bindings.outputs[o] = outputs[o]->allocation->data();
      }
      std::shared_ptr<DeviceAllocation> arena;
      if (status.ok() && program->arena_bytes() > 0) {
        auto alloc = allocator_->Allocate(static_cast<size_t>(program->arena_bytes()),
                                          "scratch arena of " + name);
        if (alloc.ok()) {
          arena = std::move(alloc).value();
          bindings.arena = arena->data();
        } else {
          status = alloc.status();
        }
      }
      if (status.ok()) {
        const int64_t launch_id = executions_.fetch_add(1);
        const int64_t host_start_ns = HostWallClockNs();
        double start;
        {
          std::lock_guard<std::mutex> lock(clock_mu_);
          start = clock_s_;
        }
        StatusOr<ExecutionResult> result = RunProgram(*program, bindings, config_, id_, launch_id, start);
        if (result.ok()) {
          {
            std::lock_guard<std::mutex> lock(clock_mu_);
            clock_s_ = std::max(clock_s_, start + result->modeled_s);
          }
          if (TraceRecorder::Global().enabled()) {
            TraceEvent e;
            e.kind = TraceEvent::Kind::kExecution;
            e.device_id = id_;
            e.name = name;
            e.category = "execution";
            e.program = name;
            e.launch_id = launch_id;
            e.start_s = start;
            e.host_start_ns = host_start_ns;
            e.time.total_s = result->modeled_s;
            e.time.launch_s = 0;
            e.time.bound = "execution";
            TraceRecorder::Global().Record(std::move(e));
          }
        } else {
          status = result.status();
        }
      }
    } catch (const std::bad_alloc&) {
      status = ResourceExhausted("host memory exhausted executing '" + name + "'");
    } catch (const std::exception& e) {
      status = Internal("executing '" + name + "': " + e.what());
    }
    // Drop the arguments before completing (see Complete).
    args.clear();
    Complete(outputs, done, status);
  });
  return done;
}

void ChipDevice::EnqueueCopy(std::shared_ptr<DeviceArray> src, std::shared_ptr<DeviceArray> dst) {
  if (!src || !dst) {
    if (dst) dst->ready->SetReady(InvalidArgument("EnqueueCopy from a null array"));
    return;
  }
  queue_.Enqueue([this, src = std::move(src), dst = std::move(dst)]() mutable {
    Status s = src->ready->Await();
    if (!s.ok()) {
      dst->ready->SetReady(s);
      return;
    }
    const int64_t bytes = src->info.byte_size();
    if (dst->info.byte_size() != bytes) {
      dst->ready->SetReady(InvalidArgument("copy of " + src->info.ToString() + " into " + dst->info.ToString() +
                                           ": sizes differ"));
      return;
    }
    if (!src->allocation && bytes > 0) {
      dst->ready->SetReady(FailedPrecondition("copy source " + src->info.ToString() + " has no device memory"));
      return;
    }
    auto alloc = allocator(dst->space)
                     .Allocate(static_cast<size_t>(bytes), "copy of " + src->info.ToString() + " from chip:" +
                                                               std::to_string(src->device_id) + " " +
                                                               MemorySpaceName(src->space) + " memory");
    if (!alloc.ok()) {
      dst->ready->SetReady(alloc.status());
      return;
    }
    if (bytes > 0) std::memcpy(alloc.value()->data(), src->allocation->data(), static_cast<size_t>(bytes));
    dst->allocation = std::move(alloc).value();
    const bool src_host = src->space == MemorySpace::kPinnedHost;
    const bool dst_host = dst->space == MemorySpace::kPinnedHost;
    if (src_host && dst_host) {
      // Host memory to host memory: the chip takes no part.
    } else if (src_host) {
      RecordHostToDevice(bytes, src->info.ToString());
    } else if (dst_host) {
      RecordDeviceToHost(bytes, src->info.ToString());
    } else {
      // Same chip: an HBM copy; another chip: one chip-to-chip link.
      const bool same_chip = src->device_id == id_;
      const double seconds = same_chip ? ModelDeviceCopySeconds(static_cast<double>(bytes), config_)
                                       : ModelChipTransferSeconds(static_cast<double>(bytes), config_);
      RecordTransfer(same_chip ? kDeviceCopy : kChipToChip, same_chip ? "memory" : "chip_link",
                     src->info.ToString(), seconds, static_cast<double>(bytes), static_cast<double>(bytes));
    }
    // Release both before completing (see Complete).
    src.reset();
    std::shared_ptr<AsyncEvent> ready = dst->ready;
    dst.reset();
    ready->SetReady();
  });
}

StatusOr<std::unique_ptr<ChipRuntime>> ChipRuntime::Create(const ChipConfig& config) {
  if (config.num_devices < 1 || config.num_devices > 8) {
    return InvalidArgument("num_devices must be 1..8, got " + std::to_string(config.num_devices));
  }
  if (config.hbm_bytes <= 0) return InvalidArgument("hbm_bytes must be positive");
  std::unique_ptr<ChipRuntime> rt(new ChipRuntime(config));
  for (int i = 0; i < config.num_devices; ++i) rt->devices_.push_back(std::make_unique<ChipDevice>(i, config));
  return rt;
}

}  // namespace chip
