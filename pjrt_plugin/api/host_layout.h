// Host-side array layouts for transfers: PJRT byte strides and minor-to-major layouts turned into
// byte strides, and copies between a strided host array and the chip's dense row-major storage.
#pragma once

#include <cstdint>
#include <vector>

#include "pjrt_plugin/core/status.h"
#include "xla/pjrt/c/pjrt_c_api.h"

namespace chip::api {

// Byte strides of a dense row-major array.
std::vector<int64_t> DenseByteStrides(const std::vector<int64_t>& dims, int64_t element_size);

// True if `byte_strides` address the array densely in row-major order (strides of size-1
// dimensions do not matter, and no element is ever addressed when the array is empty).
bool IsDenseRowMajor(const std::vector<int64_t>& dims, const std::vector<int64_t>& byte_strides,
                     int64_t element_size);

// The byte strides `layout` describes (nullptr: dense row-major). Tiled layouts are accepted when
// they have no tiles (a dimension permutation); anything else is UNIMPLEMENTED naming `function`.
StatusOr<std::vector<int64_t>> LayoutByteStrides(const PJRT_Buffer_MemoryLayout* layout,
                                                 const std::vector<int64_t>& dims,
                                                 int64_t element_size, const char* function);

// Byte offsets, relative to the array's base pointer, of the first byte addressed and one past the
// last (strides may be negative). {0, 0} for an empty array.
struct ByteSpan {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};
ByteSpan StridedByteSpan(const std::vector<int64_t>& dims, const std::vector<int64_t>& byte_strides,
                         int64_t element_size);

// Copies between a strided array at `strided` and a dense row-major one at `dense`.
void CopyStridedToDense(const void* strided, const std::vector<int64_t>& byte_strides,
                        const std::vector<int64_t>& dims, int64_t element_size, void* dense);
void CopyDenseToStrided(const void* dense, const std::vector<int64_t>& dims, int64_t element_size,
                        const std::vector<int64_t>& byte_strides, void* strided);

// 4-bit arrays: jaxlib's host arrays hold one value per byte (ml_dtypes' int4/uint4: the low
// nibble); device memory packs two per byte, element 2i in the low nibble.
void PackNibbles(const uint8_t* host, int64_t n, uint8_t* packed);
void UnpackNibbles(const uint8_t* packed, int64_t n, uint8_t* host);

}  // namespace chip::api
