// LoadedProgram::Load: accepts well-formed executables and rejects malformed ones with
// INVALID_ARGUMENT naming the problem; never crashes on truncated, random or bit-flipped bytes.
#include <gtest/gtest.h>

#include <random>

#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using exe::EwOp;
using testing::Dims;
using testing::HostTensor;
using testing::InstrSpec;
using testing::ProgramBuilder;

// y = exp(x) * c + t where t is a TEMP written by a first kernel (copy of x), c a constant.
ProgramBuilder ValidProgram() {
  ProgramBuilder pb("valid");
  const int x = pb.Param(DType::kF32, {4, 8});
  HostTensor c(DType::kF32, {8});
  for (int i = 0; i < 8; ++i) c.Set(i, 0.5 * (i + 1));
  const int k = pb.Constant(c);
  const int t = pb.Temp(DType::kF32, {4, 8});
  const int y = pb.Output(DType::kF32, {4, 8});
  pb.Op(testing::CopySpec{}, {x}, {t}, "copy.0");
  testing::ElementwiseSpec spec;
  spec.dims = {4, 8};
  spec.views = {testing::IdentityView(0, {4, 8}), {1, 0, {0, 1}}, testing::IdentityView(2, {4, 8})};
  spec.instrs = {{EwOp::LOAD, DType::kF32, 0}, {EwOp::LOAD, DType::kF32, 1}, {EwOp::LOAD, DType::kF32, 2},
                 {EwOp::EXP, DType::kF32, 0},  {EwOp::MUL, DType::kF32, 3, 1},  {EwOp::ADD, DType::kF32, 4, 2}};
  spec.results = {{5, 0}};
  pb.Elementwise({x, k, t}, {y}, spec, "fusion.1");
  pb.kernels()[1].cost.transcendentals = 32;
  return pb;
}

Status LoadStatus(const std::string& bytes) {
  auto p = LoadedProgram::Load(bytes);
  return p.ok() ? Status::Ok() : p.status();
}

void ExpectRejected(const std::string& bytes, const std::string& needle) {
  Status s = LoadStatus(bytes);
  ASSERT_FALSE(s.ok()) << "expected rejection mentioning '" << needle << "'";
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(Loader, LoadsAndDescribesAValidProgram) {
  ProgramBuilder pb = ValidProgram();
  auto p = LoadedProgram::Load(pb.Finish());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const LoadedProgram& prog = *p.value();
  EXPECT_EQ(prog.name(), "valid");
  EXPECT_EQ(prog.fingerprint(), "fingerprint-test");
  EXPECT_EQ(prog.num_parameters(), 1);
  EXPECT_EQ(prog.num_outputs(), 1);
  EXPECT_EQ(prog.parameter(0).ToString(), "f32[4,8]");
  EXPECT_EQ(prog.output(0).byte_size(), 128);
  EXPECT_EQ(prog.parameter_aliased_output(0), -1);
  EXPECT_EQ(prog.output_aliased_parameter(0), -1);
  EXPECT_EQ(prog.arena_bytes(), 128);
  EXPECT_EQ(prog.num_kernels(), 2);
  EXPECT_EQ(prog.num_values(), 4);
  EXPECT_EQ(prog.value(1).ToString(), "f32[8]");
  EXPECT_DOUBLE_EQ(prog.total_transcendentals(), 32);
  EXPECT_DOUBLE_EQ(prog.total_bytes_accessed(), 128 * 2 + (128 + 32 + 128) + 128);
  EXPECT_GT(prog.total_flops(), 0);
  // And it runs: y = exp(x) * c + x.
  std::mt19937 rng(1);
  HostTensor x = testing::Random(DType::kF32, {4, 8}, rng);
  auto r = testing::Run(pb.Finish(), {x});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int i = 0; i < 32; ++i) {
    const float v = static_cast<float>(x.Get(i));
    const double scaled = std::exp(static_cast<double>(v)) * 0.5 * (i % 8 + 1);
    EXPECT_NEAR(r.outputs[0].Get(i), scaled + v, 1e-6 * (std::fabs(scaled) + std::fabs(v)));
  }
}

