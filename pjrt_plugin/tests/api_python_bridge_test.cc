// The compiler bridge with a real Python interpreter: this test loads libpython (dlopen,
// RTLD_GLOBAL) before the plugin, so the plugin's weak Python symbols bind to it, installs a fake
// jax_chip.compiler.driver module, and drives PJRT_Client_Compile through the C API: successful
// compiles, errors with and without `pjrt_code`, wrong return types, bad executables, and the
// FAILED_PRECONDITION before the interpreter is initialized.
#include <cstdio>
#include <fstream>
#include <string>

#include "api_test_util.h"

// Under LeakSanitizer (--config=asan): the embedded interpreter's own allocations outlive the
// test (CPython never frees everything); leaks through the plugin are still reported.
extern "C" __attribute__((visibility("default"), used)) const char* __lsan_default_suppressions() { return "leak:libpython\n"; }

namespace chip::testing {
namespace {

// The Python C-API functions the test uses, looked up in the loaded libpython.
struct Python {
  void (*Initialize)() = nullptr;
  int (*IsInitialized)() = nullptr;
  int (*RunSimpleString)(const char*) = nullptr;
  void* (*SaveThread)() = nullptr;
  int (*GILStateEnsure)() = nullptr;
  void (*GILStateRelease)(int) = nullptr;
};

std::string Run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p)) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Loads the libpython of the python3 on PATH (the project venv's interpreter). Aborts the test
// binary if there is none: this test is about the bridge and cannot run without it.
Python LoadPython() {
  const std::string info = Run(
      "python3 -c \"import os, sys, sysconfig; "
      "print(os.path.join(sysconfig.get_config_var('LIBDIR'), sysconfig.get_config_var('LDLIBRARY'))); "
      "print(sys.base_prefix)\"");
  const size_t nl = info.find('\n');
  const std::string lib = info.substr(0, nl);
  const std::string home = nl == std::string::npos ? "" : info.substr(nl + 1);
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (h == nullptr) {
    std::fprintf(stderr, "cannot load libpython '%s' (from python3 on PATH): %s\n", lib.c_str(), dlerror());
    std::abort();
  }
  setenv("PYTHONHOME", home.c_str(), 1);
  Python py;
  py.Initialize = reinterpret_cast<void (*)()>(dlsym(h, "Py_Initialize"));
  py.IsInitialized = reinterpret_cast<int (*)()>(dlsym(h, "Py_IsInitialized"));
  py.RunSimpleString = reinterpret_cast<int (*)(const char*)>(dlsym(h, "PyRun_SimpleString"));
  py.SaveThread = reinterpret_cast<void* (*)()>(dlsym(h, "PyEval_SaveThread"));
  py.GILStateEnsure = reinterpret_cast<int (*)()>(dlsym(h, "PyGILState_Ensure"));
  py.GILStateRelease = reinterpret_cast<void (*)(int)>(dlsym(h, "PyGILState_Release"));
  return py;
}

const char* kFakeDriver = R"PY(
import sys, types
for name in ("jax_chip", "jax_chip.compiler"):
    sys.modules.setdefault(name, types.ModuleType(name))
driver = types.ModuleType("jax_chip.compiler.driver")

class UnsupportedOp(Exception):
    pjrt_code = "UNIMPLEMENTED"

class BadProgram(Exception):
    pjrt_code = "INVALID_ARGUMENT"

calls = []

def compile_program(code, fmt, compile_options, chip_config):
    calls.append((code, fmt, compile_options, dict(chip_config)))
    assert isinstance(code, bytes) and isinstance(fmt, str) and isinstance(compile_options, dict)
    if code == b"unsupported":
        raise UnsupportedOp("stablehlo.fft at model.py:12 is not supported on the chip")
    if code == b"bad":
        raise BadProgram("parameter 0 has type tensor<3xf64>")
    if code == b"crash":
        return 1 / 0
    if code == b"not-bytes":
        return 42
    if code == b"garbage":
        return b"CHPX but not really"
    with open(code.decode()[len("exe:"):], "rb") as f:
        return bytearray(f.read())

driver.compile_program = compile_program
driver.calls = calls
sys.modules["jax_chip.compiler.driver"] = driver
)PY";

