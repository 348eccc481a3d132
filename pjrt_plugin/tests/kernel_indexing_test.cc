// The indexing kernels through the loader and the executor, on forms JAX never emits (so the
// Python parity tests cannot reach them): gather with index_vector_dim first or implicit,
// scatter with several operands and a region program, in-place scatter on a donated operand,
// sort with comparators that are not strict weak orders, region programs evaluated over strided
// lanes, and the load-time checks that reject malformed tables with a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using testing::Dims;
using testing::HostTensor;
using testing::ProgramBuilder;
using testing::RawOpSpec;
using I64s = std::vector<int64_t>;

exe::Instr In(exe::EwOp op, DType t, int a = 0, int b = 0, int c = 0, int64_t imm_i = 0, double imm_f = 0) {
  return exe::Instr(op, testing::Fb(t), a, b, c, imm_i, imm_f);
}

flatbuffers::Offset<exe::RegionProgram> Program(flatbuffers::FlatBufferBuilder& b, const std::vector<exe::Instr>& instrs,
                                                const std::vector<int>& results) {
  return exe::CreateRegionProgramDirect(b, &instrs, &results);
}

int64_t Clamp(int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); }

std::vector<int64_t> Unflatten(int64_t i, const Dims& dims) {
  std::vector<int64_t> m(dims.size());
  for (int k = static_cast<int>(dims.size()) - 1; k >= 0; --k) {
    m[k] = i % dims[k];
    i /= dims[k];
  }
  return m;
}

int64_t Flatten(const std::vector<int64_t>& m, const Dims& dims) {
  int64_t f = 0;
  for (size_t k = 0; k < dims.size(); ++k) f = f * dims[k] + m[k];
  return f;
}

// ---- gather ------------------------------------------------------------------------------------------

// StableHLO's gather, written from the spec: for output index o, batch index b = o at the
// non-offset dims, start = clamp(indices[b with the index vector at ivd]), offsets at offset dims.
HostTensor ReferenceGather(const HostTensor& operand, const HostTensor& indices, const I64s& offset_dims,
                           const I64s& collapsed, const I64s& start_index_map, int64_t ivd, const I64s& slice_sizes,
                           const Dims& out_dims) {
  HostTensor out(operand.info.dtype, out_dims);
  const Dims& od = operand.info.dims;
  const Dims& id = indices.info.dims;
  for (int64_t o = 0; o < out.size(); ++o) {
    const auto oi = Unflatten(o, out_dims);
    std::vector<int64_t> batch, offs;
    for (size_t j = 0; j < oi.size(); ++j) {
      (std::find(offset_dims.begin(), offset_dims.end(), static_cast<int64_t>(j)) != offset_dims.end() ? offs : batch)
          .push_back(oi[j]);
    }
    std::vector<int64_t> start(od.size(), 0);
    for (size_t k = 0; k < start_index_map.size(); ++k) {
      std::vector<int64_t> ix;
      size_t bj = 0;
      for (int64_t d = 0; d < static_cast<int64_t>(id.size()); ++d) ix.push_back(d == ivd ? static_cast<int64_t>(k) : batch[bj++]);
      const int64_t d = start_index_map[k];
      start[d] = Clamp(indices.GetInt(Flatten(ix, id)), 0, od[d] - slice_sizes[d]);
    }
    std::vector<int64_t> full(od.size());
    size_t w = 0;
    for (size_t d = 0; d < od.size(); ++d) {
      const bool col = std::find(collapsed.begin(), collapsed.end(), static_cast<int64_t>(d)) != collapsed.end();
      full[d] = start[d] + (col ? 0 : offs[w++]);
    }
    std::memcpy(out.at(o), operand.at(Flatten(full, od)), DTypeByteSize(operand.info.dtype));
  }
  return out;
}

struct GatherCase {
  Dims operand, indices;
  I64s offset_dims, collapsed, start_index_map;
  int64_t ivd;
  I64s slice_sizes;
  Dims out;
};