TEST(Loader, RejectsNonExecutables) {
  ExpectRejected("", "too short");
  ExpectRejected("abc", "too short");
  ExpectRejected(std::string(64, '\0'), "file identifier");
  std::string bytes = ValidProgram().Finish();
  std::string wrong_id = bytes;
  wrong_id[4] = 'X';
  ExpectRejected(wrong_id, "expected 'CHPX'");
  ExpectRejected(bytes.substr(0, bytes.size() / 2), "fails verification");
}

TEST(Loader, RejectsOtherFormatVersions) {
  ProgramBuilder pb = ValidProgram();
  pb.format_version() = 7;
  Status s = LoadStatus(pb.Finish());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("version 7"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("version 1"), std::string::npos) << s.message();
}

TEST(Loader, RejectsBadValues) {
  {
    ProgramBuilder pb = ValidProgram();
    pb.values()[2].index = 64;  // TEMP 64 + 128 > arena 128
    ExpectRejected(pb.Finish(), "outside the arena");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.arena_bytes() = 256;
    pb.values()[2].index = 32;
    ExpectRejected(pb.Finish(), "64-byte aligned");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.constants()[0].resize(16);
    ExpectRejected(pb.Finish(), "constant data");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.values()[1].index = 5;
    ExpectRejected(pb.Finish(), "no such constant");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.values()[0].type.dims = {4, 9};  // larger than parameter 0
    ExpectRejected(pb.Finish(), "larger than parameter");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.values()[3].index = 3;
    ExpectRejected(pb.Finish(), "no such output");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.values()[0].type.dtype = static_cast<DType>(42);
    ExpectRejected(pb.Finish(), "invalid dtype 42");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.values()[2].type.dims = {4, -8};
    ExpectRejected(pb.Finish(), "negative dimension");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.values()[2].type.dims = {int64_t{1} << 40, int64_t{1} << 40};
    ExpectRejected(pb.Finish(), "too large");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.values()[2].storage = static_cast<exe::StorageKind>(9);
    ExpectRejected(pb.Finish(), "storage kind");
  }
}

TEST(Loader, RejectsBadSignatures) {
  {
    ProgramBuilder pb = ValidProgram();
    pb.params()[0].value = 17;
    ExpectRejected(pb.Finish(), "parameter 0 names value 17");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.params()[0].value = 2;  // a TEMP value
    ExpectRejected(pb.Finish(), "not stored in parameter 0");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.outputs()[0].aliased_parameter = 0;  // parameter 0 does not alias back
    ExpectRejected(pb.Finish(), "aliased_output is -1");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.params()[0].aliased_output = 3;
    ExpectRejected(pb.Finish(), "aliased to output 3");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.outputs()[0].value = 1;  // a constant of another size
    ExpectRejected(pb.Finish(), "of a different size");
  }
}

TEST(Loader, RejectsBadKernels) {
  {
    ProgramBuilder pb = ValidProgram();
    pb.kernels()[0].inputs = {99};
    ExpectRejected(pb.Finish(), "value 99");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.kernels()[0].outputs = {0};  // writes the parameter
    ExpectRejected(pb.Finish(), "read-only PARAMETER");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.kernels()[0].outputs = {1};  // writes the constant
    ExpectRejected(pb.Finish(), "read-only CONSTANT");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.kernels()[0].op_type_override = 200;  // past every union member (they are appended)
    ExpectRejected(pb.Finish(), "kernel op 200");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.kernels()[0].cost.bytes_read = -1;
    ExpectRejected(pb.Finish(), "cost");
  }
  {
    ProgramBuilder pb = ValidProgram();
    pb.kernels()[0].outputs = {};  // copy with no output
    ExpectRejected(pb.Finish(), "copy takes 1 input and 1 output");
  }
}

