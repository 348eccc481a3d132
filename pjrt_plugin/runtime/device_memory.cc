#include "pjrt_plugin/runtime/device_memory.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace chip {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kMaxCachedBlock = size_t{256} << 20;
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kMaxCacheBytes = 0;  // AddressSanitizer sees every free (use-after-free checks)
#else
constexpr size_t kMaxCacheBytes = size_t{1} << 30;
#endif

// Host block size for a request: 64-byte multiples up to 4 KiB, then quarter-power-of-two steps
// (at most 25% slack) so freed blocks are found again by later requests of similar size.
size_t SizeClass(size_t bytes) {
  size_t b = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  if (b <= 4096) return b;
  const int top = 63 - __builtin_clzll(b);
  const size_t step = size_t{1} << (top - 2);
  return (b + step - 1) / step * step;
}

std::string FormatBytes(int64_t bytes) {
  char buf[96];
  const double b = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f GiB (%lld bytes)", b / (1 << 30), static_cast<long long>(bytes));
  } else if (bytes >= (int64_t{1} << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB (%lld bytes)", b / (1 << 20), static_cast<long long>(bytes));
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof(buf), "%.2f KiB (%lld bytes)", b / 1024, static_cast<long long>(bytes));
  } else {
    std::snprintf(buf, sizeof(buf), "%lld bytes", static_cast<long long>(bytes));
  }
  return buf;
}

}  // namespace

void DeviceAllocation::FreeDeleter::operator()(void* p) const { std::free(p); }

DeviceAllocation::DeviceAllocation(std::shared_ptr<HbmAllocator> owner, size_t size,
                                   std::unique_ptr<void, FreeDeleter> data)
    : owner_(std::move(owner)), size_(size), data_(std::move(data)) {}

DeviceAllocation::~DeviceAllocation() {
  if (owner_) owner_->Recycle(data_.release(), size_);
}

int DeviceAllocation::device_id() const { return owner_ ? owner_->device_id() : -1; }

std::shared_ptr<HbmAllocator> HbmAllocator::Create(int device_id, int64_t capacity_bytes, std::string space) {
  std::shared_ptr<HbmAllocator> a(new HbmAllocator(device_id, capacity_bytes, std::move(space)));
  a->stats_.bytes_limit = capacity_bytes;
  const char* poison = std::getenv("CHIP_POISON_MEMORY");
  a->poison_ = poison != nullptr && std::string(poison) == "1";
  return a;
}

StatusOr<std::shared_ptr<DeviceAllocation>> HbmAllocator::Allocate(size_t bytes, const std::string& what) {
  const int64_t request = static_cast<int64_t>(std::min<size_t>(bytes, size_t{1} << 62));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (request > capacity_ - stats_.bytes_in_use) {
      return ResourceExhausted("out of " + space_ + " on chip:" + std::to_string(device_id_) +
                               " allocating " + FormatBytes(request) + " for " + what + ": " +
                               FormatBytes(stats_.bytes_in_use) + " in use of " +
                               FormatBytes(capacity_) + " limit");
    }
    // Charge before allocating so concurrent requests cannot overshoot the capacity together.
    stats_.bytes_in_use += request;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  }
  const size_t rounded = SizeClass(bytes);
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(rounded);
    if (it != cache_.end()) {
      p = it->second;
      cache_.erase(it);
      cache_bytes_ -= rounded;
    }
  }
  if (p == nullptr) p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr) {  // give the cached blocks back to the host and try once more
    std::multimap<size_t, void*> cached;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cached.swap(cache_);
      cache_bytes_ = 0;
    }
    for (auto& [size, block] : cached) std::free(block);
    p = std::aligned_alloc(kAlignment, rounded);
  }
  if (p == nullptr) {
    Release(bytes);
    return ResourceExhausted("host memory exhausted allocating " + FormatBytes(request) + " for " + what +
                             " on chip:" + std::to_string(device_id_));
  }
  if (poison_) std::memset(p, 0xFF, rounded);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.num_allocs += 1;
    stats_.largest_alloc_size = std::max(stats_.largest_alloc_size, request);
  }
  return std::shared_ptr<DeviceAllocation>(new DeviceAllocation(
      shared_from_this(), bytes, std::unique_ptr<void, DeviceAllocation::FreeDeleter>(p)));
}

HbmAllocator::~HbmAllocator() {
  for (auto& [size, block] : cache_) std::free(block);
}

void HbmAllocator::Recycle(void* block, size_t bytes) {
  const size_t rounded = SizeClass(bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_in_use -= static_cast<int64_t>(bytes);
    if (block != nullptr && rounded <= kMaxCachedBlock && cache_bytes_ + rounded <= kMaxCacheBytes) {
      cache_.emplace(rounded, block);
      cache_bytes_ += rounded;
      return;
    }
  }
  std::free(block);
}

void HbmAllocator::Release(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.bytes_in_use -= static_cast<int64_t>(bytes);
}

MemoryStats HbmAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void HbmAllocator::ResetPeak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

}  // namespace chip