TEST(Gather, IndexVectorDimFirstOrImplicit) {
  std::mt19937 rng(1);
  const std::vector<GatherCase> cases = {
      // index vectors along dim 0 of the indices
      {{6, 7, 8}, {2, 3, 5}, {0, 3}, {1}, {2, 1}, 0, {2, 1, 4}, {2, 3, 5, 4}},
      // implicit index vector (index_vector_dim == rank of the indices)
      {{10, 4}, {3, 2}, {2}, {0}, {0}, 2, {1, 4}, {3, 2, 4}},
      // a 0-d indices tensor with an implicit vector: one slice
      {{9, 5}, {}, {0, 1}, {}, {1}, 0, {3, 2}, {3, 2}},
  };
  for (DType t : {DType::kF32, DType::kS8, DType::kBF16}) {
    for (const GatherCase& c : cases) {
      HostTensor x = testing::Random(t, c.operand, rng);
      HostTensor idx = testing::Random(DType::kS16, c.indices, rng, -3, 12);  // out of range too
      ProgramBuilder pb("gather");
      const int a = pb.Param(t, c.operand), i = pb.Param(DType::kS16, c.indices), o = pb.Output(t, c.out);
      RawOpSpec op{exe::KernelOp::Gather, [&](flatbuffers::FlatBufferBuilder& b) {
                     const I64s none;
                     return exe::CreateGatherDirect(b, &c.offset_dims, &c.collapsed, &none, &none, &c.start_index_map,
                                                    c.ivd, &c.slice_sizes)
                         .Union();
                   }};
      pb.Op(op, {a, i}, {o}, "gather.0");
      auto r = testing::Run(pb.Finish(), {x, idx});
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      HostTensor want = ReferenceGather(x, idx, c.offset_dims, c.collapsed, c.start_index_map, c.ivd, c.slice_sizes,
                                        c.out);
      for (int64_t e = 0; e < want.size(); ++e) ASSERT_EQ(r.outputs[0].Bits(e), want.Bits(e)) << "element " << e;
    }
  }
}

// ---- scatter ------------------------------------------------------------------------------------------

// Two operands (f32, s32) scattered with the program (cur0 + upd0 * 2, max(cur1, upd1)), rows
// as windows, duplicate indices, and indices whose row does not fit (skipped).
TEST(Scatter, SeveralOperandsWithAProgramAndSkippedWindows) {
  std::mt19937 rng(2);
  const Dims od = {7, 5}, ud = {9, 5}, idd = {9, 1};
  HostTensor a = testing::Random(DType::kF32, od, rng), b = testing::Random(DType::kS32, od, rng, -100, 100);
  HostTensor ua = testing::Random(DType::kF32, ud, rng), ub = testing::Random(DType::kS32, ud, rng, -100, 100);
  HostTensor idx(DType::kS32, idd);
  const int64_t rows[9] = {0, 3, 3, 6, 7, -1, 2, 3, 100};
  for (int i = 0; i < 9; ++i) idx.SetInt(i, rows[i]);
  for (bool donate : {false, true}) {
    ProgramBuilder pb("scatter");
    const int pa = pb.Param(DType::kF32, od, donate ? 0 : -1), pbv = pb.Param(DType::kS32, od);
    const int pi = pb.Param(DType::kS32, idd), pua = pb.Param(DType::kF32, ud), pub = pb.Param(DType::kS32, ud);
    const int oa = pb.Output(DType::kF32, od, donate ? 0 : -1), ob = pb.Output(DType::kS32, od);
    RawOpSpec op{exe::KernelOp::Scatter, [&](flatbuffers::FlatBufferBuilder& fb) {
                   const I64s window = {1}, inserted = {0}, to_operand = {0}, none;
                   // args: cur0, cur1, upd0, upd1
                   std::vector<exe::Instr> p = {
                       In(exe::EwOp::LOAD, DType::kF32, 0), In(exe::EwOp::LOAD, DType::kF32, 2),
                       In(exe::EwOp::CONST, DType::kF32, 0, 0, 0, 0, 2.0), In(exe::EwOp::MUL, DType::kF32, 1, 2),
                       In(exe::EwOp::ADD, DType::kF32, 0, 3), In(exe::EwOp::LOAD, DType::kS32, 1),
                       In(exe::EwOp::LOAD, DType::kS32, 3), In(exe::EwOp::MAX, DType::kS32, 5, 6)};
                   auto prog = Program(fb, p, {4, 7});
                   return exe::CreateScatterDirect(fb, &window, &inserted, &none, &none, &to_operand, 1, false, false,
                                                   exe::RegionKind::PROGRAM, prog)
                       .Union();
                 }};
    pb.Op(op, {pa, pbv, pi, pua, pub}, {oa, ob}, "scatter.0");
    auto r = testing::RunOn(testing::TestDevice(), pb.Finish(), {a, b, idx, ua, ub}, {donate, false, false, false, false});
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    HostTensor wa = a, wb = b;
    for (int i = 0; i < 9; ++i) {
      if (rows[i] < 0 || rows[i] >= od[0]) continue;
      for (int j = 0; j < 5; ++j) {
        const int64_t e = rows[i] * 5 + j;
        wa.Set(e, static_cast<float>(wa.Get(e)) + static_cast<float>(ua.Get(i * 5 + j)) * 2.0f);
        wb.SetInt(e, std::max(wb.GetInt(e), ub.GetInt(i * 5 + j)));
      }
    }
    for (int64_t e = 0; e < wa.size(); ++e) {
      ASSERT_EQ(r.outputs[0].Bits(e), wa.Bits(e)) << "donate " << donate << " element " << e;
      ASSERT_EQ(r.outputs[1].GetInt(e), wb.GetInt(e)) << "element " << e;
    }
  }
}

