// Control-flow kernels (While, Case): nested kernel lists run by the executor, loop-carried
// values assigned in parallel, branch selection with StableHLO's index clamping, and the loader's
// checks of regions (result types, nested kernels).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/control_flow.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using exe::EwOp;
using kernels::ParallelAssign;
using exe::StorageKind;
using testing::Dims;
using testing::ElementwiseSpec;
using testing::HostTensor;
using testing::IdentityView;
using testing::InstrSpec;

// A kernel tree: Elementwise leaves, While/Case nodes with regions.
struct RegionSpec;
struct KernelNode {
  enum class Kind { kElementwise, kWhile, kCase } kind = Kind::kElementwise;
  std::string name;
  std::vector<int> inputs, outputs;
  ElementwiseSpec ew;
  int num_carried = 0;
  std::vector<RegionSpec> regions;
};
struct RegionSpec {
  std::vector<KernelNode> kernels;
  std::vector<int> results;
};

class CfProgram {
 public:
  int Value(DType t, Dims dims, StorageKind storage, int64_t index) {
    values_.push_back({TensorInfo{t, std::move(dims)}, storage, index});
    return static_cast<int>(values_.size()) - 1;
  }
  int Param(DType t, Dims dims) {
    const int v = Value(t, dims, StorageKind::PARAMETER, static_cast<int64_t>(params_.size()));
    params_.push_back(v);
    return v;
  }
  int Output(DType t, Dims dims) {
    const int v = Value(t, dims, StorageKind::OUTPUT, static_cast<int64_t>(outputs_.size()));
    outputs_.push_back(v);
    return v;
  }
  int Temp(DType t, Dims dims) {
    const int64_t off = arena_;
    arena_ += (TensorInfo{t, dims}.byte_size() + 63) / 64 * 64;
    return Value(t, std::move(dims), StorageKind::TEMP, off);
  }
  // Another value id for the storage of `v` (a region's view of a carried/captured value).
  int Alias(int v) { return Value(values_[v].type.dtype, values_[v].type.dims, values_[v].storage, values_[v].index); }
  int Constant(const HostTensor& h) {
    constants_.push_back(h.bytes);
    return Value(h.info.dtype, h.info.dims, StorageKind::CONSTANT, static_cast<int64_t>(constants_.size()) - 1);
  }
  std::vector<KernelNode>& kernels() { return kernels_; }
  const TensorInfo& type(int v) const { return values_[v].type; }

  std::string Finish() const {
    flatbuffers::FlatBufferBuilder b;
    auto type = [&](const TensorInfo& t) { return exe::CreateTensorTypeDirect(b, testing::Fb(t.dtype), &t.dims); };
    std::vector<flatbuffers::Offset<exe::Value>> values;
    for (const V& v : values_) values.push_back(exe::CreateValueDirect(b, type(v.type), v.storage, v.index, "v"));
    std::vector<flatbuffers::Offset<exe::Constant>> constants;
    for (const auto& c : constants_) constants.push_back(exe::CreateConstant(b, b.CreateVector(c)));
    std::vector<flatbuffers::Offset<exe::Parameter>> params;
    for (int v : params_) params.push_back(exe::CreateParameter(b, v, type(values_[v].type), -1));
    std::vector<flatbuffers::Offset<exe::Output>> outputs;
    for (int v : outputs_) outputs.push_back(exe::CreateOutput(b, v, type(values_[v].type), -1));
    auto kernels = Kernels(b, kernels_);
    auto root = exe::CreateExecutableDirect(b, kExecutableFormatVersion, "control_flow", "fp", "test", 1, 1, &values,
                                            &constants, &params, &outputs, &kernels, arena_, "");
    exe::FinishExecutableBuffer(b, root);
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  }

 private:
  struct V {
    TensorInfo type;
    StorageKind storage;
    int64_t index;
  };

