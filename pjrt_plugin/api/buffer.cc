#include "pjrt_plugin/api/buffer.h"

#include <cstring>
#include <limits>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/client.h"
#include "pjrt_plugin/api/device.h"
#include "pjrt_plugin/api/dtypes.h"
#include "pjrt_plugin/api/event.h"
#include "pjrt_plugin/api/host_layout.h"
#include "pjrt_plugin/api/layouts_extension.h"

PJRT_Buffer::PJRT_Buffer(PJRT_Device* device, std::shared_ptr<chip::DeviceArray> array)
    : device(device),
      memory(device->memory(array->space)),
      info(array->info),
      type(chip::api::ToPjrtType(array->info.dtype)),
      minor_to_major(chip::api::RowMajorMinorToMajor(array->info.dims.size())),
      array_(std::move(array)) {}

std::string PJRT_Buffer::Describe() const {
  return info.ToString() + " on chip:" + std::to_string(device->id()) +
         (memory->space == chip::MemorySpace::kDevice ? "" : " " + memory->kind);
}

chip::Status PJRT_Buffer::DeletedError(const char* function) const {
  return chip::FailedPrecondition(std::string(function) + ": buffer was deleted or donated (" + Describe() +
                                  (donated_ ? " was donated to an execution" : " was deleted") + ")");
}

chip::StatusOr<std::shared_ptr<chip::DeviceArray>> PJRT_Buffer::array(const char* function) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (array_ == nullptr) return DeletedError(function);
  return array_;
}

void PJRT_Buffer::Delete() {
  std::shared_ptr<chip::DeviceArray> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  dropped = std::move(array_);
}

std::shared_ptr<chip::DeviceArray> PJRT_Buffer::Donate() {
  std::lock_guard<std::mutex> lock(mu_);
  if (array_ != nullptr) donated_ = true;
  return std::move(array_);
}

bool PJRT_Buffer::is_deleted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return array_ == nullptr;
}

bool PJRT_Buffer::has_external_references() const {
  std::lock_guard<std::mutex> lock(mu_);
  return external_references_ > 0;
}

chip::Status PJRT_Buffer::IncreaseExternalReferences(const char* function) {
  std::lock_guard<std::mutex> lock(mu_);
  if (array_ == nullptr) return DeletedError(function);
  ++external_references_;
  external_hold_ = array_;
  return chip::Status::Ok();
}

chip::Status PJRT_Buffer::DecreaseExternalReferences(const char* function) {
  std::lock_guard<std::mutex> lock(mu_);
  if (external_references_ == 0) {
    return chip::FailedPrecondition(std::string(function) + ": the external reference count of " + Describe() +
                                    " is already zero");
  }
  if (--external_references_ == 0) external_hold_.reset();
  return chip::Status::Ok();
}

