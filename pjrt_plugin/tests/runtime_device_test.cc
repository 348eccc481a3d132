// ChipDevice end to end: executions through the queue, donation and aliasing, the scratch arena,
// out-of-memory and error propagation (the worker survives both), ordering, copies, the modeled
// clock and the Chrome trace.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "pjrt_plugin/runtime/executor.h"
#include "pjrt_plugin/runtime/trace.h"
#include "pjrt_plugin/tests/json_value.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using exe::EwOp;
using testing::Dims;
using testing::HostTensor;
using testing::ProgramBuilder;

// out = a * b + 1 elementwise (through a TEMP holding a * b) and a dot of a with itself^T.
std::string MulAddProgram(const Dims& dims, DType t = DType::kF32) {
  ProgramBuilder pb("mul_add");
  const int a = pb.Param(t, dims);
  const int b = pb.Param(t, dims);
  const int tmp = pb.Temp(t, dims);
  const int out = pb.Output(t, dims);
  testing::ElementwiseSpec mul;
  mul.dims = dims;
  mul.views = {testing::IdentityView(0, dims), testing::IdentityView(1, dims)};
  mul.instrs = {{EwOp::LOAD, t, 0}, {EwOp::LOAD, t, 1}, {EwOp::MUL, t, 0, 1}};
  mul.results = {{2, 0}};
  pb.Elementwise({a, b}, {tmp}, mul, "fusion.mul");
  testing::ElementwiseSpec add;
  add.dims = dims;
  add.views = {testing::IdentityView(0, dims)};
  add.instrs = {{EwOp::LOAD, t, 0}, {EwOp::CONST, t, 0, 0, 0, 1, 1.0}, {EwOp::ADD, t, 0, 1}};
  add.results = {{2, 0}};
  pb.Elementwise({tmp}, {out}, add, "fusion.add");
  return pb.Finish();
}

// out (aliasing param 0) = param0 + param1.
std::string AccumulateProgram(const Dims& dims) {
  ProgramBuilder pb("accumulate");
  pb.Param(DType::kF32, dims, /*aliased_output=*/0);
  const int d = pb.Param(DType::kF32, dims);
  const int out = pb.Output(DType::kF32, dims, /*aliased_parameter=*/0);
  testing::ElementwiseSpec add;
  add.dims = dims;
  add.views = {testing::IdentityView(0, dims), testing::IdentityView(1, dims)};
  add.instrs = {{EwOp::LOAD, DType::kF32, 0}, {EwOp::LOAD, DType::kF32, 1}, {EwOp::ADD, DType::kF32, 0, 1}};
  add.results = {{2, 0}};
  pb.Elementwise({out, d}, {out}, add, "fusion.acc");
  return pb.Finish();
}

std::vector<std::shared_ptr<DeviceArray>> FreshOutputs(const LoadedProgram& p, int device) {
  std::vector<std::shared_ptr<DeviceArray>> outs;
  for (int i = 0; i < p.num_outputs(); ++i) {
    outs.push_back(std::make_shared<DeviceArray>(device, p.output(i), AsyncEvent::Create()));
  }
  return outs;
}

HostTensor ToHost(const DeviceArray& a) {
  HostTensor h(a.info.dtype, a.info.dims);
  if (!h.bytes.empty()) std::memcpy(h.bytes.data(), a.allocation->data(), h.bytes.size());
  return h;
}