// ---- sort ---------------------------------------------------------------------------------------------

// Comparators that are not strict weak orders (always true, always false, <=) still give a
// permutation of the operands, moved together.
TEST(Sort, AnyComparatorGivesAPermutation) {
  std::mt19937 rng(3);
  const Dims d = {3, 257};
  HostTensor x = testing::Random(DType::kF32, d, rng);
  HostTensor iota(DType::kS32, d);
  for (int64_t i = 0; i < iota.size(); ++i) iota.SetInt(i, i % 257);
  const std::vector<std::vector<exe::Instr>> comparators = {
      {In(exe::EwOp::CONST, DType::kPred, 0, 0, 0, 1)},
      {In(exe::EwOp::CONST, DType::kPred, 0, 0, 0, 0)},
      {In(exe::EwOp::LOAD, DType::kF32, 0), In(exe::EwOp::LOAD, DType::kF32, 1), In(exe::EwOp::CMP_LE, DType::kPred, 0, 1)},
  };
  for (const auto& cmp : comparators) {
    ProgramBuilder pb("sort");
    const int px = pb.Param(DType::kF32, d), pi = pb.Param(DType::kS32, d);
    const int ox = pb.Output(DType::kF32, d), oi = pb.Output(DType::kS32, d);
    RawOpSpec op{exe::KernelOp::Sort, [&](flatbuffers::FlatBufferBuilder& b) {
                   const int res = static_cast<int>(cmp.size()) - 1;
                   return exe::CreateSort(b, 1, true, Program(b, cmp, {res})).Union();
                 }};
    pb.Op(op, {px, pi}, {ox, oi}, "sort.0");
    auto r = testing::Run(pb.Finish(), {x, iota});
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    for (int64_t row = 0; row < 3; ++row) {
      std::vector<bool> seen(257, false);
      for (int64_t j = 0; j < 257; ++j) {
        const int64_t src = r.outputs[1].GetInt(row * 257 + j);
        ASSERT_TRUE(src >= 0 && src < 257 && !seen[src]);
        seen[src] = true;
        ASSERT_EQ(r.outputs[0].Bits(row * 257 + j), x.Bits(row * 257 + src));
      }
    }
  }
}

