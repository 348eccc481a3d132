// PJRT_AsyncHostToDeviceTransferManager (PJRT_Client_CreateBuffersForAsyncHostToDevice): a set
// of buffers in one memory of one chip, allocated at once and filled later, in chunks, from host
// data. Each buffer's ready event completes when its last chunk has arrived (or with the error
// set by SetBufferError); consumers may take the buffers (RetrieveBuffer, once each) and enqueue
// work on them before then. Destroying the manager fails every buffer that is still incomplete,
// so nothing waits forever on data that will not come. Each chunk into device memory crosses the
// host link (ModelHostTransferSeconds); into pinned host memory it is a host copy.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/runtime/chip_device.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_AsyncHostToDeviceTransferManager {
  // Allocates one zero-filled array per entry of `shapes` in `memory` (RESOURCE_EXHAUSTED if
  // they do not all fit; nothing stays allocated then).
  static chip::StatusOr<std::unique_ptr<PJRT_AsyncHostToDeviceTransferManager>> Create(
      PJRT_Memory* memory, const std::vector<chip::TensorInfo>& shapes, const char* function);
  ~PJRT_AsyncHostToDeviceTransferManager();
  PJRT_AsyncHostToDeviceTransferManager(const PJRT_AsyncHostToDeviceTransferManager&) = delete;
  PJRT_AsyncHostToDeviceTransferManager& operator=(const PJRT_AsyncHostToDeviceTransferManager&) = delete;

  PJRT_Device* device() const;
  size_t buffer_count() const { return slots_.size(); }
  chip::StatusOr<size_t> BufferSize(int index, const char* function);
  // Copies bytes [offset, offset + size) of buffer `index` from `data`; `last` completes it.
  chip::Status TransferData(int index, const void* data, int64_t offset, int64_t size, bool last,
                            const char* function);
  // A new PJRT_Buffer for buffer `index` (owned by the caller); once per buffer.
  chip::StatusOr<PJRT_Buffer*> RetrieveBuffer(int index, const char* function);
  // Completes buffer `index` with `error` instead of data.
  chip::Status SetBufferError(int index, chip::Status error, const char* function);

 private:
  struct Slot {
    std::shared_ptr<chip::DeviceArray> array;
    int64_t bytes_received = 0;
    bool complete = false;
    bool retrieved = false;
  };
  explicit PJRT_AsyncHostToDeviceTransferManager(PJRT_Memory* memory) : memory_(memory) {}
  // The slot `index`, or INVALID_ARGUMENT naming `function` (requires mu_).
  chip::StatusOr<Slot*> SlotAt(int index, const char* function);
  std::string Describe(int index) const;

  PJRT_Memory* const memory_;
  std::mutex mu_;
  std::vector<Slot> slots_;
};

namespace chip::api {

PJRT_Error* ClientCreateBuffersForAsyncHostToDevice(PJRT_Client_CreateBuffersForAsyncHostToDevice_Args* args);
PJRT_Error* TransferManagerDestroy(PJRT_AsyncHostToDeviceTransferManager_Destroy_Args* args);
PJRT_Error* TransferManagerTransferData(PJRT_AsyncHostToDeviceTransferManager_TransferData_Args* args);
PJRT_Error* TransferManagerRetrieveBuffer(PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer_Args* args);
PJRT_Error* TransferManagerDevice(PJRT_AsyncHostToDeviceTransferManager_Device_Args* args);
PJRT_Error* TransferManagerBufferCount(PJRT_AsyncHostToDeviceTransferManager_BufferCount_Args* args);
PJRT_Error* TransferManagerBufferSize(PJRT_AsyncHostToDeviceTransferManager_BufferSize_Args* args);
PJRT_Error* TransferManagerSetBufferError(PJRT_AsyncHostToDeviceTransferManager_SetBufferError_Args* args);
PJRT_Error* TransferManagerAddMetadata(PJRT_AsyncHostToDeviceTransferManager_AddMetadata_Args* args);

}  // namespace chip::api