  static flatbuffers::Offset<exe::Region> Region(flatbuffers::FlatBufferBuilder& b, const RegionSpec& r) {
    auto kernels = Kernels(b, r.kernels);
    return exe::CreateRegionDirect(b, &kernels, &r.results);
  }

  static std::vector<flatbuffers::Offset<exe::Kernel>> Kernels(flatbuffers::FlatBufferBuilder& b,
                                                                const std::vector<KernelNode>& nodes) {
    std::vector<flatbuffers::Offset<exe::Kernel>> out;
    for (const KernelNode& k : nodes) {
      flatbuffers::Offset<void> op;
      exe::KernelOp op_type;
      if (k.kind == KernelNode::Kind::kElementwise) {
        std::vector<flatbuffers::Offset<exe::View>> views;
        for (const auto& v : k.ew.views) views.push_back(exe::CreateViewDirect(b, v.input, v.offset, &v.strides));
        std::vector<exe::Instr> instrs;
        for (const InstrSpec& i : k.ew.instrs) {
          instrs.emplace_back(i.op, testing::Fb(i.dtype), i.a, i.b, i.c, i.imm_i, i.imm_f);
        }
        std::vector<flatbuffers::Offset<exe::ElementwiseResult>> results;
        for (const auto& [reg, o] : k.ew.results) results.push_back(exe::CreateElementwiseResult(b, reg, o));
        op = exe::CreateElementwiseDirect(b, &k.ew.dims, &views, &instrs, &results).Union();
        op_type = exe::KernelOp::Elementwise;
      } else if (k.kind == KernelNode::Kind::kWhile) {
        auto cond = Region(b, k.regions.at(0));
        auto body = Region(b, k.regions.at(1));
        op = exe::CreateWhile(b, cond, body, k.num_carried).Union();
        op_type = exe::KernelOp::While;
      } else {
        std::vector<flatbuffers::Offset<exe::Region>> branches;
        for (const RegionSpec& r : k.regions) branches.push_back(Region(b, r));
        op = exe::CreateCaseDirect(b, &branches).Union();
        op_type = exe::KernelOp::Case;
      }
      auto cost = exe::CreateKernelCost(b, 0, exe::DType::BF16, 4, 0, 16, 16);
      out.push_back(exe::CreateKernelDirect(b, k.name.c_str(), "test.py:1", &k.inputs, &k.outputs, cost, op_type, op));
    }
    return out;
  }

  std::vector<V> values_;
  std::vector<int> params_, outputs_;
  std::vector<std::vector<uint8_t>> constants_;
  std::vector<KernelNode> kernels_;
  int64_t arena_ = 0;
};

// out = op(in, imm) elementwise over `dims` (op one of ADD/MUL/CMP_LT), as a KernelNode.
KernelNode Binary(const std::string& name, int in, int out, DType in_t, DType out_t, const Dims& dims, EwOp op,
                  double imm) {
  KernelNode k;
  k.name = name;
  k.inputs = {in};
  k.outputs = {out};
  k.ew.dims = dims;
  k.ew.views = {IdentityView(0, dims)};
  InstrSpec c{EwOp::CONST, in_t};
  if (in_t == DType::kF32) {
    c.imm_f = imm;
  } else {
    c.imm_i = static_cast<int64_t>(imm);
  }
  k.ew.instrs = {{EwOp::LOAD, in_t, 0}, c, {op, out_t, 0, 1}};
  k.ew.results = {{2, 0}};
  return k;
}

HostTensor Scalar(DType t, int64_t v) {
  HostTensor h(t, {});
  h.SetInt(0, v);
  return h;
}

// (i, x) = (0, x); while (i < trips) { i = i + 1; x = x * 2 }; returns (i, x).
struct CountedLoop {
  CfProgram p;
  int x, i_out, x_out;
};