// Native keys: IEEE float keys descending, then signed integer keys ascending (a lexicographic
// comparator JAX does not emit, but a StableHLO producer may), against std::stable_sort.
TEST(Sort, FloatDescendingThenSignedKeys) {
  std::mt19937 rng(5);
  const Dims d = {4, 300};
  HostTensor x = testing::Random(DType::kF16, d, rng, -3, 3), y = testing::Random(DType::kS8, d, rng, -5, 5);
  for (int64_t i = 0; i < x.size(); i += 7) x.Set(i, 1.0);  // ties in the first key
  ProgramBuilder pb("sort_keys");
  const int px = pb.Param(DType::kF16, d), py = pb.Param(DType::kS8, d);
  const int ox = pb.Output(DType::kF16, d), oy = pb.Output(DType::kS8, d);
  RawOpSpec op{exe::KernelOp::Sort, [&](flatbuffers::FlatBufferBuilder& b) {
                 // comparator: gt(x0, x1) | (eq(x0, x1) & lt(y0, y1)); args x0, x1, y0, y1
                 std::vector<exe::Instr> p = {
                     In(exe::EwOp::LOAD, DType::kF16, 0), In(exe::EwOp::LOAD, DType::kF16, 1),
                     In(exe::EwOp::LOAD, DType::kS8, 2), In(exe::EwOp::LOAD, DType::kS8, 3),
                     In(exe::EwOp::CMP_GT, DType::kPred, 0, 1), In(exe::EwOp::CMP_EQ, DType::kPred, 0, 1),
                     In(exe::EwOp::CMP_LT, DType::kPred, 2, 3), In(exe::EwOp::AND, DType::kPred, 5, 6),
                     In(exe::EwOp::OR, DType::kPred, 4, 7)};
                 auto cmp = Program(b, p, {8});
                 std::vector<flatbuffers::Offset<exe::SortKey>> keys = {
                     exe::CreateSortKey(b, 0, 0, exe::SortCompare::FLOAT, true),
                     exe::CreateSortKey(b, 1, 0, exe::SortCompare::SIGNED, false)};
                 return exe::CreateSortDirect(b, 1, true, cmp, &keys).Union();
               }};
  pb.Op(op, {px, py}, {ox, oy}, "sort.0");
  auto r = testing::Run(pb.Finish(), {x, y});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int64_t row = 0; row < 4; ++row) {
    std::vector<int> perm(300);
    for (int i = 0; i < 300; ++i) perm[i] = i;
    std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) {
      const double xa = x.Get(row * 300 + a), xb = x.Get(row * 300 + b);
      return xa > xb || (xa == xb && y.GetInt(row * 300 + a) < y.GetInt(row * 300 + b));
    });
    for (int i = 0; i < 300; ++i) {
      ASSERT_EQ(r.outputs[0].Bits(row * 300 + i), x.Bits(row * 300 + perm[i])) << row << " " << i;
      ASSERT_EQ(r.outputs[1].GetInt(row * 300 + i), y.GetInt(row * 300 + perm[i]));
    }
  }
}

// top_k with largest = false (not reachable from lax.top_k): smallest first, ties by lower index.
TEST(TopK, SmallestFirst) {
  std::mt19937 rng(6);
  const Dims d = {5, 40};
  HostTensor x = testing::Random(DType::kS8, d, rng, -6, 6);
  ProgramBuilder pb("top_k");
  const int px = pb.Param(DType::kS8, d), ov = pb.Output(DType::kS8, {5, 7}), oi = pb.Output(DType::kS32, {5, 7});
  pb.Op(RawOpSpec{exe::KernelOp::TopK, [](flatbuffers::FlatBufferBuilder& b) { return exe::CreateTopK(b, 7, false).Union(); }},
        {px}, {ov, oi}, "top_k.0");
  auto r = testing::Run(pb.Finish(), {x});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int64_t row = 0; row < 5; ++row) {
    std::vector<int> perm(40);
    for (int i = 0; i < 40; ++i) perm[i] = i;
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int a, int b) { return x.GetInt(row * 40 + a) < x.GetInt(row * 40 + b); });
    for (int j = 0; j < 7; ++j) {
      ASSERT_EQ(r.outputs[1].GetInt(row * 7 + j), perm[j]) << row << " " << j;
      ASSERT_EQ(r.outputs[0].GetInt(row * 7 + j), x.GetInt(row * 40 + perm[j]));
    }
  }
}