TEST(Loader, OnlyNibbleAwareKernelsTakeLowPrecisionValues) {
  for (DType t : {DType::kS4, DType::kU4, DType::kF8E4M3FN, DType::kF8E5M2FNUZ}) {
    ProgramBuilder pb;
    const int a = pb.Param(t, {3, 5});
    const int b = pb.Param(t, {3, 5});
    const int y = pb.Output(t, {6, 5});
    pb.Op(testing::ConcatSpec{0}, {a, b}, {y});
    ExpectRejected(pb.Finish(), "does not take fp8 or packed 4-bit values");
  }
  // int4 sizes are packed: a parameter of 7 s4 values is 4 bytes.
  ProgramBuilder pb;
  const int x = pb.Param(DType::kS4, {7});
  const int y = pb.Output(DType::kS4, {7});
  pb.Op(testing::CopySpec{}, {x}, {y});
  auto p = LoadedProgram::Load(pb.Finish());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p.value()->parameter(0).byte_size(), 4);
}

TEST(Loader, RejectsBadElementwisePrograms) {
  auto with = [](const std::function<void(testing::ElementwiseSpec&)>& edit) {
    ProgramBuilder pb = ValidProgram();
    edit(std::get<testing::ElementwiseSpec>(pb.kernels()[1].op));
    return pb.Finish();
  };
  ExpectRejected(with([](auto& s) { s.instrs[3].op = static_cast<EwOp>(200); }), "EwOp 200");
  ExpectRejected(with([](auto& s) { s.instrs[4].a = 5; }), "not defined before it");
  ExpectRejected(with([](auto& s) { s.instrs[0].a = 7; }), "loads view 7");
  ExpectRejected(with([](auto& s) { s.instrs[0].dtype = DType::kBF16; }), "of dtype f32 into a bf16 register");
  ExpectRejected(with([](auto& s) { s.instrs[4].dtype = DType::kBF16; }), "operands must have the result dtype");
  ExpectRejected(with([](auto& s) { s.views[0].offset = 1; }), "reads outside input 0");
  ExpectRejected(with([](auto& s) { s.views[1].strides = {1, 1}; }), "reads outside input 1");
  ExpectRejected(with([](auto& s) { s.views[1].strides = {0}; }), "1 strides for a rank-2");
  ExpectRejected(with([](auto& s) { s.views[2].input = 3; }), "reads input 3");
  ExpectRejected(with([](auto& s) { s.results = {}; }), "not written by any result");
  ExpectRejected(with([](auto& s) { s.results = {{5, 1}}; }), "writes output 1");
  ExpectRejected(with([](auto& s) { s.results = {{9, 0}}; }), "names register 9");
  ExpectRejected(with([](auto& s) { s.dims = {4, 9}; }), "reads outside");
  ExpectRejected(with([](auto& s) { s.instrs[3] = {EwOp::EXP, DType::kS32, 0}; }), "EXP");
  ExpectRejected(with([](auto& s) { s.instrs[3] = {EwOp::SHL, DType::kF32, 0, 0}; }), "SHL");
  ExpectRejected(with([](auto& s) { s.instrs[3] = {EwOp::CMP_LT, DType::kF32, 0, 1}; }), "pred");
  ExpectRejected(with([](auto& s) { s.instrs[3] = {EwOp::SELECT, DType::kF32, 0, 1, 2}; }), "select");
  ExpectRejected(with([](auto& s) { s.instrs[3] = {EwOp::BITCAST_CONVERT, DType::kF16, 0}; }), "bit widths");
  ExpectRejected(with([](auto& s) { s.instrs[3] = {EwOp::IOTA, DType::kF32, 2}; }), "iota dimension 2");
}

