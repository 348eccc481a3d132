#include "pjrt_plugin/api/ffi_call.h"

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pjrt_plugin/api/ffi_extension.h"
#include "pjrt_plugin/kernels/custom_call.h"
#include "pjrt_plugin/core/dtype.h"

// The opaque XLA FFI types, as the plugin implements them.
struct XLA_FFI_Error {
  XLA_FFI_Error_Code code = XLA_FFI_Error_Code_UNKNOWN;
  std::string message;
};

struct XLA_FFI_ExecutionContext {
  int32_t device_ordinal = 0;
};

struct XLA_FFI_Future {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::unique_ptr<XLA_FFI_Error> error;
};

namespace chip::api {
namespace {

XLA_FFI_Error* MakeError(XLA_FFI_Error_Code code, std::string message) {
  auto* e = new XLA_FFI_Error();
  e->code = code;
  e->message = std::move(message);
  return e;
}

XLA_FFI_Error* Unavailable(const char* what) {
  return MakeError(XLA_FFI_Error_Code_UNIMPLEMENTED,
                   std::string(what) + " is not available to XLA FFI handlers on the chip");
}

// ---- the XLA_FFI_Api functions ------------------------------------------------------------------

XLA_FFI_Error* ErrorCreate(XLA_FFI_Error_Create_Args* args) {
  return MakeError(args->errc, args->message ? args->message : "");
}

void ErrorGetMessage(XLA_FFI_Error_GetMessage_Args* args) {
  args->message = args->error ? args->error->message.c_str() : "";
}

void ErrorDestroy(XLA_FFI_Error_Destroy_Args* args) { delete args->error; }

XLA_FFI_Error* HandlerRegister(XLA_FFI_Handler_Register_Args*) {
  return MakeError(XLA_FFI_Error_Code_UNIMPLEMENTED,
                   "register chip handlers with jax.ffi.register_ffi_target(..., platform=\"chip\")");
}

XLA_FFI_Error* StreamGet(XLA_FFI_Stream_Get_Args*) { return Unavailable("a stream"); }

XLA_FFI_Error* TypeIdRegister(XLA_FFI_TypeId_Register_Args* args) {
  int64_t id = args->type_id->type_id;
  const Status s = FfiRegistry::Global().RegisterTypeId(std::string(args->name.ptr, args->name.len), &id);
  if (!s.ok()) return MakeError(static_cast<XLA_FFI_Error_Code>(s.code()), s.message());
  args->type_id->type_id = id;
  return nullptr;
}

XLA_FFI_Error* ExecutionContextGet(XLA_FFI_ExecutionContext_Get_Args*) {
  return Unavailable("execute-context user data");
}

XLA_FFI_Error* StateSet(XLA_FFI_State_Set_Args*) { return Unavailable("per-instance state"); }
XLA_FFI_Error* StateGet(XLA_FFI_State_Get_Args*) { return Unavailable("per-instance state"); }

XLA_FFI_Error* DeviceMemoryAllocate(XLA_FFI_DeviceMemory_Allocate_Args* args) {
  // The chip is emulated: its memory is host memory.
  const size_t alignment = args->alignment < 64 ? 64 : args->alignment;
  if ((alignment & (alignment - 1)) != 0) {
    return MakeError(XLA_FFI_Error_Code_INVALID_ARGUMENT, "DeviceMemory_Allocate: alignment " +
                                                              std::to_string(args->alignment) + " is not a power of 2");
  }
  args->data = std::aligned_alloc(alignment, (args->size + alignment - 1) / alignment * alignment);
  if (args->data == nullptr && args->size > 0) {
    return MakeError(XLA_FFI_Error_Code_RESOURCE_EXHAUSTED,
                     "DeviceMemory_Allocate: " + std::to_string(args->size) + " bytes");
  }
  return nullptr;
}

XLA_FFI_Error* DeviceMemoryFree(XLA_FFI_DeviceMemory_Free_Args* args) {
  std::free(args->data);
  return nullptr;
}

XLA_FFI_Error* ThreadPoolSchedule(XLA_FFI_ThreadPool_Schedule_Args* args) {
  args->task(args->data);  // one thread: the task runs now
  return nullptr;
}

XLA_FFI_Error* ThreadPoolNumThreads(XLA_FFI_ThreadPool_NumThreads_Args* args) {
  *args->num_threads = 1;
  return nullptr;
}

XLA_FFI_Error* FutureCreate(XLA_FFI_Future_Create_Args* args) {
  args->future = new XLA_FFI_Future();
  return nullptr;
}

XLA_FFI_Error* FutureSetAvailable(XLA_FFI_Future_SetAvailable_Args* args) {
  std::lock_guard<std::mutex> lock(args->future->mu);
  args->future->done = true;
  args->future->cv.notify_all();
  return nullptr;
}

XLA_FFI_Error* FutureSetError(XLA_FFI_Future_SetError_Args* args) {
  std::lock_guard<std::mutex> lock(args->future->mu);
  args->future->error.reset(args->error);
  args->future->done = true;
  args->future->cv.notify_all();
  return nullptr;
}

XLA_FFI_Error* RunIdGet(XLA_FFI_RunId_Get_Args* args) {
  args->run_id = 0;
  return nullptr;
}

XLA_FFI_Error* DeviceOrdinalGet(XLA_FFI_DeviceOrdinal_Get_Args* args) {
  args->device_ordinal = args->ctx ? args->ctx->device_ordinal : 0;
  return nullptr;
}

XLA_FFI_Api MakeApi() {
  XLA_FFI_Api api{};
  api.struct_size = XLA_FFI_Api_STRUCT_SIZE;
  api.api_version = XLA_FFI_Api_Version{XLA_FFI_Api_Version_STRUCT_SIZE, nullptr, XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR};
  api.XLA_FFI_Error_Create = ErrorCreate;
  api.XLA_FFI_Error_GetMessage = ErrorGetMessage;
  api.XLA_FFI_Error_Destroy = ErrorDestroy;
  api.XLA_FFI_Handler_Register = HandlerRegister;
  api.XLA_FFI_Stream_Get = StreamGet;
  api.XLA_FFI_TypeId_Register = TypeIdRegister;
  api.XLA_FFI_ExecutionContext_Get = ExecutionContextGet;
  api.XLA_FFI_State_Set = StateSet;
  api.XLA_FFI_State_Get = StateGet;
  api.XLA_FFI_DeviceMemory_Allocate = DeviceMemoryAllocate;
  api.XLA_FFI_DeviceMemory_Free = DeviceMemoryFree;
  api.XLA_FFI_ThreadPool_Schedule = ThreadPoolSchedule;
  api.XLA_FFI_ThreadPool_NumThreads = ThreadPoolNumThreads;
  api.XLA_FFI_Future_Create = FutureCreate;
  api.XLA_FFI_Future_SetAvailable = FutureSetAvailable;
  api.XLA_FFI_Future_SetError = FutureSetError;
  api.XLA_FFI_RunId_Get = RunIdGet;
  api.XLA_FFI_DeviceOrdinal_Get = DeviceOrdinalGet;
  return api;
}

// ---- call frames --------------------------------------------------------------------------------

XLA_FFI_DataType FfiType(DType t) {
  switch (t) {
    case DType::kPred: return XLA_FFI_DataType_PRED;
    case DType::kS8: return XLA_FFI_DataType_S8;
    case DType::kU8: return XLA_FFI_DataType_U8;
    case DType::kS16: return XLA_FFI_DataType_S16;
    case DType::kU16: return XLA_FFI_DataType_U16;
    case DType::kS32: return XLA_FFI_DataType_S32;
    case DType::kU32: return XLA_FFI_DataType_U32;
    case DType::kF16: return XLA_FFI_DataType_F16;
    case DType::kBF16: return XLA_FFI_DataType_BF16;
    case DType::kF32: return XLA_FFI_DataType_F32;
    case DType::kC64: return XLA_FFI_DataType_C64;
    default: return XLA_FFI_DataType_INVALID;
  }
}

// An attribute element type name ("s64", "f32", ...) -> FFI type and byte size.
bool ElementType(const std::string& e, XLA_FFI_DataType* t, size_t* size) {
  static const struct { const char* name; XLA_FFI_DataType type; size_t size; } kTypes[] = {
      {"pred", XLA_FFI_DataType_PRED, 1}, {"s8", XLA_FFI_DataType_S8, 1},    {"u8", XLA_FFI_DataType_U8, 1},
      {"s16", XLA_FFI_DataType_S16, 2},   {"u16", XLA_FFI_DataType_U16, 2},  {"s32", XLA_FFI_DataType_S32, 4},
      {"u32", XLA_FFI_DataType_U32, 4},   {"s64", XLA_FFI_DataType_S64, 8},  {"u64", XLA_FFI_DataType_U64, 8},
      {"f16", XLA_FFI_DataType_F16, 2},   {"bf16", XLA_FFI_DataType_BF16, 2}, {"f32", XLA_FFI_DataType_F32, 4},
      {"f64", XLA_FFI_DataType_F64, 8},
  };
  for (const auto& k : kTypes) {
    if (e == k.name) {
      *t = k.type;
      *size = k.size;
      return true;
    }
  }
  return false;
}

// Stores `v` as `size` bytes of a number of type `t` at `dst`.
void StoreNumber(XLA_FFI_DataType t, size_t size, double f, int64_t i, bool is_float, uint8_t* dst) {
  switch (t) {
    case XLA_FFI_DataType_F32: { float x = static_cast<float>(is_float ? f : static_cast<double>(i)); std::memcpy(dst, &x, 4); return; }
    case XLA_FFI_DataType_F64: { double x = is_float ? f : static_cast<double>(i); std::memcpy(dst, &x, 8); return; }
    case XLA_FFI_DataType_BF16: { uint16_t x = F32ToBF16Bits(static_cast<float>(f)); std::memcpy(dst, &x, 2); return; }
    case XLA_FFI_DataType_F16: { uint16_t x = F32ToF16Bits(static_cast<float>(f)); std::memcpy(dst, &x, 2); return; }
    default: {
      const int64_t v = is_float ? static_cast<int64_t>(f) : i;
      std::memcpy(dst, &v, size);  // little endian: the low bytes
      return;
    }
  }
}

// Everything a call frame points at, kept alive for the call.
class CallFrameBuilder {
 public:
  Status Build(const kernels::CustomCallAttributes& attrs, const kernels::TensorRefs& inputs,
               const kernels::TensorRefs& outputs, XLA_FFI_ExecutionContext* ctx, XLA_FFI_CallFrame* frame) {
    AddBuffers(inputs, &in_buffers_, &in_dims_);
    AddBuffers(outputs, &out_buffers_, &out_dims_);
    for (auto& b : in_buffers_) in_ptrs_.push_back(&b);
    for (auto& b : out_buffers_) out_ptrs_.push_back(&b);
    in_types_.assign(inputs.size(), XLA_FFI_ArgType_BUFFER);
    out_types_.assign(outputs.size(), XLA_FFI_RetType_BUFFER);
    // Attributes: std::map iterates in name order, which is the order XLA FFI requires.
    const auto& all = attrs.all();
    // Reserved up front: the frame points into these vectors.
    names_.reserve(all.size());
    strings_.reserve(all.size());
    scalars_.reserve(all.size());
    arrays_.reserve(all.size());
    storage_.reserve(all.size());
    for (const auto& [name, a] : all) {
      names_.push_back(XLA_FFI_ByteSpan{name.data(), name.size()});
      using Kind = kernels::CustomCallAttributes::Kind;
      if (a.kind == Kind::kString) {
        strings_.push_back(XLA_FFI_ByteSpan{a.s.data(), a.s.size()});
        attr_types_.push_back(XLA_FFI_AttrType_STRING);
        attr_ptrs_.push_back(&strings_.back());
        continue;
      }
      XLA_FFI_DataType t;
      size_t size;
      if (!ElementType(a.element, &t, &size)) {
        return InvalidArgument("attribute '" + name + "' has element type '" + a.element +
                               "', which XLA FFI handlers on the chip do not receive");
      }
      const bool is_float = a.kind == Kind::kFloat || a.kind == Kind::kFloats;
      const size_t n = (a.kind == Kind::kInts) ? a.ints.size() : (a.kind == Kind::kFloats ? a.floats.size() : 1);
      storage_.emplace_back(n * size + 8);
      uint8_t* data = storage_.back().data();
      for (size_t k = 0; k < n; ++k) {
        const double f = a.kind == Kind::kFloats ? a.floats[k] : a.f;
        const int64_t i = a.kind == Kind::kInts ? a.ints[k] : a.i;
        StoreNumber(t, size, f, i, is_float, data + k * size);
      }
      if (a.kind == Kind::kInt || a.kind == Kind::kFloat) {
        scalars_.push_back(XLA_FFI_Scalar{t, data});
        attr_types_.push_back(XLA_FFI_AttrType_SCALAR);
        attr_ptrs_.push_back(&scalars_.back());
      } else {
        arrays_.push_back(XLA_FFI_Array{t, n, data});
        attr_types_.push_back(XLA_FFI_AttrType_ARRAY);
        attr_ptrs_.push_back(&arrays_.back());
      }
    }
    for (auto& n : names_) name_ptrs_.push_back(&n);

    std::memset(frame, 0, sizeof(*frame));
    frame->struct_size = XLA_FFI_CallFrame_STRUCT_SIZE;
    frame->api = FfiApi();
    frame->ctx = ctx;
    frame->stage = XLA_FFI_ExecutionStage_EXECUTE;
    frame->args = XLA_FFI_Args{XLA_FFI_Args_STRUCT_SIZE, nullptr, static_cast<int64_t>(inputs.size()),
                               in_types_.data(), in_ptrs_.data()};
    frame->rets = XLA_FFI_Rets{XLA_FFI_Rets_STRUCT_SIZE, nullptr, static_cast<int64_t>(outputs.size()),
                               out_types_.data(), out_ptrs_.data()};
    frame->attrs = XLA_FFI_Attrs{XLA_FFI_Attrs_STRUCT_SIZE, nullptr, static_cast<int64_t>(attr_types_.size()),
                                 attr_types_.data(), name_ptrs_.data(), attr_ptrs_.data()};
    frame->future = nullptr;
    return Status::Ok();
  }

