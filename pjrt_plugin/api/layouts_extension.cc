#include "pjrt_plugin/api/layouts_extension.h"

#include <memory>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/buffer.h"
#include "pjrt_plugin/api/dtypes.h"

std::string PJRT_Layouts_MemoryLayout::Serialize() const {
  std::string s = "{";
  for (size_t i = 0; i < minor_to_major.size(); ++i) {
    if (i > 0) s += ",";
    s += std::to_string(minor_to_major[i]);
  }
  return s + "}";
}

namespace chip::api {

std::vector<int64_t> RowMajorMinorToMajor(size_t rank) {
  std::vector<int64_t> m(rank);
  for (size_t i = 0; i < rank; ++i) m[i] = static_cast<int64_t>(rank - 1 - i);
  return m;
}

namespace {

PJRT_Error* MemoryLayoutDestroy(PJRT_Layouts_MemoryLayout_Destroy_Args* args) {
  return RunApi("PJRT_Layouts_MemoryLayout_Destroy", args,
                CHIP_MIN_ARGS_SIZE(PJRT_Layouts_MemoryLayout_Destroy_Args, layout), [&]() -> Status {
    std::unique_ptr<PJRT_Layouts_MemoryLayout> owned(args->layout);
    return Status::Ok();
  });
}

PJRT_Error* MemoryLayoutSerialize(PJRT_Layouts_MemoryLayout_Serialize_Args* args) {
  static constexpr const char* kFn = "PJRT_Layouts_MemoryLayout_Serialize";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Layouts_MemoryLayout_Serialize_Args, layout), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->layout, "layout");
    auto s = std::make_unique<PJRT_Layouts_SerializedLayout>();
    s->bytes = args->layout->Serialize();
    args->serialized_bytes = s->bytes.data();
    args->serialized_bytes_size = s->bytes.size();
    args->serialized_layout_deleter = [](PJRT_Layouts_SerializedLayout* l) { delete l; };
    args->serialized_layout = s.release();
    return Status::Ok();
  });
}

PJRT_Error* ClientGetDefaultLayout(PJRT_Layouts_PJRT_Client_GetDefaultLayout_Args* args) {
  static constexpr const char* kFn = "PJRT_Layouts_PJRT_Client_GetDefaultLayout";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Layouts_PJRT_Client_GetDefaultLayout_Args, num_dims),
                [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    CHIP_ASSIGN_OR_RETURN(TensorInfo info, MakeTensorInfo(args->type, args->dims, args->num_dims, kFn));
    args->layout = new PJRT_Layouts_MemoryLayout(RowMajorMinorToMajor(info.dims.size()));
    return Status::Ok();
  });
}

PJRT_Error* BufferMemoryLayout(PJRT_Layouts_PJRT_Buffer_MemoryLayout_Args* args) {
  static constexpr const char* kFn = "PJRT_Layouts_PJRT_Buffer_MemoryLayout";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Layouts_PJRT_Buffer_MemoryLayout_Args, buffer), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->buffer, "buffer");
    args->layout = new PJRT_Layouts_MemoryLayout(args->buffer->minor_to_major);
    return Status::Ok();
  });
}

}  // namespace

PJRT_Extension_Base* LayoutsExtension(PJRT_Extension_Base* next) {
  static PJRT_Layouts_Extension extension = [] {
    PJRT_Layouts_Extension e{};
    e.base.struct_size = PJRT_Layouts_Extension_STRUCT_SIZE;
    e.base.type = PJRT_Extension_Type_Layouts;
    e.PJRT_Layouts_MemoryLayout_Destroy = MemoryLayoutDestroy;
    e.PJRT_Layouts_MemoryLayout_Serialize = MemoryLayoutSerialize;
    e.PJRT_Layouts_PJRT_Client_GetDefaultLayout = ClientGetDefaultLayout;
    e.PJRT_Layouts_PJRT_Buffer_MemoryLayout = BufferMemoryLayout;
    return e;
  }();
  extension.base.next = next;
  return &extension.base;
}

}  // namespace chip::api