namespace chip::api {

StatusOr<TensorInfo> MakeTensorInfo(PJRT_Buffer_Type type, const int64_t* dims, size_t num_dims,
                                    const char* function) {
  CHIP_ASSIGN_OR_RETURN(DType dtype, FromPjrtType(type, function));
  if (num_dims > 0 && dims == nullptr) {
    return InvalidArgument(std::string(function) + ": dims is null but num_dims is " + std::to_string(num_dims));
  }
  TensorInfo info;
  info.dtype = dtype;
  info.dims.assign(dims, dims + num_dims);
  int64_t bytes = DTypeByteSize(dtype);
  for (size_t i = 0; i < num_dims; ++i) {
    if (dims[i] < 0) {
      return InvalidArgument(std::string(function) + ": dimension " + std::to_string(i) + " is " +
                             std::to_string(dims[i]) + "; dimensions must be >= 0");
    }
    if (dims[i] > 0 && bytes > std::numeric_limits<int64_t>::max() / dims[i]) {
      return InvalidArgument(std::string(function) + ": the array " + info.ToString() +
                             " is too large to address");
    }
    bytes *= dims[i];
  }
  return info;
}

namespace {

// Resolves the target device of a transfer from a device and/or a memory of `client`.
StatusOr<PJRT_Device*> TargetDevice(PJRT_Client* client, PJRT_Device* device, PJRT_Memory* memory,
                                    const char* function) {
  if (memory != nullptr) {
    if (device != nullptr && device != memory->device) {
      return InvalidArgument(std::string(function) + ": device chip:" + std::to_string(device->id()) +
                             " and memory " + memory->to_string + " (of chip:" +
                             std::to_string(memory->device->id()) + ") disagree");
    }
    device = memory->device;
  }
  if (device == nullptr) return InvalidArgument(std::string(function) + ": neither device nor memory is set");
  if (client != nullptr && !client->Owns(device)) {
    return InvalidArgument(std::string(function) + ": device chip:" + std::to_string(device->id()) +
                           " belongs to a different client");
  }
  return device;
}

Status WithContext(const Status& s, const char* function) {
  if (s.ok()) return s;
  return Status(s.code(), std::string(function) + ": " + s.message());
}

// Waits for the array to be produced and returns its storage (for callers that need a pointer now).
StatusOr<void*> ReadyData(const std::shared_ptr<DeviceArray>& array, const char* function) {
  CHIP_RETURN_IF_ERROR(WithContext(array->ready->Await(), function));
  if (array->allocation == nullptr) return Internal(std::string(function) + ": array has no storage");
  return array->allocation->data();
}

}  // namespace

PJRT_Error* ClientBufferFromHostBuffer(PJRT_Client_BufferFromHostBuffer_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_BufferFromHostBuffer";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_BufferFromHostBuffer_Args, device_layout), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    CHIP_ASSIGN_OR_RETURN(PJRT_Device * device, TargetDevice(args->client, args->device, args->memory, kFn));
    CHIP_ASSIGN_OR_RETURN(TensorInfo info, MakeTensorInfo(args->type, args->dims, args->num_dims, kFn));
    const int64_t element_size = DTypeByteSize(info.dtype);
    const int64_t bytes = info.byte_size();
    if (bytes > 0 && args->data == nullptr) return InvalidArgument(std::string(kFn) + ": data is null");

    if (args->device_layout != nullptr) {
      CHIP_ASSIGN_OR_RETURN(std::vector<int64_t> device_strides,
                            LayoutByteStrides(args->device_layout, info.dims, element_size, kFn));
      if (!IsDenseRowMajor(info.dims, device_strides, element_size)) {
        return Unimplemented(std::string(kFn) +
                             ": device_layout must be dense row-major (major-to-minor); the chip "
                             "stores every array that way");
      }
    }

    // The host array, dense: copy strided host data into a dense staging buffer first.
    const void* host = args->data;
    std::vector<char> staging;
    if (args->num_byte_strides != 0) {
      if (args->num_byte_strides != args->num_dims || args->byte_strides == nullptr) {
        return InvalidArgument(std::string(kFn) + ": " + std::to_string(args->num_byte_strides) +
                               " byte strides given for a rank-" + std::to_string(args->num_dims) + " array");
      }
      std::vector<int64_t> strides(args->byte_strides, args->byte_strides + args->num_byte_strides);
      if (!IsDenseRowMajor(info.dims, strides, element_size)) {
        staging.resize(static_cast<size_t>(bytes));
        CopyStridedToDense(args->data, strides, info.dims, element_size, staging.data());
        host = staging.data();
      }
    }
    static const char kEmpty[1] = {0};
    if (bytes == 0) host = kEmpty;

    // The copy is made now, whatever the host buffer semantics: the host buffer is free at once.
    const MemorySpace space = args->memory != nullptr ? args->memory->space : MemorySpace::kDevice;
    StatusOr<std::shared_ptr<DeviceArray>> array = device->chip().CreateFromHost(info, host, space);
    CHIP_RETURN_IF_ERROR(WithContext(array.status(), kFn));
    args->buffer = new PJRT_Buffer(device, std::move(array).value());
    args->done_with_host_buffer = NewEvent(AsyncEvent::CreateReady());
    return Status::Ok();
  });
}

