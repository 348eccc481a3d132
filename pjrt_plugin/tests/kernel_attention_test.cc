// The attention custom-call kernels (paged KV write, paged decode, radix extend) against a naive
// double-precision reference, their page-id clamp, their modeled work, and the custom-call
// registry's validation (unknown targets, aliases, attributes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "pjrt_plugin/kernels/attention_decode.h"
#include "pjrt_plugin/kernels/attention_extend.h"
#include "pjrt_plugin/kernels/attention_kv_write.h"
#include "pjrt_plugin/kernels/custom_call.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using kernels::CustomCallAttributes;
using testing::HostTensor;

CustomCallAttributes AttentionAttrs(double scale, int64_t page_size) {
  CustomCallAttributes a;
  CustomCallAttributes::Attr s;
  s.kind = CustomCallAttributes::Kind::kFloat;
  s.element = "f32";
  s.f = scale;
  a.Set("scale", s);
  CustomCallAttributes::Attr p;
  p.kind = CustomCallAttributes::Kind::kInt;
  p.element = "s64";
  p.i = page_size;
  a.Set("page_size", p);
  return a;
}

// The attributes as the kernels' prepare step decodes them.
kernels::attention::AttentionParams Params(double scale, int64_t page_size) {
  return kernels::attention::AttentionParams::Decode(AttentionAttrs(scale, page_size)).value();
}

kernels::TensorRef Ref(HostTensor& h) { return {&h.info, h.bytes.data()}; }

HostTensor Ints(const testing::Dims& dims, const std::vector<int64_t>& values) {
  HostTensor h(DType::kS32, dims);
  for (size_t i = 0; i < values.size(); ++i) h.SetInt(static_cast<int64_t>(i), values[i]);
  return h;
}

// Reference: q row [heads, dim] at `q_off` over the first `n` positions of a sequence.
void ReferenceAttend(const HostTensor& q, int64_t q_row, const HostTensor& k, const HostTensor& v,
                     const std::vector<int64_t>& rows, int64_t n, double scale, std::vector<double>* out) {
  const int64_t heads = q.info.dims[1], dim = q.info.dims[2], kv_heads = k.info.dims[1];
  const int64_t group = heads / kv_heads;
  out->assign(heads * dim, 0.0);
  if (n <= 0) return;
  for (int64_t h = 0; h < heads; ++h) {
    const int64_t kh = h / group;
    std::vector<double> s(n);
    double peak = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < dim; ++d) {
        dot += q.Get((q_row * heads + h) * dim + d) * k.Get((rows[j] * kv_heads + kh) * dim + d);
      }
      s[j] = dot * scale;
      peak = std::max(peak, s[j]);
    }
    double sum = 0;
    for (double& x : s) sum += (x = std::exp(x - peak));
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t d = 0; d < dim; ++d) (*out)[h * dim + d] += s[j] / sum * v.Get((rows[j] * kv_heads + kh) * dim + d);
    }
  }
}

std::vector<int64_t> SequenceRows(const HostTensor& table, int64_t b, int64_t n, int64_t page, int64_t num_pages) {
  const int64_t max_pages = table.info.dims[1];
  std::vector<int64_t> rows;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t p = std::clamp<int64_t>(table.GetInt(b * max_pages + j / page), 0, num_pages - 1);
    rows.push_back(p * page + j % page);
  }
  return rows;
}