TEST(ChipDevice, ExecutesAndFreesTheArena) {
  ChipDevice dev(0, ChipConfig());
  std::mt19937 rng(1);
  const Dims dims = {33, 65};
  HostTensor a = testing::Random(DType::kF32, dims, rng), b = testing::Random(DType::kF32, dims, rng);
  auto program = LoadedProgram::Load(MulAddProgram(dims)).value();
  auto va = dev.CreateFromHost(a.info, a.bytes.data()).value();
  auto vb = dev.CreateFromHost(b.info, b.bytes.data()).value();
  const int64_t before = dev.allocator().stats().bytes_in_use;
  auto outs = FreshOutputs(*program, 0);
  auto done = dev.EnqueueExecute(program, {va, vb}, {false, false}, outs);
  ASSERT_TRUE(done->Await().ok());
  ASSERT_TRUE(outs[0]->ready->Await().ok());
  HostTensor r = ToHost(*outs[0]);
  for (int64_t i = 0; i < r.size(); ++i) {
    ASSERT_EQ(r.Get(i), static_cast<float>(static_cast<float>(a.Get(i)) * static_cast<float>(b.Get(i))) + 1.0f);
  }
  // Only the output stays allocated: the arena was returned.
  EXPECT_EQ(dev.allocator().stats().bytes_in_use, before + r.info.byte_size());
  EXPECT_GE(dev.allocator().stats().peak_bytes_in_use, before + 2 * r.info.byte_size());
  EXPECT_EQ(dev.executions(), 1);
  EXPECT_GT(dev.modeled_time_s(), 2 * ChipConfig().kernel_launch_s);
}

TEST(ChipDevice, DonatedOutputReusesTheArgumentInPlace) {
  ChipDevice dev(0, ChipConfig());
  std::mt19937 rng(2);
  const Dims dims = {1000};
  HostTensor acc = testing::Random(DType::kF32, dims, rng), d = testing::Random(DType::kF32, dims, rng);
  auto program = LoadedProgram::Load(AccumulateProgram(dims)).value();
  EXPECT_EQ(program->parameter_aliased_output(0), 0);
  EXPECT_EQ(program->output_aliased_parameter(0), 0);
  for (bool donate : {true, false}) {
    auto va = dev.CreateFromHost(acc.info, acc.bytes.data()).value();
    auto vd = dev.CreateFromHost(d.info, d.bytes.data()).value();
    const int64_t before = dev.allocator().stats().bytes_in_use;
    auto outs = FreshOutputs(*program, 0);
    ASSERT_TRUE(dev.EnqueueExecute(program, {va, vd}, {donate, false}, outs)->Await().ok());
    HostTensor r = ToHost(*outs[0]);
    for (int i = 0; i < 1000; ++i) {
      ASSERT_EQ(r.Get(i), static_cast<float>(static_cast<float>(acc.Get(i)) + static_cast<float>(d.Get(i))));
    }
    if (donate) {
      EXPECT_EQ(outs[0]->allocation, va->allocation);  // same memory, no new allocation
      EXPECT_EQ(dev.allocator().stats().bytes_in_use, before);
    } else {
      EXPECT_NE(outs[0]->allocation, va->allocation);
      EXPECT_EQ(ToHost(*va).bytes, acc.bytes);  // the argument is untouched
      EXPECT_EQ(dev.allocator().stats().bytes_in_use, before + 4000);
    }
  }
}

