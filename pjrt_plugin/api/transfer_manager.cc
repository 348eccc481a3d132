#include "pjrt_plugin/api/transfer_manager.h"

#include <cstring>
#include <string>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/buffer.h"
#include "pjrt_plugin/api/client.h"
#include "pjrt_plugin/api/device.h"
#include "pjrt_plugin/api/dtypes.h"
#include "pjrt_plugin/api/error.h"
#include "pjrt_plugin/api/event.h"
#include "pjrt_plugin/api/host_layout.h"
#include "pjrt_plugin/api/memory.h"

using chip::AsyncEvent;
using chip::DeviceArray;
using chip::Status;
using chip::StatusOr;
using chip::TensorInfo;

StatusOr<std::unique_ptr<PJRT_AsyncHostToDeviceTransferManager>> PJRT_AsyncHostToDeviceTransferManager::Create(
    PJRT_Memory* memory, const std::vector<TensorInfo>& shapes, const char* function) {
  std::unique_ptr<PJRT_AsyncHostToDeviceTransferManager> m(new PJRT_AsyncHostToDeviceTransferManager(memory));
  chip::HbmAllocator& allocator = memory->device->chip().allocator(memory->space);
  for (size_t i = 0; i < shapes.size(); ++i) {
    StatusOr<std::shared_ptr<chip::DeviceAllocation>> alloc = allocator.Allocate(
        static_cast<size_t>(shapes[i].byte_size()),
        "async host-to-device buffer " + std::to_string(i) + " (" + shapes[i].ToString() + ")");
    if (!alloc.ok()) {
      // The slots made so far are failed by the destructor; their memory is returned at once.
      return Status(alloc.status().code(), std::string(function) + ": " + alloc.status().message());
    }
    // Deterministic contents where no chunk lands (the emulator zero-fills; hardware would not).
    if (shapes[i].byte_size() > 0) std::memset(alloc.value()->data(), 0, static_cast<size_t>(shapes[i].byte_size()));
    Slot slot;
    slot.array = std::make_shared<DeviceArray>(memory->device->id(), shapes[i], AsyncEvent::Create(), memory->space);
    // Written before the ready event completes; read by consumers only after (DeviceArray's rule).
    slot.array->allocation = std::move(alloc).value();
    m->slots_.push_back(std::move(slot));
  }
  return m;
}

PJRT_AsyncHostToDeviceTransferManager::~PJRT_AsyncHostToDeviceTransferManager() {
  std::vector<std::pair<std::shared_ptr<AsyncEvent>, Status>> fail;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (s.complete) continue;
      s.complete = true;
      s.array->allocation.reset();
      fail.emplace_back(s.array->ready,
                        chip::FailedPrecondition("the async host-to-device transfer manager was destroyed before " +
                                                 Describe(static_cast<int>(i)) + " was fully transferred (" +
                                                 std::to_string(s.bytes_received) + " of " +
                                                 std::to_string(s.array->info.byte_size()) + " bytes arrived)"));
    }
  }
  for (auto& [event, status] : fail) event->SetReady(status);
}

PJRT_Device* PJRT_AsyncHostToDeviceTransferManager::device() const { return memory_->device; }

std::string PJRT_AsyncHostToDeviceTransferManager::Describe(int index) const {
  return "buffer " + std::to_string(index) + " (" + slots_[index].array->info.ToString() + " on chip:" +
         std::to_string(memory_->device->id()) + " " + memory_->kind + ")";
}

StatusOr<PJRT_AsyncHostToDeviceTransferManager::Slot*> PJRT_AsyncHostToDeviceTransferManager::SlotAt(
    int index, const char* function) {
  if (index < 0 || static_cast<size_t>(index) >= slots_.size()) {
    return chip::InvalidArgument(std::string(function) + ": buffer_index " + std::to_string(index) +
                                 " is out of range; the transfer manager has " + std::to_string(slots_.size()) +
                                 " buffer(s)");
  }
  return &slots_[index];
}

StatusOr<size_t> PJRT_AsyncHostToDeviceTransferManager::BufferSize(int index, const char* function) {
  std::lock_guard<std::mutex> lock(mu_);
  CHIP_ASSIGN_OR_RETURN(Slot * slot, SlotAt(index, function));
  return static_cast<size_t>(slot->array->info.byte_size());
}

