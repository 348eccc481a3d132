// A 64-byte aligned host scratch buffer (kernel temporaries: converted operands, staged outputs).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace chip {
namespace kernels {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // Throws std::bad_alloc when the host is out of memory (the executor turns it into an error).
  explicit AlignedBuffer(size_t bytes) { Resize(bytes); }
  void Resize(size_t bytes) {
    const size_t rounded = (bytes + 63) / 64 * 64 + 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p == nullptr) throw std::bad_alloc();
    data_.reset(p);
    size_ = bytes;
  }
  void* data() { return data_.get(); }
  size_t size() const { return size_; }
  template <typename T>
  T* as() { return static_cast<T*>(data_.get()); }

 private:
  struct Free { void operator()(void* p) const { std::free(p); } };
  std::unique_ptr<void, Free> data_;
  size_t size_ = 0;
};

}  // namespace kernels
}  // namespace chip