TEST(ChipDevice, OutOfMemoryFailsTheOutputsAndTheNextExecutionWorks) {
  ChipConfig config;
  config.hbm_bytes = 3 * 4096 + 100;
  ChipDevice dev(0, config);
  std::mt19937 rng(3);
  const Dims small = {1024};
  HostTensor a = testing::Random(DType::kF32, small, rng), b = testing::Random(DType::kF32, small, rng);
  auto va = dev.CreateFromHost(a.info, a.bytes.data()).value();
  auto vb = dev.CreateFromHost(b.info, b.bytes.data()).value();
  auto program = LoadedProgram::Load(MulAddProgram(small)).value();  // output 4096 + arena 4096
  auto outs = FreshOutputs(*program, 0);
  Status s = dev.EnqueueExecute(program, {va, vb}, {}, outs)->Await();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("arena"), std::string::npos) << s.message();
  Status os = outs[0]->ready->Await();
  EXPECT_EQ(os.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(outs[0]->allocation, nullptr);
  EXPECT_EQ(dev.allocator().stats().bytes_in_use, 2 * 4096);  // the failed output was released

  // An output that cannot fit: the error names it, its type, and the bytes in use / limit.
  ProgramBuilder pb("big");
  const int x = pb.Param(DType::kF32, small);
  const int o = pb.Output(DType::kBF16, {8192});
  testing::ElementwiseSpec bc;
  bc.dims = {8, 1024};
  bc.views = {{0, 0, {0, 1}}};
  bc.instrs = {{EwOp::LOAD, DType::kF32, 0}, {EwOp::CONVERT, DType::kBF16, 0}};
  bc.results = {{1, 0}};
  pb.Elementwise({x}, {o}, bc);
  auto big = LoadedProgram::Load(pb.Finish()).value();
  auto bouts = FreshOutputs(*big, 0);
  Status bs = dev.EnqueueExecute(big, {va}, {}, bouts)->Await();
  ASSERT_EQ(bs.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(bs.message().find("output 0 of big (bf16[8192])"), std::string::npos) << bs.message();
  EXPECT_NE(bs.message().find("(8192 bytes) in use"), std::string::npos) << bs.message();
  EXPECT_NE(bs.message().find("limit"), std::string::npos) << bs.message();

  // The worker survived: a program that fits runs.
  ProgramBuilder square("square");
  const int sx = square.Param(DType::kF32, small);
  const int so = square.Output(DType::kF32, small);
  testing::ElementwiseSpec sq;
  sq.dims = small;
  sq.views = {testing::IdentityView(0, small)};
  sq.instrs = {{EwOp::LOAD, DType::kF32, 0}, {EwOp::MUL, DType::kF32, 0, 0}};
  sq.results = {{1, 0}};
  square.Elementwise({sx}, {so}, sq);
  auto sp = LoadedProgram::Load(square.Finish()).value();
  auto souts = FreshOutputs(*sp, 0);
  ASSERT_TRUE(dev.EnqueueExecute(sp, {va}, {}, souts)->Await().ok());
  HostTensor r = ToHost(*souts[0]);
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(r.Get(i), static_cast<float>(a.Get(i) * a.Get(i)));
}

TEST(ChipDevice, ArgumentErrorsPropagateAndPendingArgumentsAreAwaited) {
  ChipDevice dev(0, ChipConfig());
  std::mt19937 rng(4);
  const Dims dims = {100};
  HostTensor a = testing::Random(DType::kF32, dims, rng);
  auto program = LoadedProgram::Load(MulAddProgram(dims)).value();
  auto va = dev.CreateFromHost(a.info, a.bytes.data()).value();
  // A failed argument.
  auto failed = std::make_shared<DeviceArray>(0, a.info, AsyncEvent::CreateReady(Internal("producer failed")));
  auto outs = FreshOutputs(*program, 0);
  Status s = dev.EnqueueExecute(program, {va, failed}, {}, outs)->Await();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("producer failed"), std::string::npos);
  EXPECT_NE(outs[0]->ready->Await().message().find("argument 1"), std::string::npos);
  // A pending argument completed later by another thread.
  auto pending = std::make_shared<DeviceArray>(0, a.info, AsyncEvent::Create());
  auto outs2 = FreshOutputs(*program, 0);
  auto done = dev.EnqueueExecute(program, {va, pending}, {}, outs2);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(done->IsReady());
  std::thread producer([&] {
    pending->allocation = dev.allocator().Allocate(a.bytes.size(), "late").value();
    std::memcpy(pending->allocation->data(), a.bytes.data(), a.bytes.size());
    pending->ready->SetReady();
  });
  ASSERT_TRUE(done->Await().ok());
  producer.join();
  HostTensor r = ToHost(*outs2[0]);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(r.Get(i), static_cast<float>(a.Get(i) * a.Get(i)) + 1.0f);
}

