#include "pjrt_plugin/api/host_layout.h"

#include <cstring>
#include <string>

namespace chip::api {

std::vector<int64_t> DenseByteStrides(const std::vector<int64_t>& dims, int64_t element_size) {
  std::vector<int64_t> strides(dims.size());
  int64_t s = element_size;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= dims[i];
  }
  return strides;
}

bool IsDenseRowMajor(const std::vector<int64_t>& dims, const std::vector<int64_t>& byte_strides,
                     int64_t element_size) {
  if (byte_strides.size() != dims.size()) return false;
  for (int64_t d : dims) {
    if (d == 0) return true;
  }
  std::vector<int64_t> dense = DenseByteStrides(dims, element_size);
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] != 1 && byte_strides[i] != dense[i]) return false;
  }
  return true;
}

StatusOr<std::vector<int64_t>> LayoutByteStrides(const PJRT_Buffer_MemoryLayout* layout,
                                                 const std::vector<int64_t>& dims,
                                                 int64_t element_size, const char* function) {
  const size_t rank = dims.size();
  if (layout == nullptr) return DenseByteStrides(dims, element_size);
  if (layout->struct_size < PJRT_Buffer_MemoryLayout_STRUCT_SIZE) {
    return InvalidArgument(std::string(function) + ": layout->struct_size is " +
                           std::to_string(layout->struct_size) + ", expected at least " +
                           std::to_string(PJRT_Buffer_MemoryLayout_STRUCT_SIZE));
  }
  if (layout->type == PJRT_Buffer_MemoryLayout_Type_Strides) {
    const PJRT_Buffer_MemoryLayout_Strides& s = layout->strides;
    if (s.num_byte_strides != rank || (rank > 0 && s.byte_strides == nullptr)) {
      return InvalidArgument(std::string(function) + ": strided layout has " +
                             std::to_string(s.num_byte_strides) + " byte strides for a rank-" +
                             std::to_string(rank) + " array");
    }
    return std::vector<int64_t>(s.byte_strides, s.byte_strides + rank);
  }
  if (layout->type != PJRT_Buffer_MemoryLayout_Type_Tiled) {
    return InvalidArgument(std::string(function) + ": unknown layout type " +
                           std::to_string(static_cast<int>(layout->type)));
  }
  const PJRT_Buffer_MemoryLayout_Tiled& t = layout->tiled;
  if (t.num_tiles != 0) {
    return Unimplemented(std::string(function) +
                         ": tiled layouts are not supported by the chip (it stores arrays dense "
                         "row-major); pass no tiles");
  }
  if (t.minor_to_major_size != rank || (rank > 0 && t.minor_to_major == nullptr)) {
    return InvalidArgument(std::string(function) + ": layout minor_to_major has " +
                           std::to_string(t.minor_to_major_size) + " entries for a rank-" +
                           std::to_string(rank) + " array");
  }
  std::vector<bool> seen(rank, false);
  std::vector<int64_t> strides(rank);
  int64_t s = element_size;
  for (size_t k = 0; k < rank; ++k) {
    int64_t d = t.minor_to_major[k];
    if (d < 0 || static_cast<size_t>(d) >= rank || seen[d]) {
      return InvalidArgument(std::string(function) +
                             ": layout minor_to_major is not a permutation of the dimensions");
    }
    seen[d] = true;
    strides[d] = s;
    s *= dims[d];
  }
  return strides;
}

ByteSpan StridedByteSpan(const std::vector<int64_t>& dims, const std::vector<int64_t>& byte_strides,
                         int64_t element_size) {
  ByteSpan span;
  for (int64_t d : dims) {
    if (d == 0) return span;
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t extent = (dims[i] - 1) * byte_strides[i];
    if (extent < 0) {
      span.begin += extent;
    } else {
      span.end += extent;
    }
  }
  span.end += element_size;
  return span;
}

namespace {

// Visits every element in row-major order, calling fn(strided_offset_bytes, dense_offset_bytes)
// for each innermost row (of dims.back() elements, or one element for 0-d arrays).
template <typename RowFn>
void ForEachRow(const std::vector<int64_t>& dims, const std::vector<int64_t>& byte_strides,
                int64_t element_size, RowFn&& fn) {
  for (int64_t d : dims) {
    if (d == 0) return;
  }
  const size_t rank = dims.size();
  if (rank == 0) {
    fn(int64_t{0}, int64_t{0});
    return;
  }
  const int64_t row_bytes = dims[rank - 1] * element_size;
  std::vector<int64_t> index(rank, 0);
  int64_t strided = 0;
  int64_t dense = 0;
  while (true) {
    fn(strided, dense);
    dense += row_bytes;
    // Advance the outer index (all dims but the last).
    size_t k = rank - 1;
    while (true) {
      if (k == 0) return;
      --k;
      ++index[k];
      strided += byte_strides[k];
      if (index[k] < dims[k]) break;
      strided -= byte_strides[k] * dims[k];
      index[k] = 0;
    }
  }
}

}  // namespace

void CopyStridedToDense(const void* strided, const std::vector<int64_t>& byte_strides,
                        const std::vector<int64_t>& dims, int64_t element_size, void* dense) {
  const char* src = static_cast<const char*>(strided);
  char* dst = static_cast<char*>(dense);
  const int64_t inner = dims.empty() ? 1 : dims.back();
  const int64_t inner_stride = dims.empty() ? element_size : byte_strides.back();
  ForEachRow(dims, byte_strides, element_size, [&](int64_t s_off, int64_t d_off) {
    if (inner_stride == element_size) {
      std::memcpy(dst + d_off, src + s_off, static_cast<size_t>(inner * element_size));
    } else {
      for (int64_t i = 0; i < inner; ++i) {
        std::memcpy(dst + d_off + i * element_size, src + s_off + i * inner_stride,
                    static_cast<size_t>(element_size));
      }
    }
  });
}

void CopyDenseToStrided(const void* dense, const std::vector<int64_t>& dims, int64_t element_size,
                        const std::vector<int64_t>& byte_strides, void* strided) {
  const char* src = static_cast<const char*>(dense);
  char* dst = static_cast<char*>(strided);
  const int64_t inner = dims.empty() ? 1 : dims.back();
  const int64_t inner_stride = dims.empty() ? element_size : byte_strides.back();
  ForEachRow(dims, byte_strides, element_size, [&](int64_t s_off, int64_t d_off) {
    if (inner_stride == element_size) {
      std::memcpy(dst + s_off, src + d_off, static_cast<size_t>(inner * element_size));
    } else {
      for (int64_t i = 0; i < inner; ++i) {
        std::memcpy(dst + s_off + i * inner_stride, src + d_off + i * element_size,
                    static_cast<size_t>(element_size));
      }
    }
  });
}

void PackNibbles(const uint8_t* host, int64_t n, uint8_t* packed) {
  for (int64_t i = 0; i + 1 < n; i += 2) {
    packed[i / 2] = static_cast<uint8_t>((host[i] & 0xF) | ((host[i + 1] & 0xF) << 4));
  }
  if (n % 2) packed[n / 2] = static_cast<uint8_t>(host[n - 1] & 0xF);
}

void UnpackNibbles(const uint8_t* packed, int64_t n, uint8_t* host) {
  for (int64_t i = 0; i < n; ++i) host[i] = static_cast<uint8_t>((packed[i / 2] >> ((i & 1) * 4)) & 0xF);
}

}  // namespace chip::api
