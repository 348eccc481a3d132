// The FFI side: the PJRT FFI extension (type ids, execute-context user data) and handler
// registration for platform "chip" through chip_ffi_register_handler.
#include <string>

#include "api_test_util.h"
#include "xla/pjrt/c/pjrt_c_api_ffi_extension.h"

namespace chip::testing {
namespace {

const PJRT_FFI_Extension* FfiExtension() {
  for (const PJRT_Extension_Base* e = Api()->extension_start; e != nullptr; e = e->next) {
    if (e->type == PJRT_Extension_Type_FFI) return reinterpret_cast<const PJRT_FFI_Extension*>(e);
  }
  return nullptr;
}

PJRT_Error* RegisterTypeId(const std::string& name, int64_t* id) {
  auto a = CHIP_ARGS(PJRT_FFI_TypeID_Register_Args);
  a.type_name = name.c_str();
  a.type_name_size = name.size();
  a.type_id = *id;
  PJRT_Error* e = FfiExtension()->type_id_register(&a);
  *id = a.type_id;
  return e;
}

TEST(FfiTest, TypeIdRegistration) {
  ASSERT_NE(FfiExtension(), nullptr);
  int64_t a = 0;
  CHIP_ASSERT_OK(RegisterTypeId("test.TypeA", &a));
  EXPECT_GT(a, 0);
  int64_t b = 0;
  CHIP_ASSERT_OK(RegisterTypeId("test.TypeB", &b));
  EXPECT_NE(a, b);
  int64_t again = 0;  // 0 looks the id up
  CHIP_ASSERT_OK(RegisterTypeId("test.TypeA", &again));
  EXPECT_EQ(again, a);
  int64_t same = a;  // the same id verifies
  CHIP_EXPECT_OK(RegisterTypeId("test.TypeA", &same));
  int64_t wrong = a + 1000;
  EXPECT_TRUE(FailsWith(RegisterTypeId("test.TypeA", &wrong), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_FFI_TypeID_Register", "test.TypeA"}));
  int64_t chosen = 987654;  // a new name may bring its own id
  CHIP_EXPECT_OK(RegisterTypeId("test.TypeC", &chosen));
  EXPECT_EQ(chosen, 987654);
  int64_t taken = 987654;
  EXPECT_TRUE(FailsWith(RegisterTypeId("test.TypeD", &taken), PJRT_Error_Code_ALREADY_EXISTS, {"987654"}));

  // The exported entry point shares the registry.
  auto reg = Plugin::Get().Symbol<char* (*)(const char*, int64_t*)>("chip_ffi_register_type_id");
  auto chip_free = Plugin::Get().Symbol<void (*)(void*)>("chip_free");
  int64_t via_export = 0;
  char* err = reg("test.TypeA", &via_export);
  EXPECT_EQ(err, nullptr) << err;
  chip_free(err);
  EXPECT_EQ(via_export, a);
}

int g_deleted = 0;

TEST(FfiTest, ExecuteContextUserData) {
  auto create = CHIP_ARGS(PJRT_ExecuteContext_Create_Args);
  CHIP_ASSERT_OK(Api()->PJRT_ExecuteContext_Create(&create));
  ASSERT_NE(create.context, nullptr);
  static int payload = 42;
  auto add = CHIP_ARGS(PJRT_FFI_UserData_Add_Args);
  add.context = create.context;
  add.user_data.type_id = 5;
  add.user_data.data = &payload;
  add.user_data.deleter = [](void* p) { g_deleted += *static_cast<int*>(p); };
  CHIP_ASSERT_OK(FfiExtension()->user_data_add(&add));
  EXPECT_TRUE(FailsWith(FfiExtension()->user_data_add(&add), PJRT_Error_Code_ALREADY_EXISTS, {"type id 5"}));
  auto destroy = CHIP_ARGS(PJRT_ExecuteContext_Destroy_Args);
  destroy.context = create.context;
  CHIP_ASSERT_OK(Api()->PJRT_ExecuteContext_Destroy(&destroy));
  EXPECT_EQ(g_deleted, 42);  // the deleter ran once
}

extern "C" void* FakeHandler(void*) { return nullptr; }
extern "C" void* OtherHandler(void*) { return nullptr; }

TEST(FfiTest, HandlerRegistration) {
  using RegisterFn = char* (*)(const char*, void*, void*, void*, void*, int, uint32_t);
  auto reg = Plugin::Get().Symbol<RegisterFn>("chip_ffi_register_handler");
  auto chip_free = Plugin::Get().Symbol<void (*)(void*)>("chip_free");
  ASSERT_NE(reg, nullptr);
  auto h = reinterpret_cast<void*>(&FakeHandler);
  auto other = reinterpret_cast<void*>(&OtherHandler);

  char* err = reg("test_target", h, nullptr, nullptr, nullptr, 1, 0);
  EXPECT_EQ(err, nullptr) << err;
  chip_free(err);
  err = reg("test_target", h, nullptr, nullptr, nullptr, 1, 0);  // idempotent
  EXPECT_EQ(err, nullptr) << err;
  chip_free(err);

  err = reg("test_target", other, nullptr, nullptr, nullptr, 1, 0);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("already registered"), std::string::npos) << err;
  chip_free(err);

  err = reg("legacy_target", h, nullptr, nullptr, nullptr, 0, 0);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("api_version 0"), std::string::npos) << err;
  chip_free(err);

  err = reg("no_execute", nullptr, h, nullptr, nullptr, 1, 0);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("no execute stage"), std::string::npos) << err;
  chip_free(err);
}

}  // namespace
}  // namespace chip::testing
