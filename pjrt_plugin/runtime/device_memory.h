// The device-memory (HBM) model: a capacity from the chip config and byte-exact accounting.
// Allocations are real host memory (64-byte aligned) charged against the modeled capacity;
// exceeding it returns RESOURCE_EXHAUSTED naming the request and what is in use, never a crash.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "pjrt_plugin/core/status.h"

namespace chip {

class HbmAllocator;

// One device allocation. RAII: destroying it returns the bytes to the allocator.
class DeviceAllocation {
 public:
  ~DeviceAllocation();
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;

  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  size_t size() const { return size_; }
  int device_id() const;

 private:
  friend class HbmAllocator;
  struct FreeDeleter { void operator()(void* p) const; };
  DeviceAllocation(std::shared_ptr<HbmAllocator> owner, size_t size, std::unique_ptr<void, FreeDeleter> data);
  std::shared_ptr<HbmAllocator> owner_;
  size_t size_;
  std::unique_ptr<void, FreeDeleter> data_;
};

struct MemoryStats {
  int64_t bytes_in_use = 0;
  int64_t peak_bytes_in_use = 0;
  int64_t bytes_limit = 0;
  int64_t num_allocs = 0;           // allocations made so far
  int64_t largest_alloc_size = 0;
};

class HbmAllocator : public std::enable_shared_from_this<HbmAllocator> {
 public:
  // `space` names the memory in errors ("device memory", "pinned host memory").
  static std::shared_ptr<HbmAllocator> Create(int device_id, int64_t capacity_bytes,
                                              std::string space = "device memory");
  ~HbmAllocator();  // frees the cached host blocks

  // `what` names the request in the error message (e.g. "output 0 of jit(f) (f32[1024,1024])").
  // Size 0 is allowed and returns a valid allocation with a non-null aligned pointer.
  StatusOr<std::shared_ptr<DeviceAllocation>> Allocate(size_t bytes, const std::string& what);
  MemoryStats stats() const;
  void ResetPeak();
  int device_id() const { return device_id_; }

 private:
  friend class DeviceAllocation;
  HbmAllocator(int device_id, int64_t capacity, std::string space)
      : device_id_(device_id), capacity_(capacity), space_(std::move(space)) {}
  void Release(size_t bytes);
  // Returns a freed block: kept for reuse (by size class) or given back to the host.
  void Recycle(void* block, size_t bytes);
  const int device_id_;
  const int64_t capacity_;
  const std::string space_;
  // CHIP_POISON_MEMORY=1 (read at Create): fresh allocations are filled with 0xFF bytes (NaN for
  // floats, -1 for integers) so tests catch outputs a kernel forgot to write.
  bool poison_ = false;
  // Freed host blocks by size class, reused so steady-state executions do not page-fault fresh
  // memory. Host memory only: never counted as device memory in use.
  std::multimap<size_t, void*> cache_;
  size_t cache_bytes_ = 0;
  mutable std::mutex mu_;
  MemoryStats stats_;
};

}  // namespace chip