TEST(AttentionDecode, MatchesReferenceForGqaPagesAndDtypes) {
  std::mt19937 rng(1);
  for (DType t : {DType::kF32, DType::kBF16}) {
    for (int64_t page : {1, 16, 64}) {
      for (int64_t ratio : {1, 4}) {
        const int64_t kv_heads = 2, heads = kv_heads * ratio, dim = 16, batch = 4;
        const int64_t num_pages = 320 / page + 2, rows = num_pages * page;
        const int64_t max_pages = 200 / page + 2;
        HostTensor q = testing::Random(t, {batch, heads, dim}, rng, -2, 2);
        HostTensor k = testing::Random(t, {rows, kv_heads, dim}, rng, -2, 2);
        HostTensor v = testing::Random(t, {rows, kv_heads, dim}, rng, -2, 2);
        HostTensor table(DType::kS32, {batch, max_pages});
        for (int64_t i = 0; i < table.size(); ++i) table.SetInt(i, static_cast<int64_t>(rng() % num_pages));
        table.SetInt(1 * max_pages + 0, -7);              // clamped to page 0
        table.SetInt(2 * max_pages + 1, num_pages + 99);  // clamped to the last page
        HostTensor lens = Ints({batch}, {0, page + 3, 2 * page + 1, 1});
        HostTensor out(t, {batch, heads, dim});
        KernelWork work;
        const Status s = kernels::RunPagedAttentionDecode(Params(0.3, page), {Ref(q), Ref(k), Ref(v), Ref(table), Ref(lens)},
                                                          {Ref(out)}, &work);
        ASSERT_TRUE(s.ok()) << s.ToString();
        std::vector<double> want;
        int64_t tokens = 0;
        for (int64_t b = 0; b < batch; ++b) {
          const int64_t n = lens.GetInt(b);
          tokens += n;
          ReferenceAttend(q, b, k, v, SequenceRows(table, b, n, page, num_pages), n, 0.3, &want);
          for (int64_t i = 0; i < heads * dim; ++i) {
            const double tol = t == DType::kF32 ? 2e-5 : 2e-2;
            ASSERT_NEAR(out.Get(b * heads * dim + i), want[i], tol) << "page " << page << " seq " << b;
          }
        }
        const double kv = static_cast<double>(tokens) * kv_heads * dim * 2 * DTypeByteSize(t);
        EXPECT_EQ(work.vector_flops, 4.0 * tokens * heads * dim);
        EXPECT_EQ(work.transcendentals, static_cast<double>(tokens * heads));
        EXPECT_GE(work.bytes_read, kv);
        EXPECT_LT(work.bytes_read, kv + q.info.byte_size() + 4 * table.size() + 4 * batch + 1);
      }
    }
  }
}

TEST(AttentionDecode, WorkDoesNotDependOnThePoolSize) {
  std::mt19937 rng(2);
  KernelWork small, big;
  for (int64_t rows : {64, 4096}) {
    HostTensor q = testing::Random(DType::kBF16, {2, 4, 8}, rng);
    HostTensor k = testing::Random(DType::kBF16, {rows, 2, 8}, rng);
    HostTensor table = Ints({2, 2}, {1, 2, 3, 0});
    HostTensor lens = Ints({2}, {20, 9});
    HostTensor out(DType::kBF16, {2, 4, 8});
    KernelWork& w = rows == 64 ? small : big;
    ASSERT_TRUE(kernels::RunPagedAttentionDecode(Params(1.0, 16), {Ref(q), Ref(k), Ref(k), Ref(table), Ref(lens)},
                                                 {Ref(out)}, &w)
                    .ok());
  }
  EXPECT_EQ(small.bytes_read, big.bytes_read);
  EXPECT_EQ(small.vector_flops, big.vector_flops);
}