// ---- region programs ----------------------------------------------------------------------------------

TEST(RegionEvaluator, StridedAndBroadcastLanes) {
  flatbuffers::FlatBufferBuilder b;
  // r = bf16(a * b + 1) with a: bf16 (stride 3), b: bf16 (stride 0: one value for every lane)
  std::vector<exe::Instr> p = {In(exe::EwOp::LOAD, DType::kBF16, 0), In(exe::EwOp::LOAD, DType::kBF16, 1),
                               In(exe::EwOp::MUL, DType::kBF16, 0, 1), In(exe::EwOp::CONST, DType::kBF16, 0, 0, 0, 0, 1.0),
                               In(exe::EwOp::ADD, DType::kBF16, 2, 3)};
  b.Finish(Program(b, p, {4}));
  const auto* prog = flatbuffers::GetRoot<exe::RegionProgram>(b.GetBufferPointer());
  ASSERT_TRUE(kernels::ValidateRegionProgram(prog, {DType::kBF16, DType::kBF16}, {DType::kBF16}, "test").ok());
  kernels::RegionEvaluator ev(*prog, {DType::kBF16, DType::kBF16});
  std::mt19937 rng(4);
  const int64_t n = 1500;
  HostTensor a = testing::Random(DType::kBF16, {3 * n}, rng), s = testing::Random(DType::kBF16, {1}, rng);
  HostTensor out(DType::kBF16, {n});
  const void* args[2] = {a.at(0), s.at(0)};
  const int64_t strides[2] = {3, 0};
  void* results[1] = {out.at(0)};
  ev.Run(args, strides, n, results);
  for (int64_t i = 0; i < n; ++i) {
    HostTensor w(DType::kBF16, {1});
    w.Set(0, static_cast<float>(a.Get(3 * i)) * static_cast<float>(s.Get(0)));  // rounded to bf16
    w.Set(0, static_cast<float>(w.Get(0)) + 1.0f);
    ASSERT_EQ(out.Bits(i), w.Bits(0)) << i;
  }
}

// ---- load-time checks ---------------------------------------------------------------------------------

std::string LoadError(const std::function<void(ProgramBuilder&)>& build) {
  ProgramBuilder pb("bad");
  build(pb);
  auto p = LoadedProgram::Load(pb.Finish());
  return p.ok() ? std::string("loaded") : p.status().message();
}