 private:
  static void AddBuffers(const kernels::TensorRefs& refs, std::vector<XLA_FFI_Buffer>* buffers,
                         std::vector<std::vector<int64_t>>* dims) {
    buffers->reserve(refs.size());
    dims->reserve(refs.size());
    for (const kernels::TensorRef& r : refs) {
      dims->push_back(r.info->dims);
      XLA_FFI_Buffer b{};
      b.struct_size = XLA_FFI_Buffer_STRUCT_SIZE;
      b.dtype = FfiType(r.info->dtype);
      b.data = r.data;
      b.rank = static_cast<int64_t>(r.info->dims.size());
      b.dims = dims->back().data();
      buffers->push_back(b);
    }
  }

  std::vector<XLA_FFI_Buffer> in_buffers_, out_buffers_;
  std::vector<std::vector<int64_t>> in_dims_, out_dims_;
  std::vector<void*> in_ptrs_, out_ptrs_;
  std::vector<XLA_FFI_ArgType> in_types_;
  std::vector<XLA_FFI_RetType> out_types_;
  std::vector<XLA_FFI_ByteSpan> names_, strings_;
  std::vector<XLA_FFI_ByteSpan*> name_ptrs_;
  std::vector<XLA_FFI_Scalar> scalars_;
  std::vector<XLA_FFI_Array> arrays_;
  std::vector<std::vector<uint8_t>> storage_;
  std::vector<XLA_FFI_AttrType> attr_types_;
  std::vector<void*> attr_ptrs_;
};

Status FromFfiError(const std::string& target, std::unique_ptr<XLA_FFI_Error> e) {
  const int code = static_cast<int>(e->code);
  const StatusCode sc = (code > 0 && code <= 16) ? static_cast<StatusCode>(code) : StatusCode::kUnknown;
  return Status(sc, "XLA FFI handler '" + target + "' failed: " + e->message);
}

class FfiCustomCalls : public kernels::ExternalCustomCalls {
 public:
  bool Has(const std::string& target) const override {
    return FfiRegistry::Global().FindHandler(target).has_value();
  }