TEST(AttentionExtend, MatchesReferenceWithPrefixesAndPadding) {
  std::mt19937 rng(3);
  for (DType t : {DType::kF32, DType::kBF16}) {
    for (int64_t page : {1, 16}) {
      const int64_t kv_heads = 2, heads = 4, dim = 8;
      const std::vector<int64_t> prefix = {0, page + 2, 3, 0}, extend = {5, 3, 1, 0};
      const int64_t batch = 4, pad = 3, tokens = 9 + pad;
      const int64_t num_pages = 64 / page + 4, rows = num_pages * page, max_pages = 40 / page + 2;
      HostTensor q = testing::Random(t, {tokens, heads, dim}, rng, -2, 2);
      HostTensor k = testing::Random(t, {rows, kv_heads, dim}, rng, -2, 2);
      HostTensor v = testing::Random(t, {rows, kv_heads, dim}, rng, -2, 2);
      HostTensor table(DType::kS32, {batch, max_pages});
      for (int64_t i = 0; i < table.size(); ++i) table.SetInt(i, static_cast<int64_t>(rng() % num_pages));
      table.SetInt(1, num_pages + 5);  // sequence 0, page 1: clamped
      HostTensor pre = Ints({batch}, prefix), ext = Ints({batch}, extend);
      HostTensor out = testing::Random(t, {tokens, heads, dim}, rng);  // garbage: every row must be written
      KernelWork work;
      const Status s = kernels::RunRadixAttentionExtend(Params(0.5, page),
                                                        {Ref(q), Ref(k), Ref(v), Ref(table), Ref(pre), Ref(ext)},
                                                        {Ref(out)}, &work);
      ASSERT_TRUE(s.ok()) << s.ToString();
      int64_t row = 0;
      double scored = 0;
      std::vector<double> want;
      for (int64_t b = 0; b < batch; ++b) {
        const auto seq_rows = SequenceRows(table, b, prefix[b] + extend[b], page, num_pages);
        for (int64_t i = 0; i < extend[b]; ++i, ++row) {
          const int64_t visible = prefix[b] + i + 1;
          scored += static_cast<double>(visible);
          ReferenceAttend(q, row, k, v, seq_rows, visible, 0.5, &want);
          for (int64_t x = 0; x < heads * dim; ++x) {
            ASSERT_NEAR(out.Get(row * heads * dim + x), want[x], t == DType::kF32 ? 2e-5 : 2e-2)
                << "sequence " << b << " token " << i;
          }
        }
      }
      for (; row < tokens; ++row) {
        for (int64_t x = 0; x < heads * dim; ++x) ASSERT_EQ(out.Get(row * heads * dim + x), 0.0) << "padding row " << row;
      }
      EXPECT_EQ(work.matrix_flops, 4.0 * scored * heads * dim);
      EXPECT_EQ(work.transcendentals, scored * heads);
    }
  }
}

TEST(PagedKvWrite, InPlaceWritesOnlyKeptRowsAndCopiesOtherwise) {
  std::mt19937 rng(4);
  for (DType t : {DType::kF32, DType::kBF16}) {
    HostTensor k = testing::Random(t, {32, 2, 4}, rng), v = testing::Random(t, {32, 2, 4}, rng);
    HostTensor kn = testing::Random(t, {5, 2, 4}, rng), vn = testing::Random(t, {5, 2, 4}, rng);
    HostTensor slots = Ints({5}, {3, -1, 31, 32, -2});
    const HostTensor k0 = k, v0 = v;
    const int64_t row = 2 * 4 * DTypeByteSize(t);

    // In place: the outputs are the pools.
    KernelWork work;
    ASSERT_TRUE(kernels::RunPagedKvWrite({}, {Ref(k), Ref(v), Ref(kn), Ref(vn), Ref(slots)}, {Ref(k), Ref(v)}, &work).ok());
    for (int64_t r = 0; r < 32; ++r) {
      // slots: token 0 -> row 3, token 2 -> row 31; -1, 32 (one past the end) and -2 dropped
      const bool written = r == 3 || r == 31;
      const HostTensor& src = written ? kn : k0;
      const int64_t src_row = r == 3 ? 0 : (r == 31 ? 2 : r);
      EXPECT_EQ(0, std::memcmp(k.bytes.data() + r * row, src.bytes.data() + src_row * row, row)) << "row " << r;
    }
    EXPECT_EQ(0, std::memcmp(v.bytes.data() + 3 * row, vn.bytes.data(), row));
    EXPECT_EQ(work.bytes_written, 2.0 * 2 * row);           // 2 kept tokens, K and V
    EXPECT_EQ(work.bytes_read, 2.0 * 2 * row + 4 * 5);

    // Not in place: the pool is copied into the output first (and its bytes counted).
    HostTensor ko(t, {32, 2, 4}), vo(t, {32, 2, 4});
    KernelWork copy_work;
    ASSERT_TRUE(
        kernels::RunPagedKvWrite({}, {Ref(k), Ref(v), Ref(kn), Ref(vn), Ref(slots)}, {Ref(ko), Ref(vo)}, &copy_work).ok());
    EXPECT_EQ(ko.bytes, k.bytes);
    EXPECT_EQ(copy_work.bytes_written, 2.0 * 2 * row + 2.0 * k.info.byte_size());
  }
}

