// GetPjrtApi: the plugin's PJRT_Api table (PJRT C API 0.72, accepted by 0.70 callers such as
// jaxlib 0.6.2). Every slot is filled; functions the chip does not provide return UNIMPLEMENTED
// naming themselves. Extension chain: FFI -> memory descriptions -> layouts -> profiler.
#include <string>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/buffer.h"
#include "pjrt_plugin/api/chip_extension.h"
#include "pjrt_plugin/api/client.h"
#include "pjrt_plugin/api/compile.h"
#include "pjrt_plugin/api/device.h"
#include "pjrt_plugin/api/device_description.h"
#include "pjrt_plugin/api/error.h"
#include "pjrt_plugin/api/event.h"
#include "pjrt_plugin/api/executable.h"
#include "pjrt_plugin/api/ffi_extension.h"
#include "pjrt_plugin/api/layouts_extension.h"
#include "pjrt_plugin/api/loaded_executable.h"
#include "pjrt_plugin/api/memory.h"
#include "pjrt_plugin/api/profiler_extension.h"
#include "pjrt_plugin/api/topology.h"
#include "pjrt_plugin/api/transfer_manager.h"
#include "pjrt_plugin/api/version.h"
#include "xla/pjrt/c/pjrt_c_api.h"
#include "xla/pjrt/c/pjrt_c_api_memory_descriptions_extension.h"

