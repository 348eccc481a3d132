// The PJRT Layouts extension (xla/pjrt/c/pjrt_c_api_layouts_extension.h): the on-device layout of
// a buffer and the client's default layout for a shape, as XLA layouts serialized in XLA's text
// form ("{1,0}", minor-to-major), which jaxlib parses back (PjRtLayout::Deserialize). The chip
// stores every array dense row-major without tiling, so every layout is the descending
// minor-to-major order of its rank; a program whose inputs ask for another layout
// (mhlo.layout_mode) is compiled for row-major all the same.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xla/pjrt/c/pjrt_c_api.h"
#include "xla/pjrt/c/pjrt_c_api_layouts_extension.h"

struct PJRT_Layouts_MemoryLayout {
  explicit PJRT_Layouts_MemoryLayout(std::vector<int64_t> minor_to_major) : minor_to_major(std::move(minor_to_major)) {}
  // XLA's text form of the layout: "{2,1,0}".
  std::string Serialize() const;
  const std::vector<int64_t> minor_to_major;
};

struct PJRT_Layouts_SerializedLayout {
  std::string bytes;
};

namespace chip::api {

// The dense row-major minor-to-major order of a rank-`rank` array: rank-1 .. 0.
std::vector<int64_t> RowMajorMinorToMajor(size_t rank);

// The Layouts extension, linked in front of `next` in the PJRT_Api extension chain.
PJRT_Extension_Base* LayoutsExtension(PJRT_Extension_Base* next);

}  // namespace chip::api