CountedLoop MakeCountedLoop(int trips) {
  CountedLoop c;
  CfProgram& p = c.p;
  c.x = p.Param(DType::kF32, {4});
  const int zero = p.Constant(Scalar(DType::kS32, 0));
  c.i_out = p.Output(DType::kS32, {});
  c.x_out = p.Output(DType::kF32, {4});
  const int pred = p.Temp(DType::kPred, {});
  const int i_next = p.Temp(DType::kS32, {});
  const int x_next = p.Temp(DType::kF32, {4});
  KernelNode w;
  w.kind = KernelNode::Kind::kWhile;
  w.name = "while.0";
  w.num_carried = 2;
  w.inputs = {zero, c.x};
  w.outputs = {c.i_out, c.x_out};
  RegionSpec cond, body;
  cond.kernels.push_back(Binary("cond.1", p.Alias(c.i_out), pred, DType::kS32, DType::kPred, {}, EwOp::CMP_LT, trips));
  cond.results = {pred};
  body.kernels.push_back(Binary("inc.2", p.Alias(c.i_out), i_next, DType::kS32, DType::kS32, {}, EwOp::ADD, 1));
  body.kernels.push_back(Binary("mul.3", p.Alias(c.x_out), x_next, DType::kF32, DType::kF32, {4}, EwOp::MUL, 2.0));
  body.results = {i_next, x_next};
  w.regions = {cond, body};
  p.kernels().push_back(w);
  return c;
}

TEST(ControlFlow, WhileRunsBodyUntilCondIsFalse) {
  std::mt19937 rng(7);
  for (int trips : {0, 1, 5}) {
    CountedLoop loop = MakeCountedLoop(trips);
    HostTensor x = testing::Random(DType::kF32, {4}, rng);
    testing::RunResult r = testing::Run(loop.p.Finish(), {x});
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.outputs[0].GetInt(0), trips);
    for (int k = 0; k < 4; ++k) EXPECT_EQ(r.outputs[1].Get(k), x.Get(k) * (1 << trips)) << "trips " << trips;
  }
}

TEST(ControlFlow, CarriedValuesAreAssignedInParallel) {
  // (i, a, b) -> (i + 1, b, a): the body's results are the carried values themselves, swapped.
  CfProgram p;
  const int a = p.Param(DType::kF32, {16});
  const int b = p.Param(DType::kF32, {16});
  const int zero = p.Constant(Scalar(DType::kS32, 0));
  const int i_out = p.Output(DType::kS32, {});
  const int a_out = p.Output(DType::kF32, {16});
  const int b_out = p.Output(DType::kF32, {16});
  const int pred = p.Temp(DType::kPred, {});
  const int i_next = p.Temp(DType::kS32, {});
  KernelNode w;
  w.kind = KernelNode::Kind::kWhile;
  w.name = "while.0";
  w.num_carried = 3;
  w.inputs = {zero, a, b};
  w.outputs = {i_out, a_out, b_out};
  RegionSpec cond, body;
  cond.kernels.push_back(Binary("cond", p.Alias(i_out), pred, DType::kS32, DType::kPred, {}, EwOp::CMP_LT, 3));
  cond.results = {pred};
  body.kernels.push_back(Binary("inc", p.Alias(i_out), i_next, DType::kS32, DType::kS32, {}, EwOp::ADD, 1));
  body.results = {i_next, p.Alias(b_out), p.Alias(a_out)};
  w.regions = {cond, body};
  p.kernels().push_back(w);
  std::mt19937 rng(3);
  HostTensor ha = testing::Random(DType::kF32, {16}, rng), hb = testing::Random(DType::kF32, {16}, rng);
  testing::RunResult r = testing::Run(p.Finish(), {ha, hb});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.outputs[0].GetInt(0), 3);
  for (int k = 0; k < 16; ++k) {   // three swaps: swapped
    EXPECT_EQ(r.outputs[1].Bits(k), hb.Bits(k));
    EXPECT_EQ(r.outputs[2].Bits(k), ha.Bits(k));
  }
}