PJRT_Error* ClientCreateUninitializedBuffer(PJRT_Client_CreateUninitializedBuffer_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_CreateUninitializedBuffer";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_CreateUninitializedBuffer_Args, memory), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    CHIP_ASSIGN_OR_RETURN(PJRT_Device * device, TargetDevice(args->client, args->device, args->memory, kFn));
    CHIP_ASSIGN_OR_RETURN(TensorInfo info,
                          MakeTensorInfo(args->shape_element_type, args->shape_dims, args->shape_num_dims, kFn));
    if (args->shape_layout != nullptr) {
      const int64_t element_size = DTypeByteSize(info.dtype);
      CHIP_ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                            LayoutByteStrides(args->shape_layout, info.dims, element_size, kFn));
      if (!IsDenseRowMajor(info.dims, strides, element_size)) {
        return Unimplemented(std::string(kFn) + ": shape_layout must be dense row-major");
      }
    }
    const MemorySpace space = args->memory != nullptr ? args->memory->space : MemorySpace::kDevice;
    StatusOr<std::shared_ptr<DeviceAllocation>> alloc = device->chip().allocator(space).Allocate(
        static_cast<size_t>(info.byte_size()), "uninitialized buffer " + info.ToString());
    CHIP_RETURN_IF_ERROR(WithContext(alloc.status(), kFn));
    // Deterministic contents: the emulator zero-fills what real hardware would leave undefined.
    if (info.byte_size() > 0) std::memset(alloc.value()->data(), 0, static_cast<size_t>(info.byte_size()));
    auto array = std::make_shared<DeviceArray>(device->id(), info, AsyncEvent::CreateReady(), space);
    array->allocation = std::move(alloc).value();
    args->buffer = new PJRT_Buffer(device, std::move(array));
    return Status::Ok();
  });
}

PJRT_Error* BufferDestroy(PJRT_Buffer_Destroy_Args* args) {
  return RunApi("PJRT_Buffer_Destroy", args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_Destroy_Args, buffer), [&]() -> Status {
    std::unique_ptr<PJRT_Buffer> owned(args->buffer);
    return Status::Ok();
  });
}

PJRT_Error* BufferElementType(PJRT_Buffer_ElementType_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_ElementType";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_ElementType_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->type = args->buffer->type;
    return Status::Ok();
  });
}

PJRT_Error* BufferDimensions(PJRT_Buffer_Dimensions_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_Dimensions";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_Dimensions_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->dims = args->buffer->info.dims.data();
    args->num_dims = args->buffer->info.dims.size();
    return Status::Ok();
  });
}

PJRT_Error* BufferUnpaddedDimensions(PJRT_Buffer_UnpaddedDimensions_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_UnpaddedDimensions";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_UnpaddedDimensions_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->unpadded_dims = args->buffer->info.dims.data();  // the chip has no dynamic padding
    args->num_dims = args->buffer->info.dims.size();
    return Status::Ok();
  });
}

PJRT_Error* BufferDynamicDimensionIndices(PJRT_Buffer_DynamicDimensionIndices_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_DynamicDimensionIndices";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_DynamicDimensionIndices_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->dynamic_dim_indices = nullptr;  // every dimension is static
    args->num_dynamic_dims = 0;
    return Status::Ok();
  });
}

PJRT_Error* BufferGetMemoryLayout(PJRT_Buffer_GetMemoryLayout_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_GetMemoryLayout";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_GetMemoryLayout_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    PJRT_Buffer_MemoryLayout& l = args->layout;
    std::memset(&l, 0, sizeof(l));
    l.struct_size = PJRT_Buffer_MemoryLayout_STRUCT_SIZE;
    l.type = PJRT_Buffer_MemoryLayout_Type_Tiled;
    l.tiled.struct_size = PJRT_Buffer_MemoryLayout_Tiled_STRUCT_SIZE;
    l.tiled.minor_to_major = args->buffer->minor_to_major.data();
    l.tiled.minor_to_major_size = args->buffer->minor_to_major.size();
    l.tiled.tile_dims = nullptr;
    l.tiled.tile_dim_sizes = nullptr;
    l.tiled.num_tiles = 0;
    return Status::Ok();
  });
}

PJRT_Error* BufferOnDeviceSizeInBytes(PJRT_Buffer_OnDeviceSizeInBytes_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_OnDeviceSizeInBytes";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_OnDeviceSizeInBytes_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    CHIP_RETURN_IF_ERROR(args->buffer->array(kFn).status());
    args->on_device_size_in_bytes = static_cast<size_t>(args->buffer->info.byte_size());
    return Status::Ok();
  });
}

PJRT_Error* BufferDevice(PJRT_Buffer_Device_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_Device";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_Device_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->device = args->buffer->device;
    return Status::Ok();
  });
}

PJRT_Error* BufferMemory(PJRT_Buffer_Memory_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_Memory";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_Memory_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->memory = args->buffer->memory;
    return Status::Ok();
  });
}

PJRT_Error* BufferDelete(PJRT_Buffer_Delete_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_Delete";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_Delete_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->buffer->Delete();
    return Status::Ok();
  });
}

PJRT_Error* BufferIsDeleted(PJRT_Buffer_IsDeleted_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_IsDeleted";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_IsDeleted_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->is_deleted = args->buffer->is_deleted();
    return Status::Ok();
  });
}