namespace chip::api {
namespace {

// An entry point the chip does not provide: UNIMPLEMENTED, naming it.
#define CHIP_UNIMPLEMENTED_ENTRY(Name)                                                          \
  PJRT_Error* Unimplemented_##Name(Name##_Args* /*args*/) {                                     \
    return ToPjrtError(::chip::Unimplemented(#Name " is not implemented by the chip PJRT plugin")); \
  }

CHIP_UNIMPLEMENTED_ENTRY(PJRT_Client_CreateViewOfDeviceBuffer)
CHIP_UNIMPLEMENTED_ENTRY(PJRT_CopyToDeviceStream_Destroy)
CHIP_UNIMPLEMENTED_ENTRY(PJRT_CopyToDeviceStream_AddChunk)
CHIP_UNIMPLEMENTED_ENTRY(PJRT_CopyToDeviceStream_TotalBytes)
CHIP_UNIMPLEMENTED_ENTRY(PJRT_CopyToDeviceStream_GranuleSize)
CHIP_UNIMPLEMENTED_ENTRY(PJRT_CopyToDeviceStream_CurrentBytes)

#undef CHIP_UNIMPLEMENTED_ENTRY

PJRT_Error* PluginInitialize(PJRT_Plugin_Initialize_Args* args) {
  return RunApi("PJRT_Plugin_Initialize", args, kArgsHeaderSize,
                []() -> Status { return Status::Ok(); });
}

PJRT_Error* PluginAttributes(PJRT_Plugin_Attributes_Args* args) {
  static const std::string* version = new std::string(kPluginVersion);
  static const std::vector<PJRT_NamedValue>* attributes = new std::vector<PJRT_NamedValue>{
      NamedString("chip_plugin_version", *version),
      NamedInt64("xla_version", kXlaVersion),
      NamedInt64List("stablehlo_current_version", kStablehloCurrentVersion.data(), kStablehloCurrentVersion.size()),
      NamedInt64List("stablehlo_minimum_version", kStablehloMinimumVersion.data(), kStablehloMinimumVersion.size()),
  };
  return RunApi("PJRT_Plugin_Attributes", args, kArgsHeaderSize, [&]() -> Status {
    args->attributes = attributes->data();
    args->num_attributes = attributes->size();
    return Status::Ok();
  });
}

PJRT_Extension_Base* MemoryDescriptionsExtension(PJRT_Extension_Base* next) {
  static PJRT_MemoryDescriptions_Extension extension = [] {
    PJRT_MemoryDescriptions_Extension e{};
    e.base.struct_size = PJRT_MemoryDescriptions_Extension_STRUCT_SIZE;
    e.base.type = PJRT_Extension_Type_MemoryDescriptions;
    e.PJRT_DeviceDescription_MemoryDescriptions = DeviceDescriptionMemoryDescriptions;
    e.PJRT_MemoryDescription_Kind = MemoryDescriptionKind;
    return e;
  }();
  extension.base.next = next;
  return &extension.base;
}

PJRT_Api MakeApi() {
  PJRT_Api api{};
  api.struct_size = PJRT_Api_STRUCT_SIZE;
  api.extension_start =
      FfiExtension(MemoryDescriptionsExtension(LayoutsExtension(ProfilerExtension(nullptr))));
  api.pjrt_api_version.struct_size = PJRT_Api_Version_STRUCT_SIZE;
  api.pjrt_api_version.extension_start = nullptr;
  api.pjrt_api_version.major_version = PJRT_API_MAJOR;
  api.pjrt_api_version.minor_version = PJRT_API_MINOR;

  api.PJRT_Error_Destroy = ErrorDestroy;
  api.PJRT_Error_Message = ErrorMessage;
  api.PJRT_Error_GetCode = ErrorGetCode;

  api.PJRT_Plugin_Initialize = PluginInitialize;
  api.PJRT_Plugin_Attributes = PluginAttributes;

  api.PJRT_Event_Destroy = EventDestroy;
  api.PJRT_Event_IsReady = EventIsReady;
  api.PJRT_Event_Error = EventError;
  api.PJRT_Event_Await = EventAwait;
  api.PJRT_Event_OnReady = EventOnReady;

  api.PJRT_Client_Create = ClientCreate;
  api.PJRT_Client_Destroy = ClientDestroy;
  api.PJRT_Client_PlatformName = ClientPlatformName;
  api.PJRT_Client_ProcessIndex = ClientProcessIndex;
  api.PJRT_Client_PlatformVersion = ClientPlatformVersion;
  api.PJRT_Client_Devices = ClientDevices;
  api.PJRT_Client_AddressableDevices = ClientAddressableDevices;
  api.PJRT_Client_LookupDevice = ClientLookupDevice;
  api.PJRT_Client_LookupAddressableDevice = ClientLookupAddressableDevice;
  api.PJRT_Client_AddressableMemories = ClientAddressableMemories;
  api.PJRT_Client_Compile = ClientCompile;
  api.PJRT_Client_DefaultDeviceAssignment = ClientDefaultDeviceAssignment;
  api.PJRT_Client_BufferFromHostBuffer = ClientBufferFromHostBuffer;

  api.PJRT_DeviceDescription_Id = DeviceDescriptionId;
  api.PJRT_DeviceDescription_ProcessIndex = DeviceDescriptionProcessIndex;
  api.PJRT_DeviceDescription_Attributes = DeviceDescriptionAttributes;
  api.PJRT_DeviceDescription_Kind = DeviceDescriptionKind;
  api.PJRT_DeviceDescription_DebugString = DeviceDescriptionDebugString;
  api.PJRT_DeviceDescription_ToString = DeviceDescriptionToString;

  api.PJRT_Device_GetDescription = DeviceGetDescription;
  api.PJRT_Device_IsAddressable = DeviceIsAddressable;
  api.PJRT_Device_LocalHardwareId = DeviceLocalHardwareId;
  api.PJRT_Device_AddressableMemories = DeviceAddressableMemories;
  api.PJRT_Device_DefaultMemory = DeviceDefaultMemory;
  api.PJRT_Device_MemoryStats = DeviceMemoryStats;

  api.PJRT_Memory_Id = MemoryId;
  api.PJRT_Memory_Kind = MemoryKind;
  api.PJRT_Memory_DebugString = MemoryDebugString;
  api.PJRT_Memory_ToString = MemoryToString;
  api.PJRT_Memory_AddressableByDevices = MemoryAddressableByDevices;

  api.PJRT_Executable_Destroy = ExecutableDestroy;
  api.PJRT_Executable_Name = ExecutableName;
  api.PJRT_Executable_NumReplicas = ExecutableNumReplicas;
  api.PJRT_Executable_NumPartitions = ExecutableNumPartitions;
  api.PJRT_Executable_NumOutputs = ExecutableNumOutputs;
  api.PJRT_Executable_SizeOfGeneratedCodeInBytes = ExecutableSizeOfGeneratedCodeInBytes;
  api.PJRT_Executable_GetCostAnalysis = ExecutableGetCostAnalysis;
  api.PJRT_Executable_OutputMemoryKinds = ExecutableOutputMemoryKinds;
  api.PJRT_Executable_OptimizedProgram = ExecutableOptimizedProgram;
  api.PJRT_Executable_Serialize = ExecutableSerialize;

  api.PJRT_LoadedExecutable_Destroy = LoadedExecutableDestroy;
  api.PJRT_LoadedExecutable_GetExecutable = LoadedExecutableGetExecutable;
  api.PJRT_LoadedExecutable_AddressableDevices = LoadedExecutableAddressableDevices;
  api.PJRT_LoadedExecutable_Delete = LoadedExecutableDelete;
  api.PJRT_LoadedExecutable_IsDeleted = LoadedExecutableIsDeleted;
  api.PJRT_LoadedExecutable_Execute = LoadedExecutableExecute;
  api.PJRT_Executable_DeserializeAndLoad = ExecutableDeserializeAndLoad;
  api.PJRT_LoadedExecutable_Fingerprint = LoadedExecutableFingerprint;

  api.PJRT_Buffer_Destroy = BufferDestroy;
  api.PJRT_Buffer_ElementType = BufferElementType;
  api.PJRT_Buffer_Dimensions = BufferDimensions;
  api.PJRT_Buffer_UnpaddedDimensions = BufferUnpaddedDimensions;
  api.PJRT_Buffer_DynamicDimensionIndices = BufferDynamicDimensionIndices;
  api.PJRT_Buffer_GetMemoryLayout = BufferGetMemoryLayout;
  api.PJRT_Buffer_OnDeviceSizeInBytes = BufferOnDeviceSizeInBytes;
  api.PJRT_Buffer_Device = BufferDevice;
  api.PJRT_Buffer_Memory = BufferMemory;
  api.PJRT_Buffer_Delete = BufferDelete;
  api.PJRT_Buffer_IsDeleted = BufferIsDeleted;
  api.PJRT_Buffer_CopyToDevice = BufferCopyToDevice;
  api.PJRT_Buffer_ToHostBuffer = BufferToHostBuffer;
  api.PJRT_Buffer_IsOnCpu = BufferIsOnCpu;
  api.PJRT_Buffer_ReadyEvent = BufferReadyEvent;
  api.PJRT_Buffer_UnsafePointer = BufferUnsafePointer;
  api.PJRT_Buffer_IncreaseExternalReferenceCount = BufferIncreaseExternalReferenceCount;
  api.PJRT_Buffer_DecreaseExternalReferenceCount = BufferDecreaseExternalReferenceCount;
  api.PJRT_Buffer_OpaqueDeviceMemoryDataPointer = BufferOpaqueDeviceMemoryDataPointer;

  api.PJRT_CopyToDeviceStream_Destroy = Unimplemented_PJRT_CopyToDeviceStream_Destroy;
  api.PJRT_CopyToDeviceStream_AddChunk = Unimplemented_PJRT_CopyToDeviceStream_AddChunk;
  api.PJRT_CopyToDeviceStream_TotalBytes = Unimplemented_PJRT_CopyToDeviceStream_TotalBytes;
  api.PJRT_CopyToDeviceStream_GranuleSize = Unimplemented_PJRT_CopyToDeviceStream_GranuleSize;
  api.PJRT_CopyToDeviceStream_CurrentBytes = Unimplemented_PJRT_CopyToDeviceStream_CurrentBytes;

  api.PJRT_TopologyDescription_Create = TopologyDescriptionCreate;
  api.PJRT_TopologyDescription_Destroy = TopologyDescriptionDestroy;
  api.PJRT_TopologyDescription_PlatformName = TopologyDescriptionPlatformName;
  api.PJRT_TopologyDescription_PlatformVersion = TopologyDescriptionPlatformVersion;
  api.PJRT_TopologyDescription_GetDeviceDescriptions = TopologyDescriptionGetDeviceDescriptions;
  api.PJRT_TopologyDescription_Serialize = TopologyDescriptionSerialize;
  api.PJRT_TopologyDescription_Attributes = TopologyDescriptionAttributes;

  api.PJRT_Compile = Compile;

  api.PJRT_Executable_OutputElementTypes = ExecutableOutputElementTypes;
  api.PJRT_Executable_OutputDimensions = ExecutableOutputDimensions;

  api.PJRT_Buffer_CopyToMemory = BufferCopyToMemory;

  api.PJRT_Client_CreateViewOfDeviceBuffer = Unimplemented_PJRT_Client_CreateViewOfDeviceBuffer;

  api.PJRT_Executable_Fingerprint = ExecutableFingerprint;

  api.PJRT_Client_TopologyDescription = ClientTopologyDescription;

  api.PJRT_Executable_GetCompiledMemoryStats = ExecutableGetCompiledMemoryStats;

  api.PJRT_Memory_Kind_Id = MemoryKindId;

  api.PJRT_ExecuteContext_Create = ExecuteContextCreate;
  api.PJRT_ExecuteContext_Destroy = ExecuteContextDestroy;
  api.PJRT_Buffer_CopyRawToHost = BufferCopyRawToHost;
  api.PJRT_AsyncHostToDeviceTransferManager_Destroy = TransferManagerDestroy;
  api.PJRT_AsyncHostToDeviceTransferManager_TransferData = TransferManagerTransferData;
  api.PJRT_Client_CreateBuffersForAsyncHostToDevice = ClientCreateBuffersForAsyncHostToDevice;
  api.PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer = TransferManagerRetrieveBuffer;
  api.PJRT_AsyncHostToDeviceTransferManager_Device = TransferManagerDevice;
  api.PJRT_AsyncHostToDeviceTransferManager_BufferCount = TransferManagerBufferCount;
  api.PJRT_AsyncHostToDeviceTransferManager_BufferSize = TransferManagerBufferSize;
  api.PJRT_AsyncHostToDeviceTransferManager_SetBufferError = TransferManagerSetBufferError;
  api.PJRT_AsyncHostToDeviceTransferManager_AddMetadata = TransferManagerAddMetadata;
  api.PJRT_Client_DmaMap = ClientDmaMap;
  api.PJRT_Client_DmaUnmap = ClientDmaUnmap;

  api.PJRT_Client_CreateUninitializedBuffer = ClientCreateUninitializedBuffer;
  return api;
}

}  // namespace
}  // namespace chip::api

extern "C" CHIP_EXPORT const PJRT_Api* GetPjrtApi() {
  static const PJRT_Api api = chip::api::MakeApi();
  return &api;
}
