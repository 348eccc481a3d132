// Trace sessions (runtime/trace.h): each records every event while attached, independently of the
// recorder's Start/Stop and of other sessions (a jax.profiler session and jax_chip.profiler's
// recording can overlap), and executions and transfers carry the host time they began.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "pjrt_plugin/runtime/chip_device.h"
#include "pjrt_plugin/runtime/trace.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using exe::EwOp;
using testing::Dims;

// out = tanh(a), one kernel.
std::string TanhProgram(const Dims& dims) {
  testing::ProgramBuilder pb("tanh");
  const int a = pb.Param(DType::kF32, dims);
  const int o = pb.Output(DType::kF32, dims);
  testing::ElementwiseSpec e;
  e.dims = dims;
  e.views = {testing::IdentityView(0, dims)};
  e.instrs = {{EwOp::LOAD, DType::kF32, 0}, {EwOp::TANH, DType::kF32, 0}};
  e.results = {{1, 0}};
  pb.Elementwise({a}, {o}, e, "fusion.tanh");
  return pb.Finish();
}

int Count(const std::vector<TraceEvent>& events, TraceEvent::Kind kind) {
  int n = 0;
  for (const TraceEvent& e : events) n += e.kind == kind;
  return n;
}

TEST(TraceSession, RecordsWhileAttachedIndependentlyOfStartStopAndOtherSessions) {
  ChipDevice dev(0, ChipConfig());
  TraceRecorder& tr = TraceRecorder::Global();
  const Dims dims = {4, 64};
  const std::string bytes = TanhProgram(dims);
  std::mt19937 rng(3);
  const testing::HostTensor x = testing::Random(DType::kF32, dims, rng);

  auto outer = std::make_shared<TraceSession>();
  auto inner = std::make_shared<TraceSession>();
  const int64_t before_ns = HostWallClockNs();
  tr.Attach(outer);
  tr.Attach(outer);  // attached once
  EXPECT_TRUE(tr.enabled());
  ASSERT_TRUE(testing::RunOn(dev, bytes, {x}).status.ok());
  tr.Attach(inner);
  tr.Start();  // clears the recorder's own events only
  ASSERT_TRUE(testing::RunOn(dev, bytes, {x}).status.ok());
  tr.Stop();
  tr.Detach(inner.get());
  ASSERT_TRUE(testing::RunOn(dev, bytes, {x}).status.ok());
  tr.Detach(outer.get());
  const int64_t after_ns = HostWallClockNs();
  ASSERT_TRUE(testing::RunOn(dev, bytes, {x}).status.ok());  // no session: recorded nowhere

  const std::vector<TraceEvent> all = outer->Events();
  EXPECT_EQ(Count(all, TraceEvent::Kind::kExecution), 3);
  EXPECT_EQ(Count(all, TraceEvent::Kind::kKernel), 3);
  EXPECT_EQ(Count(inner->Events(), TraceEvent::Kind::kExecution), 1);
  EXPECT_EQ(Count(tr.Events(), TraceEvent::Kind::kExecution), 1);
  for (const TraceEvent& e : all) {
    if (e.kind == TraceEvent::Kind::kKernel) {
      EXPECT_EQ(e.host_start_ns, 0);
    } else {  // executions and the host-to-device copies of RunOn
      EXPECT_GE(e.host_start_ns, before_ns) << e.name;
      EXPECT_LE(e.host_start_ns, after_ns) << e.name;
    }
  }
  EXPECT_GT(Count(all, TraceEvent::Kind::kTransfer), 0);
  // The JSON of a session's events carries the host start of executions and transfers only.
  const std::string json = TraceRecorder::ChromeJson(all);
  size_t host_starts = 0;
  for (size_t at = json.find("\"host_start_ns\""); at != std::string::npos;
       at = json.find("\"host_start_ns\"", at + 1)) {
    ++host_starts;
  }
  EXPECT_EQ(host_starts, all.size() - 3);
}

}  // namespace
}  // namespace chip
