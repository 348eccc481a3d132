// The PJRT profiler extension (api/profiler_extension.h): present in the PJRT_Api extension chain
// (jaxlib 0.6.2 crashes jax.profiler.trace for plugins without it), and its session life cycle
// through the profiler plugin C API: create, start, stop, collect, destroy, and errors for
// out-of-order calls that name the call. This process has no Python interpreter, so a session's
// XSpace is empty here (jax_chip.xspace builds the chip's planes: tests/test_jax_profiler.py).
#include <gtest/gtest.h>

#include <string>

#include "pjrt_plugin/tests/api_test_util.h"
#include "xla/backends/profiler/plugin/profiler_c_api.h"
#include "xla/pjrt/c/pjrt_c_api_profiler_extension.h"

namespace chip::testing {
namespace {

const PJRT_Profiler_Extension* FindProfiler(const PJRT_Api* api) {
  for (auto* e = api->extension_start; e != nullptr; e = e->next) {
    if (e->type == PJRT_Extension_Type_Profiler) return reinterpret_cast<const PJRT_Profiler_Extension*>(e);
  }
  return nullptr;
}

std::string TakeMessage(const PLUGIN_Profiler_Api* p, PLUGIN_Profiler_Error* error) {
  PLUGIN_Profiler_Error_Message_Args m{PLUGIN_Profiler_Error_Message_Args_STRUCT_SIZE, nullptr, error, nullptr, 0};
  p->error_message(&m);
  std::string message(m.message, m.message_size);
  PLUGIN_Profiler_Error_Destroy_Args d{PLUGIN_Profiler_Error_Destroy_Args_STRUCT_SIZE, nullptr, error};
  p->error_destroy(&d);
  return message;
}

TEST(ProfilerExtensionTest, IsInTheExtensionChainWithEverySlotFilled) {
  const PJRT_Profiler_Extension* ext = FindProfiler(Plugin::Get().api());
  ASSERT_NE(ext, nullptr);
  const PLUGIN_Profiler_Api* p = ext->profiler_api;
  ASSERT_NE(p, nullptr);
  EXPECT_GE(p->struct_size, PLUGIN_Profiler_Api_STRUCT_SIZE);
  EXPECT_NE(p->error_destroy, nullptr);
  EXPECT_NE(p->error_message, nullptr);
  EXPECT_NE(p->error_get_code, nullptr);
  EXPECT_NE(p->create, nullptr);
  EXPECT_NE(p->destroy, nullptr);
  EXPECT_NE(p->start, nullptr);
  EXPECT_NE(p->stop, nullptr);
  EXPECT_NE(p->collect_data, nullptr);
}

TEST(ProfilerExtensionTest, SessionLifeCycle) {
  const PLUGIN_Profiler_Api* p = FindProfiler(Plugin::Get().api())->profiler_api;
  PLUGIN_Profiler_Create_Args create{PLUGIN_Profiler_Create_Args_STRUCT_SIZE, "", 0, nullptr};
  ASSERT_EQ(p->create(&create), nullptr);
  ASSERT_NE(create.profiler, nullptr);

  PLUGIN_Profiler_Start_Args start{PLUGIN_Profiler_Start_Args_STRUCT_SIZE, create.profiler};
  ASSERT_EQ(p->start(&start), nullptr);
  PLUGIN_Profiler_Error* twice = p->start(&start);
  ASSERT_NE(twice, nullptr);
  PLUGIN_Profiler_Error_GetCode_Args code{PLUGIN_Profiler_Error_GetCode_Args_STRUCT_SIZE, nullptr, twice, 0};
  EXPECT_EQ(p->error_get_code(&code), nullptr);
  EXPECT_EQ(code.code, 9);  // FAILED_PRECONDITION
  EXPECT_NE(TakeMessage(p, twice).find("PLUGIN_Profiler_Start"), std::string::npos);

  PLUGIN_Profiler_Stop_Args stop{PLUGIN_Profiler_Stop_Args_STRUCT_SIZE, create.profiler};
  ASSERT_EQ(p->stop(&stop), nullptr);
  PLUGIN_Profiler_CollectData_Args collect{PLUGIN_Profiler_CollectData_Args_STRUCT_SIZE, create.profiler, nullptr, 99};
  ASSERT_EQ(p->collect_data(&collect), nullptr);
  EXPECT_EQ(collect.buffer_size_in_bytes, 0u);  // an empty XSpace serializes to no bytes
  EXPECT_NE(collect.buffer, nullptr);            // the session's own bytes (jaxlib 0.6.2 reads them)
  uint8_t mine[4] = {7, 7, 7, 7};
  collect.buffer = mine;                         // the header's second call: copied into the caller's
  ASSERT_EQ(p->collect_data(&collect), nullptr);
  EXPECT_EQ(collect.buffer_size_in_bytes, 0u);
  EXPECT_EQ(mine[0], 7);

  PLUGIN_Profiler_Destroy_Args destroy{PLUGIN_Profiler_Destroy_Args_STRUCT_SIZE, create.profiler};
  EXPECT_EQ(p->destroy(&destroy), nullptr);
}

TEST(ProfilerExtensionTest, NullArgumentsAreErrorsNotCrashes) {
  const PLUGIN_Profiler_Api* p = FindProfiler(Plugin::Get().api())->profiler_api;
  EXPECT_NE(TakeMessage(p, p->create(nullptr)).find("PLUGIN_Profiler_Create"), std::string::npos);
  PLUGIN_Profiler_Start_Args start{PLUGIN_Profiler_Start_Args_STRUCT_SIZE, nullptr};
  EXPECT_NE(TakeMessage(p, p->start(&start)).find("no profiler"), std::string::npos);
  PLUGIN_Profiler_CollectData_Args collect{PLUGIN_Profiler_CollectData_Args_STRUCT_SIZE, nullptr, nullptr, 0};
  EXPECT_NE(TakeMessage(p, p->collect_data(&collect)).find("no profiler"), std::string::npos);
}

}  // namespace
}  // namespace chip::testing