  Status Run(const std::string& target, const kernels::CustomCallAttributes& attrs, const kernels::TensorRefs& inputs,
             const kernels::TensorRefs& outputs) const override {
    const std::optional<FfiHandler> handler = FfiRegistry::Global().FindHandler(target);
    if (!handler) return NotFound("no XLA FFI handler is registered for '" + target + "' on platform chip");
    if (handler->instantiate || handler->prepare || handler->initialize) {
      return Unimplemented("XLA FFI handler '" + target +
                           "' has instantiate/prepare/initialize stages; the chip runs execute-only handlers");
    }
    CallFrameBuilder builder;
    XLA_FFI_ExecutionContext ctx;
    XLA_FFI_CallFrame frame;
    CHIP_RETURN_IF_ERROR(builder.Build(attrs, inputs, outputs, &ctx, &frame));
    std::unique_ptr<XLA_FFI_Error> error(handler->execute(&frame));
    if (error) return FromFfiError(target, std::move(error));
    if (frame.future != nullptr) {  // asynchronous handler: wait for it
      std::unique_ptr<XLA_FFI_Future> future(frame.future);
      std::unique_lock<std::mutex> lock(future->mu);
      future->cv.wait(lock, [&] { return future->done; });
      if (future->error) return FromFfiError(target, std::move(future->error));
    }
    return Status::Ok();
  }
};

}  // namespace

const XLA_FFI_Api* FfiApi() {
  static const XLA_FFI_Api api = MakeApi();
  return &api;
}

void InstallFfiCustomCalls() {
  static const bool installed = [] {
    kernels::SetExternalCustomCalls(std::make_shared<FfiCustomCalls>());
    return true;
  }();
  (void)installed;
}

namespace {
// The plugin library installs the provider when it is loaded (the api library is alwayslink).
const bool kInstalled = (InstallFfiCustomCalls(), true);
}  // namespace

}  // namespace chip::api