TEST(ChipDevice, RejectsMismatchedArguments) {
  ChipDevice dev(0, ChipConfig());
  auto program = LoadedProgram::Load(MulAddProgram({10})).value();
  HostTensor a(DType::kF32, {10}), wrong(DType::kS32, {10});
  auto va = dev.CreateFromHost(a.info, a.bytes.data()).value();
  auto vw = dev.CreateFromHost(wrong.info, wrong.bytes.data()).value();
  auto outs = FreshOutputs(*program, 0);
  Status s1 = dev.EnqueueExecute(program, {va}, {}, outs)->Await();
  EXPECT_EQ(s1.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s1.message().find("1 arguments"), std::string::npos) << s1.message();
  auto outs2 = FreshOutputs(*program, 0);
  Status s2 = dev.EnqueueExecute(program, {va, vw}, {}, outs2)->Await();
  EXPECT_EQ(s2.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s2.message().find("s32[10]"), std::string::npos) << s2.message();
  EXPECT_FALSE(outs2[0]->ready->Await().ok());
  ChipDevice other(1, ChipConfig());
  auto vo = other.CreateFromHost(a.info, a.bytes.data()).value();
  auto outs3 = FreshOutputs(*program, 0);
  Status s3 = dev.EnqueueExecute(program, {va, vo}, {}, outs3)->Await();
  EXPECT_NE(s3.message().find("chip:1"), std::string::npos) << s3.message();
}

TEST(ChipDevice, ChainedExecutionsRunInOrder) {
  // acc += d, 50 times, each execution consuming the previous one's (pending) output.
  ChipDevice dev(0, ChipConfig());
  const Dims dims = {4097};
  HostTensor acc(DType::kF32, dims), d(DType::kF32, dims);
  for (int64_t i = 0; i < acc.size(); ++i) {
    acc.Set(i, static_cast<double>(i % 13));
    d.Set(i, 0.5 + static_cast<double>(i % 3));
  }
  auto program = LoadedProgram::Load(AccumulateProgram(dims)).value();
  auto cur = dev.CreateFromHost(acc.info, acc.bytes.data()).value();
  auto vd = dev.CreateFromHost(d.info, d.bytes.data()).value();
  std::shared_ptr<AsyncEvent> last;
  for (int k = 0; k < 50; ++k) {
    auto outs = FreshOutputs(*program, 0);
    last = dev.EnqueueExecute(program, {cur, vd}, {k % 2 == 0, false}, outs);
    cur = outs[0];
  }
  ASSERT_TRUE(last->Await().ok());
  HostTensor r = ToHost(*cur);
  for (int64_t i = 0; i < r.size(); ++i) ASSERT_EQ(r.Get(i), acc.Get(i) + 50 * d.Get(i)) << i;
  EXPECT_EQ(dev.executions(), 50);
}

TEST(ChipDevice, CopiesBetweenDevicesAndPropagatesErrors) {
  auto rt = ChipRuntime::Create(ChipConfig::FromNamedOptions({{"num_devices", int64_t{3}}}).value()).value();
  ASSERT_EQ(rt->num_devices(), 3);
  std::mt19937 rng(5);
  HostTensor a = testing::Random(DType::kU16, {77}, rng);
  auto src = rt->device(0).CreateFromHost(a.info, a.bytes.data()).value();
  for (int d = 0; d < 3; ++d) {
    auto dst = std::make_shared<DeviceArray>(d, a.info, AsyncEvent::Create());
    rt->device(d).EnqueueCopy(src, dst);
    ASSERT_TRUE(dst->ready->Await().ok());
    EXPECT_EQ(dst->allocation->device_id(), d);
    EXPECT_EQ(ToHost(*dst).bytes, a.bytes);
  }
  auto bad = std::make_shared<DeviceArray>(0, a.info, AsyncEvent::CreateReady(Internal("lost")));
  auto dst = std::make_shared<DeviceArray>(1, a.info, AsyncEvent::Create());
  rt->device(1).EnqueueCopy(bad, dst);
  EXPECT_EQ(dst->ready->Await().message(), "lost");
  EXPECT_FALSE(ChipRuntime::Create([] { ChipConfig c; c.num_devices = 0; return c; }()).ok());
}

TEST(ChipDevice, CreateFromHostOutOfMemory) {
  ChipConfig config;
  config.hbm_bytes = 1000;
  ChipDevice dev(2, config);
  HostTensor big(DType::kF32, {1000});
  auto r = dev.CreateFromHost(big.info, big.bytes.data());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("f32[1000]"), std::string::npos);
  EXPECT_NE(r.status().message().find("chip:2"), std::string::npos);
}