TEST(ControlFlow, ParallelAssignStagesOverlappingSources) {
  std::vector<float> buf = {1, 2, 3, 4};
  // rotate: buf[0..1] <- buf[1..2], buf[1..2] <- buf[0..1] (overlapping 8-byte ranges)
  const int64_t moved = ParallelAssign({&buf[1], &buf[0]}, {&buf[0], &buf[2]}, {8, 8});
  EXPECT_EQ(moved, 16);
  EXPECT_EQ(buf, (std::vector<float>{2, 3, 1, 2}));
  EXPECT_EQ(ParallelAssign({&buf[0]}, {&buf[0]}, {16}), 0);   // same memory: nothing moves
}

CfProgram MakeSwitch(int* index_param, int* x_param) {
  // out = [x + 1, x * 2, x][index] (branch 2 returns its captured input unchanged)
  CfProgram p;
  const int index = p.Param(DType::kS32, {});
  const int x = p.Param(DType::kF32, {8});
  const int out = p.Output(DType::kF32, {8});
  const int t0 = p.Temp(DType::kF32, {8});
  const int t1 = p.Temp(DType::kF32, {8});
  KernelNode c;
  c.kind = KernelNode::Kind::kCase;
  c.name = "case.0";
  c.inputs = {index, x};
  c.outputs = {out};
  RegionSpec b0, b1, b2;
  b0.kernels.push_back(Binary("add", p.Alias(x), t0, DType::kF32, DType::kF32, {8}, EwOp::ADD, 1.0));
  b0.results = {t0};
  b1.kernels.push_back(Binary("mul", p.Alias(x), t1, DType::kF32, DType::kF32, {8}, EwOp::MUL, 2.0));
  b1.results = {t1};
  b2.results = {p.Alias(x)};
  c.regions = {b0, b1, b2};
  p.kernels().push_back(c);
  *index_param = index;
  *x_param = x;
  return p;
}

TEST(ControlFlow, CaseRunsTheSelectedBranchAndClampsTheIndex) {
  int index = 0, x = 0;
  const std::string bytes = MakeSwitch(&index, &x).Finish();
  std::mt19937 rng(11);
  HostTensor hx = testing::Random(DType::kF32, {8}, rng);
  for (int i : {0, 1, 2, 3, 100, -1, -7}) {
    testing::RunResult r = testing::Run(bytes, {Scalar(DType::kS32, i), hx});
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    const int branch = (i < 0 || i > 2) ? 2 : i;
    for (int k = 0; k < 8; ++k) {
      const float want = branch == 0 ? static_cast<float>(hx.Get(k)) + 1.0f
                                     : branch == 1 ? static_cast<float>(hx.Get(k)) * 2.0f : static_cast<float>(hx.Get(k));
      EXPECT_EQ(r.outputs[0].Get(k), want) << "index " << i;
    }
  }
}