TEST(IndexingLoader, RejectsMalformedTables) {
  const I64s none;
  // gather: start_index_map longer than the index vectors
  std::string m = LoadError([&](ProgramBuilder& pb) {
    const int a = pb.Param(DType::kF32, {4, 5}), i = pb.Param(DType::kS32, {3, 1}), o = pb.Output(DType::kF32, {3, 5});
    pb.Op(RawOpSpec{exe::KernelOp::Gather, [&](flatbuffers::FlatBufferBuilder& b) {
            const I64s off = {1}, col = {0}, sim = {0, 1}, sizes = {1, 5};
            return exe::CreateGatherDirect(b, &off, &col, &none, &none, &sim, 1, &sizes).Union();
          }},
          {a, i}, {o}, "gather.0");
  });
  EXPECT_NE(m.find("gather start_index_map"), std::string::npos) << m;
  // gather: float indices
  m = LoadError([&](ProgramBuilder& pb) {
    const int a = pb.Param(DType::kF32, {4, 5}), i = pb.Param(DType::kF32, {3, 1}), o = pb.Output(DType::kF32, {3, 5});
    pb.Op(RawOpSpec{exe::KernelOp::Gather, [&](flatbuffers::FlatBufferBuilder& b) {
            const I64s off = {1}, col = {0}, sim = {0}, sizes = {1, 5};
            return exe::CreateGatherDirect(b, &off, &col, &none, &none, &sim, 1, &sizes).Union();
          }},
          {a, i}, {o}, "gather.0");
  });
  EXPECT_NE(m.find("must be integers"), std::string::npos) << m;
  // scatter: an update program with IOTA and one with a LOAD of a missing argument
  for (int bad = 0; bad < 2; ++bad) {
    m = LoadError([&](ProgramBuilder& pb) {
      const int a = pb.Param(DType::kF32, {4}), i = pb.Param(DType::kS32, {2, 1}), u = pb.Param(DType::kF32, {2});
      const int o = pb.Output(DType::kF32, {4});
      pb.Op(RawOpSpec{exe::KernelOp::Scatter, [&](flatbuffers::FlatBufferBuilder& b) {
              const I64s ins = {0}, to = {0};
              std::vector<exe::Instr> p = {bad == 0 ? In(exe::EwOp::IOTA, DType::kF32, 0) : In(exe::EwOp::LOAD, DType::kF32, 5)};
              return exe::CreateScatterDirect(b, &none, &ins, &none, &none, &to, 1, false, false,
                                              exe::RegionKind::PROGRAM, Program(b, p, {0}))
                  .Union();
            }},
            {a, i, u}, {o}, "scatter.0");
    });
    EXPECT_NE(m.find(bad == 0 ? "IOTA is not allowed" : "loads argument 5"), std::string::npos) << m;
  }
  // top_k with k larger than the dim; pad with a wrong output shape; dynamic_slice too big
  m = LoadError([&](ProgramBuilder& pb) {
    const int a = pb.Param(DType::kF32, {2, 5}), v = pb.Output(DType::kF32, {2, 6}), i = pb.Output(DType::kS32, {2, 6});
    pb.Op(RawOpSpec{exe::KernelOp::TopK, [](flatbuffers::FlatBufferBuilder& b) { return exe::CreateTopK(b, 6).Union(); }},
          {a}, {v, i}, "top_k.0");
  });
  EXPECT_NE(m.find("top_k k=6 is out of range"), std::string::npos) << m;
  m = LoadError([&](ProgramBuilder& pb) {
    const int a = pb.Param(DType::kS8, {3}), v = pb.Param(DType::kS8, {}), o = pb.Output(DType::kS8, {9});
    pb.Op(RawOpSpec{exe::KernelOp::Pad, [](flatbuffers::FlatBufferBuilder& b) {
            const I64s lo = {1}, hi = {2}, in = {1};
            return exe::CreatePadDirect(b, &lo, &hi, &in).Union();
          }},
          {a, v}, {o}, "pad.0");
  });
  EXPECT_NE(m.find("pad of s8[3] gives s8[8]"), std::string::npos) << m;
  m = LoadError([&](ProgramBuilder& pb) {
    const int a = pb.Param(DType::kF32, {4, 4}), s0 = pb.Param(DType::kS32, {}), s1 = pb.Param(DType::kS32, {});
    const int o = pb.Output(DType::kF32, {5, 1});
    pb.Op(RawOpSpec{exe::KernelOp::DynamicSlice, [](flatbuffers::FlatBufferBuilder& b) {
            const I64s sizes = {5, 1};
            return exe::CreateDynamicSliceDirect(b, &sizes).Union();
          }},
          {a, s0, s1}, {o}, "dynamic_slice.0");
  });
  EXPECT_NE(m.find("exceed operand"), std::string::npos) << m;
  // a native region kind on a dtype it is not defined for
  m = LoadError([&](ProgramBuilder& pb) {
    const int a = pb.Param(DType::kF32, {6}), init = pb.Param(DType::kF32, {}), o = pb.Output(DType::kF32, {6});
    pb.Op(RawOpSpec{exe::KernelOp::ReduceWindow, [](flatbuffers::FlatBufferBuilder& b) {
            const I64s w = {6}, one = {1}, lo = {5}, hi = {0};
            return exe::CreateReduceWindowDirect(b, &w, &one, &one, &one, &lo, &hi, exe::RegionKind::XOR).Union();
          }},
          {a, init}, {o}, "reduce_window.0");
  });
  EXPECT_NE(m.find("XOR is not defined on f32"), std::string::npos) << m;
}

}  // namespace
}  // namespace chip