Status PJRT_AsyncHostToDeviceTransferManager::TransferData(int index, const void* data, int64_t offset, int64_t size,
                                                           bool last, const char* function) {
  std::shared_ptr<AsyncEvent> complete;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CHIP_ASSIGN_OR_RETURN(Slot * slot, SlotAt(index, function));
    const int64_t total = slot->array->info.byte_size();
    if (slot->complete) {
      return chip::FailedPrecondition(std::string(function) + ": " + Describe(index) +
                                      " is already complete (its last transfer arrived, or an error was set)");
    }
    if (offset < 0 || size < 0 || offset > total || size > total - offset) {
      return chip::InvalidArgument(std::string(function) + ": bytes [" + std::to_string(offset) + ", " +
                                   std::to_string(offset) + "+" + std::to_string(size) + ") are outside " +
                                   Describe(index) + " (" + std::to_string(total) + " bytes)");
    }
    if (size > 0 && data == nullptr) return chip::InvalidArgument(std::string(function) + ": data is null");
    if (size > 0) {
      std::memcpy(static_cast<char*>(slot->array->allocation->data()) + offset, data, static_cast<size_t>(size));
    }
    slot->bytes_received += size;
    if (memory_->space == chip::MemorySpace::kDevice && size > 0) {
      memory_->device->chip().RecordHostToDevice(size, slot->array->info.ToString() + " (async transfer)");
    }
    if (last) {
      slot->complete = true;
      complete = slot->array->ready;
    }
  }
  if (complete) complete->SetReady();
  return Status::Ok();
}

StatusOr<PJRT_Buffer*> PJRT_AsyncHostToDeviceTransferManager::RetrieveBuffer(int index, const char* function) {
  std::lock_guard<std::mutex> lock(mu_);
  CHIP_ASSIGN_OR_RETURN(Slot * slot, SlotAt(index, function));
  if (slot->retrieved) {
    return chip::FailedPrecondition(std::string(function) + ": " + Describe(index) + " was already retrieved");
  }
  slot->retrieved = true;
  return new PJRT_Buffer(memory_->device, slot->array);
}

Status PJRT_AsyncHostToDeviceTransferManager::SetBufferError(int index, Status error, const char* function) {
  std::shared_ptr<AsyncEvent> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CHIP_ASSIGN_OR_RETURN(Slot * slot, SlotAt(index, function));
    if (slot->complete) {
      return chip::FailedPrecondition(std::string(function) + ": " + Describe(index) + " is already complete");
    }
    slot->complete = true;
    slot->array->allocation.reset();
    ready = slot->array->ready;
  }
  ready->SetReady(std::move(error));
  return Status::Ok();
}

namespace chip::api {

PJRT_Error* ClientCreateBuffersForAsyncHostToDevice(PJRT_Client_CreateBuffersForAsyncHostToDevice_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_CreateBuffersForAsyncHostToDevice";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_CreateBuffersForAsyncHostToDevice_Args, memory),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    CHIP_REQUIRE_NON_NULL(kFn, args->memory, "memory");
    if (!args->client->Owns(args->memory->device)) {
      return InvalidArgument(std::string(kFn) + ": memory " + args->memory->to_string +
                             " belongs to a different client");
    }
    if (args->num_shape_specs > 0 && args->shape_specs == nullptr) {
      return InvalidArgument(std::string(kFn) + ": shape_specs is null but num_shape_specs is " +
                             std::to_string(args->num_shape_specs));
    }
    if (args->num_device_layouts != 0 && args->num_device_layouts != args->num_shape_specs) {
      return InvalidArgument(std::string(kFn) + ": " + std::to_string(args->num_device_layouts) +
                             " device layouts for " + std::to_string(args->num_shape_specs) + " shape specs");
    }
    std::vector<TensorInfo> shapes;
    for (size_t i = 0; i < args->num_shape_specs; ++i) {
      const PJRT_ShapeSpec& spec = args->shape_specs[i];
      const std::string what = "shape_specs[" + std::to_string(i) + "]";
      CHIP_RETURN_IF_ERROR(CheckStructSize(kFn, what.c_str(), spec.struct_size, PJRT_ShapeSpec_STRUCT_SIZE));
      CHIP_ASSIGN_OR_RETURN(TensorInfo info, MakeTensorInfo(spec.element_type, spec.dims, spec.num_dims,
                                                            (std::string(kFn) + ": " + what).c_str()));
      if (args->num_device_layouts != 0 && args->device_layouts != nullptr && args->device_layouts[i] != nullptr) {
        const int64_t element_size = DTypeByteSize(info.dtype);
        CHIP_ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                              LayoutByteStrides(args->device_layouts[i], info.dims, element_size, kFn));
        if (!IsDenseRowMajor(info.dims, strides, element_size)) {
          return Unimplemented(std::string(kFn) + ": device_layouts[" + std::to_string(i) +
                               "] must be dense row-major (major-to-minor); the chip stores every array that way");
        }
      }
      shapes.push_back(std::move(info));
    }
    CHIP_ASSIGN_OR_RETURN(std::unique_ptr<PJRT_AsyncHostToDeviceTransferManager> manager,
                          PJRT_AsyncHostToDeviceTransferManager::Create(args->memory, shapes, kFn));
    args->transfer_manager = manager.release();
    return Status::Ok();
  });
}