PJRT_Error* Compile(PJRT_Client* client, const std::string& code, const std::string& options,
                    LoadedExecutablePtr* out = nullptr) {
  PJRT_Program program{};
  program.struct_size = PJRT_Program_STRUCT_SIZE;
  program.code = const_cast<char*>(code.data());
  program.code_size = code.size();
  program.format = "mlir";
  program.format_size = 4;
  auto a = CHIP_ARGS(PJRT_Client_Compile_Args);
  a.client = client;
  a.program = &program;
  a.compile_options = options.data();
  a.compile_options_size = options.size();
  PJRT_Error* e = Api()->PJRT_Client_Compile(&a);
  if (e == nullptr) {
    LoadedExecutablePtr exe(a.executable);
    if (out != nullptr) *out = std::move(exe);
  }
  return e;
}

TEST(PythonBridgeTest, CompilesThroughThePythonDriver) {
  Python py = LoadPython();
  ASSERT_NE(py.Initialize, nullptr);
  ClientPtr client = CreateClient({{"num_devices", 2}, {"hbm_bytes", 1 << 30}});  // loads the plugin
  const std::string options = CompileOptionsForDevices({1});

  // Python is loaded but not initialized: no compiler host yet.
  ASSERT_EQ(py.IsInitialized(), 0);
  EXPECT_TRUE(FailsWith(Compile(client.get(), "module", options), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"Python"}));

  py.Initialize();
  ASSERT_EQ(py.RunSimpleString(kFakeDriver), 0);
  py.SaveThread();  // release the GIL like a Python host calling into the plugin does

  // A successful compile: the driver's bytes become the executable, on the assigned chip.
  const std::string path = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
                           "/bridge_add_program.chipx";
  const std::string exe_bytes = BuildAddProgram({});
  std::ofstream(path, std::ios::binary) << exe_bytes;
  LoadedExecutablePtr exe;
  CHIP_ASSERT_OK(Compile(client.get(), "exe:" + path, options, &exe));
  auto dev = CHIP_ARGS(PJRT_LoadedExecutable_AddressableDevices_Args);
  dev.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_LoadedExecutable_AddressableDevices(&dev));
  ASSERT_EQ(dev.num_addressable_devices, 1u);
  EXPECT_EQ(DeviceId(dev.addressable_devices[0]), 1);
  std::vector<PJRT_Device*> devices = Devices(client.get());
  std::vector<float> a = RandomFloats(32, 41), b = RandomFloats(32, 42);
  BufferPtr ba = FromHost(client.get(), devices[1], PJRT_Buffer_Type_F32, {4, 8}, a.data());
  BufferPtr bb = FromHost(client.get(), devices[1], PJRT_Buffer_Type_F32, {4, 8}, b.data());
  std::vector<BufferPtr> out;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 1, &out));
  std::vector<float> sum = ToHostFloats(out[0].get());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(sum[i], a[i] + b[i]);

  // The driver saw the program, the format, the compile options and the chip config.
  int g = py.GILStateEnsure();
  EXPECT_EQ(py.RunSimpleString(R"PY(
import sys
code, fmt, opts, cfg = sys.modules["jax_chip.compiler.driver"].calls[-1]
assert fmt == "mlir", fmt
assert code.startswith(b"exe:"), code
assert opts == {"num_replicas": 1, "num_partitions": 1, "device_ordinal": -1, "device_ids": [1]}, opts
assert cfg["num_devices"] == 2 and cfg["hbm_bytes"] == 1 << 30 and cfg["matrix_tile"] == 128, cfg
)PY"),
            0);
  py.GILStateRelease(g);

  // Errors: pjrt_code is honoured, anything else is INTERNAL with the traceback.
  EXPECT_TRUE(FailsWith(Compile(client.get(), "unsupported", options), PJRT_Error_Code_UNIMPLEMENTED,
                        {"PJRT_Client_Compile", "stablehlo.fft at model.py:12"}));
  EXPECT_TRUE(FailsWith(Compile(client.get(), "bad", options), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"tensor<3xf64>"}));
  EXPECT_TRUE(FailsWith(Compile(client.get(), "crash", options), PJRT_Error_Code_INTERNAL,
                        {"ZeroDivisionError", "Traceback", "compile_program"}));
  EXPECT_TRUE(FailsWith(Compile(client.get(), "not-bytes", options), PJRT_Error_Code_INTERNAL,
                        {"expected bytes", "int"}));
  EXPECT_TRUE(FailsWith(Compile(client.get(), "garbage", options), PJRT_Error_Code_INTERNAL,
                        {"the runtime rejects"}));
}

}  // namespace
}  // namespace chip::testing
