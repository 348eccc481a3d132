// One emulated chip: its HBM allocator, its execution queue and its modeled clock; and the
// DeviceArray, the runtime's view of a PJRT buffer's contents.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pjrt_plugin/runtime/async_event.h"
#include "pjrt_plugin/runtime/chip_config.h"
#include "pjrt_plugin/runtime/device_memory.h"
#include "pjrt_plugin/runtime/exec_queue.h"
#include "pjrt_plugin/runtime/loaded_program.h"

namespace chip {

// Where an array of a device lives: its HBM, or the pinned host memory attached to it (host
// RAM the chip reaches over the host link; programs read only HBM).
enum class MemorySpace { kDevice, kPinnedHost };
const char* MemorySpaceName(MemorySpace space);  // "device", "pinned_host"

// The contents of one array on one device, possibly still being produced by queued work.
// `allocation` is written once by the producer before `ready` completes OK, and read only after.
struct DeviceArray {
  DeviceArray(int device_id, TensorInfo info, std::shared_ptr<AsyncEvent> ready,
              MemorySpace space = MemorySpace::kDevice)
      : device_id(device_id), info(std::move(info)), ready(std::move(ready)), space(space) {}
  const int device_id;
  const TensorInfo info;
  const std::shared_ptr<AsyncEvent> ready;
  const MemorySpace space;
  std::shared_ptr<DeviceAllocation> allocation;
};

class ChipDevice {
 public:
  ChipDevice(int id, const ChipConfig& config);
  ~ChipDevice();  // drains the queue
  int id() const { return id_; }
  const ChipConfig& config() const { return config_; }
  HbmAllocator& allocator() { return *allocator_; }
  // The allocator of a memory space: HBM, or the pinned host pool (which device memory stats
  // never count).
  HbmAllocator& allocator(MemorySpace space) {
    return space == MemorySpace::kDevice ? *allocator_ : *host_allocator_;
  }

  // Creates a ready array holding a copy of `host_data` (dense row-major bytes of info's size).
  // Synchronous. RESOURCE_EXHAUSTED if it does not fit. Into HBM it records a host_to_device
  // transfer; into pinned host memory it is a host copy (no chip time).
  StatusOr<std::shared_ptr<DeviceArray>> CreateFromHost(const TensorInfo& info, const void* host_data,
                                                        MemorySpace space = MemorySpace::kDevice);

  // Enqueues one execution and returns at once. On the worker: waits for every argument's ready
  // event (an argument's error is propagated to all outputs), allocates each output (an output
  // whose parameter alias is donated reuses that argument's allocation, in place), allocates the
  // scratch arena, runs the kernels, records the trace, frees the arena and completes each
  // output's ready event (with the error, if any). `outputs` must be fresh DeviceArrays with
  // pending ready events, one per program output, with the program's output TensorInfos.
  // Returns an event that completes when the execution has finished (OK or with its error).
  std::shared_ptr<AsyncEvent> EnqueueExecute(std::shared_ptr<const LoadedProgram> program,
                                             std::vector<std::shared_ptr<DeviceArray>> args,
                                             std::vector<bool> donated,
                                             std::vector<std::shared_ptr<DeviceArray>> outputs);

  // Enqueues a copy of `src` (any device, any space) into `dst` (this device, dst's space,
  // pending ready event). Timed by what it crosses: HBM, a chip link, or the host link (a copy
  // between HBM and pinned host memory); a copy between pinned host arrays takes no chip time.
  void EnqueueCopy(std::shared_ptr<DeviceArray> src, std::shared_ptr<DeviceArray> dst);

  // Records a device_to_host / host_to_device transfer of `bytes` in the trace and on the
  // modeled clock (ModelHostTransferSeconds).
  void RecordDeviceToHost(int64_t bytes, std::string what = "");
  void RecordHostToDevice(int64_t bytes, std::string what);

  // Modeled chip time spent so far on this device (seconds), and the number of executions.
  double modeled_time_s() const;
  int64_t executions() const;

  void Drain() { queue_.Drain(); }

 private:
  // Advances the modeled clock by a copy's time and records it on the trace's transfers track.
  void RecordTransfer(const char* name, const char* bound, std::string what, double seconds,
                      double bytes_read, double bytes_written);

  const int id_;
  const ChipConfig config_;
  std::shared_ptr<HbmAllocator> allocator_;
  std::shared_ptr<HbmAllocator> host_allocator_;  // pinned host memory
  mutable std::mutex clock_mu_;
  double clock_s_ = 0;
  std::atomic<int64_t> executions_{0};
  ExecQueue queue_;  // last: destroyed (drained) first
};

// All devices of one client.
class ChipRuntime {
 public:
  static StatusOr<std::unique_ptr<ChipRuntime>> Create(const ChipConfig& config);
  const ChipConfig& config() const { return config_; }
  int num_devices() const { return static_cast<int>(devices_.size()); }
  ChipDevice& device(int i) { return *devices_[i]; }

 private:
  explicit ChipRuntime(const ChipConfig& config) : config_(config) {}
  ChipConfig config_;
  std::vector<std::unique_ptr<ChipDevice>> devices_;
};

}  // namespace chip