PJRT_Error* TransferManagerDestroy(PJRT_AsyncHostToDeviceTransferManager_Destroy_Args* args) {
  return RunApi("PJRT_AsyncHostToDeviceTransferManager_Destroy", args,
                CHIP_MIN_ARGS_SIZE(PJRT_AsyncHostToDeviceTransferManager_Destroy_Args, transfer_manager),
                [&]() -> Status {
    std::unique_ptr<PJRT_AsyncHostToDeviceTransferManager> owned(args->transfer_manager);
    return Status::Ok();
  });
}

PJRT_Error* TransferManagerTransferData(PJRT_AsyncHostToDeviceTransferManager_TransferData_Args* args) {
  static constexpr const char* kFn = "PJRT_AsyncHostToDeviceTransferManager_TransferData";
  return RunApi(kFn, args,
                CHIP_MIN_ARGS_SIZE(PJRT_AsyncHostToDeviceTransferManager_TransferData_Args, is_last_transfer),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->transfer_manager, "transfer_manager");
    CHIP_RETURN_IF_ERROR(args->transfer_manager->TransferData(args->buffer_index, args->data, args->offset,
                                                              args->transfer_size, args->is_last_transfer, kFn));
    // The chunk is copied before returning: the host data is free at once.
    args->done_with_h2d_transfer = NewEvent(AsyncEvent::CreateReady());
    return Status::Ok();
  });
}

PJRT_Error* TransferManagerRetrieveBuffer(PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer_Args* args) {
  static constexpr const char* kFn = "PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer";
  return RunApi(kFn, args,
                CHIP_MIN_ARGS_SIZE(PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer_Args, buffer_index),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->transfer_manager, "transfer_manager");
    CHIP_ASSIGN_OR_RETURN(args->buffer_out, args->transfer_manager->RetrieveBuffer(args->buffer_index, kFn));
    return Status::Ok();
  });
}

PJRT_Error* TransferManagerDevice(PJRT_AsyncHostToDeviceTransferManager_Device_Args* args) {
  static constexpr const char* kFn = "PJRT_AsyncHostToDeviceTransferManager_Device";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_AsyncHostToDeviceTransferManager_Device_Args, transfer_manager),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->transfer_manager, "transfer_manager");
    args->device_out = args->transfer_manager->device();
    return Status::Ok();
  });
}

PJRT_Error* TransferManagerBufferCount(PJRT_AsyncHostToDeviceTransferManager_BufferCount_Args* args) {
  static constexpr const char* kFn = "PJRT_AsyncHostToDeviceTransferManager_BufferCount";
  return RunApi(kFn, args,
                CHIP_MIN_ARGS_SIZE(PJRT_AsyncHostToDeviceTransferManager_BufferCount_Args, transfer_manager),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->transfer_manager, "transfer_manager");
    args->buffer_count = args->transfer_manager->buffer_count();
    return Status::Ok();
  });
}

PJRT_Error* TransferManagerBufferSize(PJRT_AsyncHostToDeviceTransferManager_BufferSize_Args* args) {
  static constexpr const char* kFn = "PJRT_AsyncHostToDeviceTransferManager_BufferSize";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_AsyncHostToDeviceTransferManager_BufferSize_Args, buffer_index),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->transfer_manager, "transfer_manager");
    CHIP_ASSIGN_OR_RETURN(args->buffer_size, args->transfer_manager->BufferSize(args->buffer_index, kFn));
    return Status::Ok();
  });
}

PJRT_Error* TransferManagerSetBufferError(PJRT_AsyncHostToDeviceTransferManager_SetBufferError_Args* args) {
  static constexpr const char* kFn = "PJRT_AsyncHostToDeviceTransferManager_SetBufferError";
  return RunApi(kFn, args,
                CHIP_MIN_ARGS_SIZE(PJRT_AsyncHostToDeviceTransferManager_SetBufferError_Args, error_message_size),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->transfer_manager, "transfer_manager");
    if (args->error_message == nullptr && args->error_message_size > 0) {
      return InvalidArgument(std::string(kFn) + ": error_message is null");
    }
    std::unique_ptr<PJRT_Error> error(CallbackError(args->error_code, args->error_message, args->error_message_size));
    return args->transfer_manager->SetBufferError(args->buffer_index, error->status, kFn);
  });
}

PJRT_Error* TransferManagerAddMetadata(PJRT_AsyncHostToDeviceTransferManager_AddMetadata_Args* args) {
  static constexpr const char* kFn = "PJRT_AsyncHostToDeviceTransferManager_AddMetadata";
  return RunApi(kFn, args,
                CHIP_MIN_ARGS_SIZE(PJRT_AsyncHostToDeviceTransferManager_AddMetadata_Args, num_metadata),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->transfer_manager, "transfer_manager");
    if (args->num_metadata > 0 && args->transfer_metadata == nullptr) {
      return InvalidArgument(std::string(kFn) + ": transfer_metadata is null but num_metadata is " +
                             std::to_string(args->num_metadata));
    }
    // Transfer metadata are hints for DMA engines; the emulated host link takes none.
    return Status::Ok();
  });
}

}  // namespace chip::api