TEST(Loader, RejectsInconsistentKernelShapes) {
  {
    ProgramBuilder pb("dot");
    const int a = pb.Param(DType::kF32, {3, 4});
    const int b = pb.Param(DType::kF32, {5, 6});
    const int o = pb.Output(DType::kF32, {3, 6});
    pb.Op(testing::DotSpec{{}, {}, {1}, {0}}, {a, b}, {o});
    ExpectRejected(pb.Finish(), "contracting dim sizes differ");
  }
  {
    ProgramBuilder pb("dot");
    const int a = pb.Param(DType::kF32, {3, 4});
    const int b = pb.Param(DType::kF32, {4, 6});
    const int o = pb.Output(DType::kF32, {6, 3});
    pb.Op(testing::DotSpec{{}, {}, {1}, {0}}, {a, b}, {o});
    ExpectRejected(pb.Finish(), "expected f32[3,6]");
  }
  {
    ProgramBuilder pb("dot");
    const int a = pb.Param(DType::kF32, {3, 4});
    const int b = pb.Param(DType::kF32, {4, 6});
    const int o = pb.Output(DType::kF32, {3, 6});
    pb.Op(testing::DotSpec{{}, {}, {1}, {3}}, {a, b}, {o});
    ExpectRejected(pb.Finish(), "rhs dim 3");
  }
  {
    ProgramBuilder pb("reduce");
    const int a = pb.Param(DType::kF32, {3, 4});
    const int i = pb.Param(DType::kF32, {});
    const int o = pb.Output(DType::kF32, {4});
    pb.Op(testing::ReduceSpec{{1}, exe::ReduceOp::SUM}, {a, i}, {o});
    ExpectRejected(pb.Finish(), "kept dims give f32[3]");
  }
  {
    ProgramBuilder pb("reduce");
    const int a = pb.Param(DType::kF32, {3, 4});
    const int i = pb.Param(DType::kF32, {});
    const int o = pb.Output(DType::kF32, {3});
    pb.Op(testing::ReduceSpec{{1}, exe::ReduceOp::XOR}, {a, i}, {o});
    ExpectRejected(pb.Finish(), "bitwise reduction");
  }
  {
    ProgramBuilder pb("reduce");
    const int a = pb.Param(DType::kF32, {3, 4});
    const int i = pb.Param(DType::kF32, {});
    const int o = pb.Output(DType::kF32, {3});
    pb.Op(testing::ReduceSpec{{1}, static_cast<exe::ReduceOp>(12)}, {a, i}, {o});
    ExpectRejected(pb.Finish(), "reduce op 12");
  }
  {
    ProgramBuilder pb("concat");
    const int a = pb.Param(DType::kF32, {3, 4});
    const int b = pb.Param(DType::kF32, {3, 5});
    const int o = pb.Output(DType::kF32, {6, 4});
    pb.Op(testing::ConcatSpec{0}, {a, b}, {o});
    ExpectRejected(pb.Finish(), "does not fit output");
  }
  {
    ProgramBuilder pb("copy");
    const int a = pb.Param(DType::kF32, {3, 4});
    const int o = pb.Output(DType::kF32, {3, 5});
    pb.Op(testing::CopySpec{}, {a}, {o});
    ExpectRejected(pb.Finish(), "byte sizes differ");
  }
}

// Loads (and, when that succeeds, runs) corrupted executables: errors are fine, crashes are not.
void LoadAndMaybeRun(const std::string& bytes) {
  auto p = LoadedProgram::Load(bytes);
  if (!p.ok()) {
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(p.status().message().empty());
    return;
  }
  std::vector<HostTensor> args;
  for (int i = 0; i < p.value()->num_parameters(); ++i) {
    const TensorInfo& info = p.value()->parameter(i);
    if (info.byte_size() > (1 << 20)) return;  // corrupted to something huge: loading was the test
    args.emplace_back(info.dtype, info.dims);
  }
  int64_t total = p.value()->arena_bytes();
  for (int i = 0; i < p.value()->num_outputs(); ++i) total += p.value()->output(i).byte_size();
  if (total > (1 << 24)) return;
  testing::Run(bytes, args);
}

TEST(Loader, SurvivesTruncatedRandomAndBitFlippedBytes) {
  const std::string good = ValidProgram().Finish();
  for (size_t n = 0; n < good.size(); ++n) LoadAndMaybeRun(good.substr(0, n));
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] ^= static_cast<char>(1u << (rng() % 8));
    LoadAndMaybeRun(bytes);
  }
  for (int i = 0; i < 500; ++i) {
    std::string bytes(rng() % 512, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (bytes.size() >= 8 && i % 2) bytes.replace(4, 4, "CHPX");
    LoadAndMaybeRun(bytes);
  }
}

}  // namespace
}  // namespace chip
