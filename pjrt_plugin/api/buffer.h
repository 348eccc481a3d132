// PJRT_Buffer: one array on one chip, in its device memory or its pinned host memory (a shared
// chip::DeviceArray, possibly still being produced by queued work). Deleting or donating a buffer drops its reference; the device memory is freed
// once no queued work uses it. Metadata (type, dimensions, device) stays readable after deletion;
// anything that needs the contents then fails with FAILED_PRECONDITION "buffer was deleted or
// donated".
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pjrt_plugin/runtime/chip_device.h"
#include "pjrt_plugin/core/status.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_Buffer {
  PJRT_Buffer(PJRT_Device* device, std::shared_ptr<chip::DeviceArray> array);
  PJRT_Buffer(const PJRT_Buffer&) = delete;
  PJRT_Buffer& operator=(const PJRT_Buffer&) = delete;

  // The contents; FAILED_PRECONDITION naming `function` once deleted or donated.
  chip::StatusOr<std::shared_ptr<chip::DeviceArray>> array(const char* function) const;
  void Delete();
  // Hands the contents to an execution that reuses their memory; the buffer reads as deleted.
  std::shared_ptr<chip::DeviceArray> Donate();
  bool is_deleted() const;
  // True while PJRT_Buffer_IncreaseExternalReferenceCount holds the memory for another framework.
  bool has_external_references() const;
  chip::Status IncreaseExternalReferences(const char* function);
  chip::Status DecreaseExternalReferences(const char* function);
  // "f32[4,128] on chip:0" ("... on chip:0 pinned_host" in pinned host memory)
  std::string Describe() const;

  PJRT_Device* const device;
  PJRT_Memory* const memory;  // one of the device's memories, the array's space
  const chip::TensorInfo info;
  const PJRT_Buffer_Type type;
  const std::vector<int64_t> minor_to_major;  // dense row-major: rank-1 .. 0

 private:
  chip::Status DeletedError(const char* function) const;  // requires mu_
  mutable std::mutex mu_;
  std::shared_ptr<chip::DeviceArray> array_;  // null once deleted or donated
  bool donated_ = false;
  int external_references_ = 0;
  std::shared_ptr<chip::DeviceArray> external_hold_;  // keeps memory alive for external users
};

namespace chip::api {

// The TensorInfo of a new array of PJRT type `type` and `dims`, checking the dims and that its
// size fits in int64 (INVALID_ARGUMENT naming `function` otherwise).
StatusOr<TensorInfo> MakeTensorInfo(PJRT_Buffer_Type type, const int64_t* dims, size_t num_dims,
                                    const char* function);

PJRT_Error* ClientBufferFromHostBuffer(PJRT_Client_BufferFromHostBuffer_Args* args);
PJRT_Error* ClientCreateUninitializedBuffer(PJRT_Client_CreateUninitializedBuffer_Args* args);

PJRT_Error* BufferDestroy(PJRT_Buffer_Destroy_Args* args);
PJRT_Error* BufferElementType(PJRT_Buffer_ElementType_Args* args);
PJRT_Error* BufferDimensions(PJRT_Buffer_Dimensions_Args* args);
PJRT_Error* BufferUnpaddedDimensions(PJRT_Buffer_UnpaddedDimensions_Args* args);
PJRT_Error* BufferDynamicDimensionIndices(PJRT_Buffer_DynamicDimensionIndices_Args* args);
PJRT_Error* BufferGetMemoryLayout(PJRT_Buffer_GetMemoryLayout_Args* args);
PJRT_Error* BufferOnDeviceSizeInBytes(PJRT_Buffer_OnDeviceSizeInBytes_Args* args);
PJRT_Error* BufferDevice(PJRT_Buffer_Device_Args* args);
PJRT_Error* BufferMemory(PJRT_Buffer_Memory_Args* args);
PJRT_Error* BufferDelete(PJRT_Buffer_Delete_Args* args);
PJRT_Error* BufferIsDeleted(PJRT_Buffer_IsDeleted_Args* args);
PJRT_Error* BufferCopyToDevice(PJRT_Buffer_CopyToDevice_Args* args);
PJRT_Error* BufferCopyToMemory(PJRT_Buffer_CopyToMemory_Args* args);
PJRT_Error* BufferToHostBuffer(PJRT_Buffer_ToHostBuffer_Args* args);
PJRT_Error* BufferCopyRawToHost(PJRT_Buffer_CopyRawToHost_Args* args);
PJRT_Error* BufferIsOnCpu(PJRT_Buffer_IsOnCpu_Args* args);
PJRT_Error* BufferReadyEvent(PJRT_Buffer_ReadyEvent_Args* args);
PJRT_Error* BufferUnsafePointer(PJRT_Buffer_UnsafePointer_Args* args);
PJRT_Error* BufferIncreaseExternalReferenceCount(PJRT_Buffer_IncreaseExternalReferenceCount_Args* args);
PJRT_Error* BufferDecreaseExternalReferenceCount(PJRT_Buffer_DecreaseExternalReferenceCount_Args* args);
PJRT_Error* BufferOpaqueDeviceMemoryDataPointer(PJRT_Buffer_OpaqueDeviceMemoryDataPointer_Args* args);

}  // namespace chip::api
