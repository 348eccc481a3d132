// The chip_* exports that hand facts and kernels to the Python side (api/chip_extension.h): the
// chip model's field table and the Elementwise instruction table as JSON, and
// chip_run_executable, which runs an executable on host memory and reports errors as text.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "pjrt_plugin/tests/api_test_util.h"

namespace chip::testing {
namespace {

using JsonFn = const char* (*)();
using RunFn = int (*)(const void*, size_t, const void* const*, int, void* const*, int, char*, size_t);

std::string Json(const char* name) {
  JsonFn fn = Plugin::Get().Symbol<JsonFn>(name);
  EXPECT_NE(fn, nullptr) << name;
  return fn == nullptr ? "" : fn();
}

RunFn RunExecutable() { return Plugin::Get().Symbol<RunFn>("chip_run_executable"); }

TEST(ChipExtensionTest, ConfigFieldsJsonListsTheTable) {
  const std::string json = Json("chip_config_fields_json");
  ASSERT_EQ(json.front(), '[');
  ASSERT_EQ(json.back(), ']');
  EXPECT_NE(json.find("{\"name\": \"num_devices\", \"type\": \"int\", \"kind\": \"int\", \"default\": 1,"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("{\"name\": \"hbm_bytes\", \"type\": \"int64_t\", \"kind\": \"int\", \"default\": 17179869184,"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"name\": \"matrix_f32_flops\", \"type\": \"double\", \"kind\": \"float\", \"default\": 4.925e+13,"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"name\": \"matrix_tile\""), std::string::npos);
}

TEST(ChipExtensionTest, ElementwiseOpsJsonIsInEwOpOrder) {
  const std::string json = Json("chip_elementwise_ops_json");
  EXPECT_EQ(json.rfind("[{\"name\": \"LOAD\", \"value\": 0, \"arity\": \"view\", \"operands\": 0, "
                       "\"transcendental\": false}",
                       0),
            0u)
      << json;
  EXPECT_NE(json.find("{\"name\": \"EXP\", \"value\": 13, \"arity\": \"unary\", \"operands\": 1, "
                      "\"transcendental\": true}"),
            std::string::npos);
  EXPECT_NE(json.find("{\"name\": \"SELECT\", \"value\": 25, \"arity\": \"ternary\", \"operands\": 3, "
                      "\"transcendental\": false}"),
            std::string::npos);
}

TEST(ChipExtensionTest, RunExecutableComputesOnHostBuffers) {
  AddProgram spec;
  spec.with_product = true;
  const std::string exe = BuildAddProgram(spec);
  std::vector<float> a = RandomFloats(32, 1), b = RandomFloats(32, 2), sum(32), prod(32);
  const void* params[] = {a.data(), b.data()};
  void* outputs[] = {sum.data(), prod.data()};
  char error[256] = "untouched";
  ASSERT_EQ(RunExecutable()(exe.data(), exe.size(), params, 2, outputs, 2, error, sizeof(error)), 0) << error;
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(sum[i], a[i] + b[i]);
    EXPECT_EQ(prod[i], a[i] * b[i]);
  }
}

TEST(ChipExtensionTest, RunExecutableDonatedOutputStartsAsItsParameter) {
  AddProgram spec;
  spec.donate_a = true;
  const std::string exe = BuildAddProgram(spec);
  std::vector<float> a = RandomFloats(32, 3), b = RandomFloats(32, 4), out(32, -1.0f);
  const std::vector<float> a_before = a;
  const void* params[] = {a.data(), b.data()};
  void* outputs[] = {out.data()};
  char error[256] = "";
  ASSERT_EQ(RunExecutable()(exe.data(), exe.size(), params, 2, outputs, 1, error, sizeof(error)), 0) << error;
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], a_before[i] + b[i]);
  EXPECT_EQ(a, a_before);  // the caller's parameter is not written
}

TEST(ChipExtensionTest, RunExecutableErrorsAreText) {
  const std::string exe = BuildAddProgram(AddProgram{});
  std::vector<float> a(32), b(32), out(32);
  const void* params[] = {a.data(), b.data()};
  void* outputs[] = {out.data()};
  char error[512] = "";
  EXPECT_EQ(RunExecutable()(exe.data(), exe.size(), params, 1, outputs, 1, error, sizeof(error)), -1);
  EXPECT_NE(std::string(error).find("2 parameter(s) and 1 output(s); got 1 and 1"), std::string::npos) << error;

  const std::string garbage = "CHPX but not really";
  EXPECT_EQ(RunExecutable()(garbage.data(), garbage.size(), nullptr, 0, nullptr, 0, error, sizeof(error)), -1);
  EXPECT_NE(std::string(error).find("chip_run_executable: INVALID_ARGUMENT"), std::string::npos) << error;

  EXPECT_EQ(RunExecutable()(nullptr, 0, nullptr, 0, nullptr, 0, error, sizeof(error)), -1);
  EXPECT_NE(std::string(error).find("null"), std::string::npos) << error;

  // A message longer than the buffer is truncated and terminated.
  char small[8];
  std::memset(small, 'x', sizeof(small));
  EXPECT_EQ(RunExecutable()(garbage.data(), garbage.size(), nullptr, 0, nullptr, 0, small, sizeof(small)), -1);
  EXPECT_EQ(std::string(small), "chip_ru");
}

}  // namespace
}  // namespace chip::testing