TEST(Executor, ModeledTimeIsTheSumOfKernelTimes) {
  ChipConfig config;
  ProgramBuilder pb("costed");
  const int a = pb.Param(DType::kBF16, {128, 256});
  const int b = pb.Param(DType::kBF16, {256, 64});
  const int o = pb.Output(DType::kF32, {128, 64});
  pb.Op(testing::DotSpec{{}, {}, {1}, {0}}, {a, b}, {o}, "dot.0");
  pb.kernels()[0].cost.matrix_flops = 2.0 * 128 * 128 * 256;
  pb.kernels()[0].cost.matrix_dtype = DType::kBF16;
  auto program = LoadedProgram::Load(pb.Finish()).value();
  HostTensor x(DType::kBF16, {128, 256}), y(DType::kBF16, {256, 64}), out(DType::kF32, {128, 64});
  ExecutionBindings bind;
  bind.parameters = {x.bytes.data(), y.bytes.data()};
  bind.outputs = {out.bytes.data()};
  auto r = RunProgram(*program, bind, config, 0, 0, 0.0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  KernelWork w;
  w.matrix_flops = 2.0 * 128 * 128 * 256;
  w.bytes_read = 128 * 256 * 2 + 256 * 64 * 2;
  w.bytes_written = 128 * 64 * 4;
  EXPECT_DOUBLE_EQ(r->modeled_s, ModelKernel(w, config).total_s);
  EXPECT_EQ(r->kernels, 1);
  bind.outputs = {};
  EXPECT_EQ(RunProgram(*program, bind, config, 0, 0, 0.0).status().code(), StatusCode::kInvalidArgument);
}

TEST(Trace, ChromeJsonIsValidAndKernelTimesSumToExecutions) {
  ChipDevice dev(0, ChipConfig());
  TraceRecorder& tr = TraceRecorder::Global();
  tr.Start();
  EXPECT_TRUE(tr.enabled());
  std::mt19937 rng(6);
  // Kernel names with characters JSON must escape, and invalid UTF-8.
  ProgramBuilder pb("weird \"name\"\n\x01");
  const Dims dims = {3, 300};
  const int a = pb.Param(DType::kF32, dims);
  const int t = pb.Temp(DType::kF32, dims);
  const int o = pb.Output(DType::kF32, {3});
  testing::ElementwiseSpec e;
  e.dims = dims;
  e.views = {testing::IdentityView(0, dims)};
  e.instrs = {{EwOp::LOAD, DType::kF32, 0}, {EwOp::TANH, DType::kF32, 0}};
  e.results = {{1, 0}};
  pb.Elementwise({a}, {t}, e, "fusion \\ \"q\" \xff\xfe");
  pb.kernels()[0].cost.transcendentals = 900;
  pb.kernels()[0].source = "model.py:12 \t<lambda>";
  const int init = pb.Constant([] { HostTensor z(DType::kF32, {}); z.Set(0, 0.0); return z; }());
  pb.Op(testing::ReduceSpec{{1}, exe::ReduceOp::SUM}, {t, init}, {o}, "reduce.1");
  const std::string bytes = pb.Finish();
  HostTensor x = testing::Random(DType::kF32, dims, rng);
  for (int run = 0; run < 3; ++run) ASSERT_TRUE(testing::RunOn(dev, bytes, {x}).status.ok());
  dev.RecordDeviceToHost(1 << 20);
  tr.Stop();
  EXPECT_FALSE(tr.enabled());
  const std::string json = tr.ToChromeJson();
  testing::JsonValue root;
  testing::JsonParser parser;
  ASSERT_TRUE(parser.Parse(json, &root)) << parser.error() << "\n" << json.substr(0, 2000);
  ASSERT_TRUE(root.has("traceEvents"));
  EXPECT_EQ(root["displayTimeUnit"].string, "ns");
  std::map<int64_t, double> exec_dur, kernel_sum;
  int kernels = 0, executions = 0, transfers = 0, metadata = 0;
  for (const auto& ev : root["traceEvents"].array) {
    const std::string ph = ev["ph"].string;
    if (ph == "M") {
      ++metadata;
      if (ev["name"].string == "process_name") {
        EXPECT_EQ(ev["args"]["name"].string, "chip:0");
      }
      continue;
    }
    ASSERT_EQ(ph, "X");
    const int tid = static_cast<int>(ev["tid"].number);
    const int64_t launch = static_cast<int64_t>(ev["args"]["launch_id"].number);
    if (tid == 1) {
      ++executions;
      exec_dur[launch] = ev["dur"].number;
      EXPECT_EQ(ev["name"].string, "weird \"name\"\n\x01");
    } else if (tid == 2) {
      ++kernels;
      kernel_sum[launch] += ev["dur"].number;
      EXPECT_TRUE(ev["args"].has("bound"));
      EXPECT_TRUE(ev["args"].has("bytes_read"));
      EXPECT_TRUE(ev["args"].has("modeled_us"));
      if (ev["cat"].string == "elementwise") {
        EXPECT_EQ(ev["name"].string, "fusion \\ \"q\" \xef\xbf\xbd\xef\xbf\xbd");  // U+FFFD twice
        EXPECT_EQ(ev["args"]["source"].string, "model.py:12 \t<lambda>");
        EXPECT_EQ(ev["args"]["transcendentals"].number, 900);
      }
    } else {
      ++transfers;
    }
  }
  EXPECT_EQ(executions, 3);
  EXPECT_EQ(kernels, 6);
  EXPECT_EQ(transfers, 4);  // 3 host_to_device + 1 device_to_host
  EXPECT_EQ(metadata, 4);
  for (const auto& [launch, dur] : exec_dur) {
    EXPECT_GT(dur, 0);
    EXPECT_NEAR(kernel_sum[launch], dur, 1e-12 * dur) << launch;
  }
  // Stopped: nothing more is recorded; Start clears.
  ASSERT_TRUE(testing::RunOn(dev, bytes, {x}).status.ok());
  EXPECT_EQ(tr.Events().size(), static_cast<size_t>(6 + 3 + 4));
  tr.Start();
  EXPECT_TRUE(tr.Events().empty());
  tr.Stop();
}

// The in-memory trace keeps the first max_events() events of a session and counts the rest; the
// count is in the JSON metadata and Start() resets it. Off, nothing is kept.
TEST(Trace, CapKeepsTheFirstEventsAndCountsTheDropped) {
  ChipDevice dev(0, ChipConfig());
  TraceRecorder& tr = TraceRecorder::Global();
  const int64_t saved = tr.max_events();
  tr.Stop();
  tr.Start();
  tr.Stop();
  for (int i = 0; i < 10; ++i) dev.RecordDeviceToHost(64);  // profiling off: nothing recorded
  EXPECT_TRUE(tr.Events().empty());
  EXPECT_EQ(tr.dropped_events(), 0);

  tr.set_max_events(4);
  tr.Start();
  for (int i = 0; i < 10; ++i) dev.RecordDeviceToHost(64 * (i + 1));
  tr.Stop();
  const std::vector<TraceEvent> kept = tr.Events();
  ASSERT_EQ(kept.size(), 4u);
  EXPECT_DOUBLE_EQ(kept[3].work.bytes_read, 64.0 * 4);  // the first four, in order
  EXPECT_EQ(tr.dropped_events(), 6);
  testing::JsonValue root;
  testing::JsonParser parser;
  ASSERT_TRUE(parser.Parse(tr.ToChromeJson(), &root)) << parser.error();
  EXPECT_EQ(root["metadata"]["num_events"].number, 4);
  EXPECT_EQ(root["metadata"]["max_events"].number, 4);
  EXPECT_EQ(root["metadata"]["dropped_events"].number, 6);

  tr.Start();  // a new session starts empty, with nothing dropped
  dev.RecordDeviceToHost(64);
  tr.Stop();
  EXPECT_EQ(tr.Events().size(), 1u);
  EXPECT_EQ(tr.dropped_events(), 0);
  tr.set_max_events(saved);
  EXPECT_EQ(tr.max_events(), saved);
}

}  // namespace
}  // namespace chip
