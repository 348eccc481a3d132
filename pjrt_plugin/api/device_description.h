// PJRT_DeviceDescription: what a chip device is, without needing the device (also used by the
// topology for ahead-of-time compilation). Kind "chip"; attributes give the chip model's sizes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pjrt_plugin/api/memory.h"
#include "pjrt_plugin/runtime/chip_config.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_DeviceDescription {
  PJRT_DeviceDescription(int id, int process_index, const chip::ChipConfig& config);
  PJRT_DeviceDescription(const PJRT_DeviceDescription&) = delete;
  PJRT_DeviceDescription& operator=(const PJRT_DeviceDescription&) = delete;

  const PJRT_MemoryDescription* const* memory_description_list() const { return memory_description_ptrs_.data(); }
  const std::vector<PJRT_NamedValue>& attributes() const { return attributes_; }

  const int id;
  const int process_index;
  const std::string kind = "chip";
  const std::string debug_string;  // "chip:0" (str(device) in JAX)
  const std::string to_string;     // "ChipDevice(id=0)" (repr(device) in JAX)

 private:
  // Attribute values the PJRT_NamedValues point into (fixed after construction).
  std::array<int64_t, 2> matrix_unit_;
  std::vector<PJRT_NamedValue> attributes_;
  PJRT_MemoryDescription memory_description_{chip::MemorySpace::kDevice};
  PJRT_MemoryDescription pinned_host_description_{chip::MemorySpace::kPinnedHost};
  std::array<const PJRT_MemoryDescription*, 2> memory_description_ptrs_{
      {&memory_description_, &pinned_host_description_}};
};

namespace chip::api {

PJRT_Error* DeviceDescriptionId(PJRT_DeviceDescription_Id_Args* args);
PJRT_Error* DeviceDescriptionProcessIndex(PJRT_DeviceDescription_ProcessIndex_Args* args);
PJRT_Error* DeviceDescriptionAttributes(PJRT_DeviceDescription_Attributes_Args* args);
PJRT_Error* DeviceDescriptionKind(PJRT_DeviceDescription_Kind_Args* args);
PJRT_Error* DeviceDescriptionDebugString(PJRT_DeviceDescription_DebugString_Args* args);
PJRT_Error* DeviceDescriptionToString(PJRT_DeviceDescription_ToString_Args* args);

// A PJRT_NamedValue of int64 / int64-list / string kind (name and value must outlive it).
PJRT_NamedValue NamedInt64(const char* name, int64_t value);
PJRT_NamedValue NamedInt64List(const char* name, const int64_t* values, size_t n);
PJRT_NamedValue NamedString(const char* name, const std::string& value);
PJRT_NamedValue NamedFloat(const char* name, float value);

}  // namespace chip::api