namespace {

// Copies `buffer` to memory `space` of `dst_device` (any chip of the same client, its own
// included; between a chip's HBM and its pinned host memory, the host link).
StatusOr<PJRT_Buffer*> CopyBufferToDevice(PJRT_Buffer* buffer, PJRT_Device* dst_device, MemorySpace space,
                                          const char* function) {
  CHIP_ASSIGN_OR_RETURN(std::shared_ptr<DeviceArray> src, buffer->array(function));
  if (dst_device->client != buffer->device->client) {
    return InvalidArgument(std::string(function) + ": destination chip:" + std::to_string(dst_device->id()) +
                           " belongs to a different client than the buffer " + buffer->Describe());
  }
  auto dst = std::make_shared<DeviceArray>(dst_device->id(), src->info, AsyncEvent::Create(), space);
  dst_device->chip().EnqueueCopy(src, dst);
  return new PJRT_Buffer(dst_device, std::move(dst));
}

}  // namespace

PJRT_Error* BufferCopyToDevice(PJRT_Buffer_CopyToDevice_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_CopyToDevice";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_CopyToDevice_Args, dst_device), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    CHIP_REQUIRE_NON_NULL(kFn, args->dst_device, "dst_device");
    CHIP_ASSIGN_OR_RETURN(args->dst_buffer,
                          CopyBufferToDevice(args->buffer, args->dst_device, MemorySpace::kDevice, kFn));
    return Status::Ok();
  });
}

PJRT_Error* BufferCopyToMemory(PJRT_Buffer_CopyToMemory_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_CopyToMemory";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_CopyToMemory_Args, dst_memory), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    CHIP_REQUIRE_NON_NULL(kFn, args->dst_memory, "dst_memory");
    CHIP_ASSIGN_OR_RETURN(args->dst_buffer, CopyBufferToDevice(args->buffer, args->dst_memory->device,
                                                               args->dst_memory->space, kFn));
    return Status::Ok();
  });
}

namespace {

// Copies the array's bytes [offset, offset + size) to `dst` (dense) or, with `strides`, the whole
// array to a strided host array at `dst`, once the array is ready. Returns the completion event.
std::shared_ptr<AsyncEvent> EnqueueToHost(std::shared_ptr<DeviceArray> array, ChipDevice* chip, void* dst,
                                          int64_t offset, int64_t size,
                                          std::vector<int64_t> strides /* empty: dense */) {
  auto done = AsyncEvent::Create();
  std::shared_ptr<AsyncEvent> ready = array->ready;
  ready->OnReady([array = std::move(array), chip, dst, offset, size, strides = std::move(strides),
                  done](const Status& status) {
    if (!status.ok()) {
      done->SetReady(status);
      return;
    }
    if (array->allocation == nullptr) {
      done->SetReady(Internal("device-to-host copy: array " + array->info.ToString() + " has no storage"));
      return;
    }
    const char* src = static_cast<const char*>(array->allocation->data());
    if (strides.empty()) {
      if (size > 0) std::memcpy(dst, src + offset, static_cast<size_t>(size));
    } else {
      CopyDenseToStrided(src, array->info.dims, DTypeByteSize(array->info.dtype), strides, dst);
    }
    // From pinned host memory the host reads its own RAM: no host-link transfer.
    if (array->space == MemorySpace::kDevice) chip->RecordDeviceToHost(size);
    done->SetReady(Status::Ok());
  });
  return done;
}

}  // namespace

PJRT_Error* BufferToHostBuffer(PJRT_Buffer_ToHostBuffer_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_ToHostBuffer";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_ToHostBuffer_Args, dst_size), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->src, "src");
    PJRT_Buffer* buffer = args->src;
    const TensorInfo& info = buffer->info;
    const int64_t element_size = DTypeByteSize(info.dtype);
    CHIP_ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                          LayoutByteStrides(args->host_layout, info.dims, element_size, kFn));
    const bool dense = IsDenseRowMajor(info.dims, strides, element_size);
    const int64_t needed = dense ? info.byte_size() : StridedByteSpan(info.dims, strides, element_size).size();
    if (args->dst == nullptr) {
      // A size query. For an empty array it is also the copy itself (callers pass the null data
      // pointer of an empty host array and then wait on the event), so that gets a ready event.
      args->dst_size = static_cast<size_t>(needed);
      args->event = nullptr;
      if (needed == 0) {
        CHIP_RETURN_IF_ERROR(buffer->array(kFn).status());
        args->event = NewEvent(AsyncEvent::CreateReady());
      }
      return Status::Ok();
    }
    if (args->dst_size < static_cast<size_t>(needed)) {
      return InvalidArgument(std::string(kFn) + ": dst_size is " + std::to_string(args->dst_size) + " bytes but " +
                             buffer->Describe() + " needs " + std::to_string(needed));
    }
    CHIP_ASSIGN_OR_RETURN(std::shared_ptr<DeviceArray> array, buffer->array(kFn));
    std::shared_ptr<AsyncEvent> done =
        EnqueueToHost(std::move(array), &buffer->device->chip(), args->dst, 0, info.byte_size(),
                      dense ? std::vector<int64_t>() : std::move(strides));
    args->event = NewEvent(std::move(done));
    return Status::Ok();
  });
}