TEST(CustomCallValidation, ChecksShapesAndAttributesAndNamesThem) {
  TensorInfo q{DType::kF32, {2, 6, 8}}, pool{DType::kF32, {32, 2, 8}}, table{DType::kS32, {2, 2}},
      lens{DType::kS32, {2}}, out{DType::kF32, {2, 6, 8}};
  EXPECT_TRUE(kernels::ValidatePagedAttentionDecode(AttentionAttrs(1, 16), {&q, &pool, &pool, &table, &lens}, {&out}).ok());
  Status s = kernels::ValidatePagedAttentionDecode(AttentionAttrs(1, 64), {&q, &pool, &pool, &table, &lens}, {&out});
  EXPECT_NE(s.message().find("pool rows 32 is not a multiple of page_size 64"), std::string::npos) << s.message();
  TensorInfo q5{DType::kF32, {2, 5, 8}}, out5{DType::kF32, {2, 5, 8}};
  s = kernels::ValidatePagedAttentionDecode(AttentionAttrs(1, 16), {&q5, &pool, &pool, &table, &lens}, {&out5});
  EXPECT_NE(s.message().find("5 query heads is not a multiple of 2 KV heads"), std::string::npos) << s.message();
  TensorInfo ftable{DType::kF32, {2, 2}};
  s = kernels::ValidatePagedAttentionDecode(AttentionAttrs(1, 16), {&q, &pool, &pool, &ftable, &lens}, {&out});
  EXPECT_NE(s.message().find("page_table must be an s32 array"), std::string::npos) << s.message();
  CustomCallAttributes extra = AttentionAttrs(1, 16);
  extra.Set("window", {});
  s = kernels::ValidatePagedAttentionDecode(extra, {&q, &pool, &pool, &table, &lens}, {&out});
  EXPECT_NE(s.message().find("unknown attribute 'window'"), std::string::npos) << s.message();
  CustomCallAttributes none;
  s = kernels::ValidatePagedAttentionDecode(none, {&q, &pool, &pool, &table, &lens}, {&out});
  EXPECT_NE(s.message().find("missing float attribute 'scale'"), std::string::npos) << s.message();
  TensorInfo kn{DType::kBF16, {3, 2, 8}}, slots{DType::kS32, {3}};
  s = kernels::ValidatePagedKvWrite({}, {&pool, &pool, &kn, &kn, &slots}, {&pool, &pool});
  EXPECT_NE(s.message().find("k_new must be f32[3,2,8], got bf16[3,2,8]"), std::string::npos) << s.message();
}

// A CustomCall table as the compiler writes it.
std::vector<uint8_t> CustomCallTable(const std::string& target, const std::vector<int>& alias) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<exe::CustomCallAttribute>> attrs;
  attrs.push_back(exe::CreateCustomCallAttributeDirect(b, "scale", exe::AttrKind::FLOAT, "f32", 0, 0.5));
  attrs.push_back(exe::CreateCustomCallAttributeDirect(b, "page_size", exe::AttrKind::INT, "s64", 16));
  b.Finish(exe::CreateCustomCallDirect(b, target.c_str(), &attrs, &alias));
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

TEST(CustomCallValidation, UnknownTargetsAndWrongAliasesAreRejected) {
  TensorInfo q{DType::kF32, {2, 6, 8}}, pool{DType::kF32, {32, 2, 8}}, table{DType::kS32, {2, 2}},
      lens{DType::kS32, {2}}, out{DType::kF32, {2, 6, 8}};
  const kernels::TensorInfos ins = {&q, &pool, &pool, &table, &lens}, outs = {&out};
  auto buf = CustomCallTable("chip.paged_attention_decode", {-1});
  EXPECT_TRUE(kernels::ValidateCustomCall(*flatbuffers::GetRoot<exe::CustomCall>(buf.data()), ins, outs).ok());
  buf = CustomCallTable("chip.flash_attention", {-1});
  Status s = kernels::ValidateCustomCall(*flatbuffers::GetRoot<exe::CustomCall>(buf.data()), ins, outs);
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("'chip.flash_attention' is not implemented"), std::string::npos) << s.message();
  buf = CustomCallTable("chip.paged_attention_decode", {1});
  s = kernels::ValidateCustomCall(*flatbuffers::GetRoot<exe::CustomCall>(buf.data()), ins, outs);
  EXPECT_NE(s.message().find("output 0 is aliased to input 1"), std::string::npos) << s.message();
  EXPECT_EQ(kernels::CustomCallTargets().size(), 3u);
}

}  // namespace
}  // namespace chip