TEST(ControlFlow, NestedWhileInsideCase) {
  // case(index) { 0: while (i < 4) x *= 2;  1: x + 1 }
  CfProgram p;
  const int index = p.Param(DType::kS32, {});
  const int x = p.Param(DType::kF32, {4});
  const int zero = p.Constant(Scalar(DType::kS32, 0));
  const int out = p.Output(DType::kF32, {4});
  const int i_loop = p.Temp(DType::kS32, {});
  const int x_loop = p.Temp(DType::kF32, {4});
  const int pred = p.Temp(DType::kPred, {});
  const int i_next = p.Temp(DType::kS32, {});
  const int x_next = p.Temp(DType::kF32, {4});
  const int t1 = p.Temp(DType::kF32, {4});
  KernelNode w;
  w.kind = KernelNode::Kind::kWhile;
  w.name = "while.1";
  w.num_carried = 2;
  w.inputs = {zero, p.Alias(x)};
  w.outputs = {i_loop, x_loop};
  RegionSpec cond, body;
  cond.kernels.push_back(Binary("cond", p.Alias(i_loop), pred, DType::kS32, DType::kPred, {}, EwOp::CMP_LT, 4));
  cond.results = {pred};
  body.kernels.push_back(Binary("inc", p.Alias(i_loop), i_next, DType::kS32, DType::kS32, {}, EwOp::ADD, 1));
  body.kernels.push_back(Binary("mul", p.Alias(x_loop), x_next, DType::kF32, DType::kF32, {4}, EwOp::MUL, 2.0));
  body.results = {i_next, x_next};
  w.regions = {cond, body};
  KernelNode c;
  c.kind = KernelNode::Kind::kCase;
  c.name = "case.0";
  c.inputs = {index, x};
  c.outputs = {out};
  RegionSpec b0, b1;
  b0.kernels.push_back(w);
  b0.results = {x_loop};
  b1.kernels.push_back(Binary("add", p.Alias(x), t1, DType::kF32, DType::kF32, {4}, EwOp::ADD, 1.0));
  b1.results = {t1};
  c.regions = {b0, b1};
  p.kernels().push_back(c);
  std::mt19937 rng(5);
  HostTensor hx = testing::Random(DType::kF32, {4}, rng);
  const std::string bytes = p.Finish();
  testing::RunResult r0 = testing::Run(bytes, {Scalar(DType::kS32, 0), hx});
  ASSERT_TRUE(r0.status.ok()) << r0.status.ToString();
  testing::RunResult r1 = testing::Run(bytes, {Scalar(DType::kS32, 1), hx});
  ASSERT_TRUE(r1.status.ok()) << r1.status.ToString();
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(r0.outputs[0].Get(k), hx.Get(k) * 16);
    EXPECT_EQ(r1.outputs[0].Get(k), static_cast<float>(hx.Get(k)) + 1.0f);
  }
}

void ExpectRejected(const std::string& bytes, const std::string& needle) {
  auto p = LoadedProgram::Load(bytes);
  ASSERT_FALSE(p.ok()) << "expected rejection mentioning '" << needle << "'";
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find(needle), std::string::npos) << p.status().message();
}

TEST(ControlFlow, LoaderChecksRegions) {
  {
    CountedLoop loop = MakeCountedLoop(2);
    loop.p.kernels()[0].regions[0].results = {loop.x};   // cond must give a 0-d pred
    ExpectRejected(loop.p.Finish(), "while cond region result 0 is f32[4], expected pred[]");
  }
  {
    CountedLoop loop = MakeCountedLoop(2);
    loop.p.kernels()[0].regions[1].results.pop_back();
    ExpectRejected(loop.p.Finish(), "while body region has 1 results, expected 2");
  }
  {
    CountedLoop loop = MakeCountedLoop(2);
    loop.p.kernels()[0].num_carried = 3;
    ExpectRejected(loop.p.Finish(), "while with num_carried 3");
  }
  {
    CountedLoop loop = MakeCountedLoop(2);
    loop.p.kernels()[0].regions[1].results[0] = 999;
    ExpectRejected(loop.p.Finish(), "is value 999, which does not exist");
  }
  {
    // a nested kernel writing a parameter is rejected like a top-level one, naming where it is
    CountedLoop loop = MakeCountedLoop(2);
    loop.p.kernels()[0].regions[1].kernels[1].outputs = {loop.x};
    ExpectRejected(loop.p.Finish(), "while body region, kernel 1 'mul.3' output 0 writes value");
  }
  {
    int index = 0, x = 0;
    CfProgram p = MakeSwitch(&index, &x);
    p.kernels()[0].inputs[0] = x;   // index must be a 0-d s32
    ExpectRejected(p.Finish(), "case needs a 0-d s32 branch index");
  }
  {
    int index = 0, x = 0;
    CfProgram p = MakeSwitch(&index, &x);
    p.kernels()[0].regions.clear();
    ExpectRejected(p.Finish(), "case has no branches");
  }
}

}  // namespace
}  // namespace chip