PJRT_Error* BufferCopyRawToHost(PJRT_Buffer_CopyRawToHost_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_CopyRawToHost";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_CopyRawToHost_Args, transfer_size), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    PJRT_Buffer* buffer = args->buffer;
    const int64_t total = buffer->info.byte_size();
    if (args->offset < 0 || args->transfer_size < 0 || args->offset > total ||
        args->transfer_size > total - args->offset) {
      return InvalidArgument(std::string(kFn) + ": bytes [" + std::to_string(args->offset) + ", " +
                             std::to_string(args->offset) + "+" + std::to_string(args->transfer_size) +
                             ") are outside " + buffer->Describe() + " (" + std::to_string(total) + " bytes)");
    }
    if (args->transfer_size > 0 && args->dst == nullptr) return InvalidArgument(std::string(kFn) + ": dst is null");
    CHIP_ASSIGN_OR_RETURN(std::shared_ptr<DeviceArray> array, buffer->array(kFn));
    args->event = NewEvent(EnqueueToHost(std::move(array), &buffer->device->chip(), args->dst, args->offset,
                                         args->transfer_size, {}));
    return Status::Ok();
  });
}

PJRT_Error* BufferIsOnCpu(PJRT_Buffer_IsOnCpu_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_IsOnCpu";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_IsOnCpu_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->is_on_cpu = false;  // chip memory: the host must not read it directly
    return Status::Ok();
  });
}

PJRT_Error* BufferReadyEvent(PJRT_Buffer_ReadyEvent_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_ReadyEvent";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_ReadyEvent_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    StatusOr<std::shared_ptr<DeviceArray>> array = args->buffer->array(kFn);
    // A deleted or donated buffer gives an event that has already failed (PJRT's contract).
    args->event = NewEvent(array.ok() ? array.value()->ready : AsyncEvent::CreateReady(array.status()));
    return Status::Ok();
  });
}

PJRT_Error* BufferUnsafePointer(PJRT_Buffer_UnsafePointer_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_UnsafePointer";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_UnsafePointer_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    CHIP_ASSIGN_OR_RETURN(std::shared_ptr<DeviceArray> array, args->buffer->array(kFn));
    CHIP_ASSIGN_OR_RETURN(void* data, ReadyData(array, kFn));
    args->buffer_pointer = reinterpret_cast<uintptr_t>(data);
    return Status::Ok();
  });
}

PJRT_Error* BufferIncreaseExternalReferenceCount(PJRT_Buffer_IncreaseExternalReferenceCount_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_IncreaseExternalReferenceCount";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_IncreaseExternalReferenceCount_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    return args->buffer->IncreaseExternalReferences(kFn);
  });
}

PJRT_Error* BufferDecreaseExternalReferenceCount(PJRT_Buffer_DecreaseExternalReferenceCount_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_DecreaseExternalReferenceCount";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_DecreaseExternalReferenceCount_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    return args->buffer->DecreaseExternalReferences(kFn);
  });
}

PJRT_Error* BufferOpaqueDeviceMemoryDataPointer(PJRT_Buffer_OpaqueDeviceMemoryDataPointer_Args* args) {
  static constexpr const char* kFn = "PJRT_Buffer_OpaqueDeviceMemoryDataPointer";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Buffer_OpaqueDeviceMemoryDataPointer_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    CHIP_ASSIGN_OR_RETURN(std::shared_ptr<DeviceArray> array, args->buffer->array(kFn));
    CHIP_ASSIGN_OR_RETURN(args->device_memory_ptr, ReadyData(array, kFn));
    return Status::Ok();
  });
}

}  // namespace chip::api
