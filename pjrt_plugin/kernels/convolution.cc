#include "pjrt_plugin/kernels/convolution.h"

#include <cstring>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/dot_general.h"
#include "pjrt_plugin/kernels/thread_pool.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

std::string ListString(const std::vector<int64_t>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "}";
}

std::vector<int64_t> Longs(const flatbuffers::Vector<int64_t>* v, size_t n, int64_t fill) {
  if (v == nullptr || v->size() == 0) return std::vector<int64_t>(n, fill);
  return std::vector<int64_t>(v->begin(), v->end());
}

std::vector<int64_t> RowMajorStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int k = static_cast<int>(dims.size()) - 2; k >= 0; --k) s[k] = s[k + 1] * dims[k + 1];
  return s;
}

// Everything the kernel needs, decoded and checked once.
struct Geometry {
  int nsp = 0;                                  // spatial dims
  int64_t N = 0, C = 0, O = 0, G = 1, Cg = 0, Og = 0;
  std::vector<int64_t> in_sp, k_sp, out_sp;     // spatial sizes
  std::vector<int64_t> stride, pad_lo, pad_hi, lhs_dil, rhs_dil;
  std::vector<bool> reverse;
  // element strides of each role in the operands' row-major layouts
  int64_t in_b = 0, in_f = 0, k_i = 0, k_o = 0, out_b = 0, out_f = 0;
  std::vector<int64_t> in_s, k_s, out_s;
  int64_t M() const {
    int64_t m = N;
    for (int64_t d : out_sp) m *= d;
    return m;
  }
  int64_t K() const {
    int64_t k = Cg;
    for (int64_t d : k_sp) k *= d;
    return k;
  }
};

Status Decode(const exe::Convolution& op, const TensorInfo& lhs, const TensorInfo& rhs, const TensorInfo& out,
              Geometry* g) {
  const int rank = static_cast<int>(lhs.dims.size());
  const std::string sig = "convolution(" + lhs.ToString() + ", " + rhs.ToString() + ") -> " + out.ToString();
  if (rank < 2 || static_cast<int>(rhs.dims.size()) != rank || static_cast<int>(out.dims.size()) != rank) {
    return InvalidArgument(sig + ": lhs, rhs and output need the same rank (>= 2)");
  }
  g->nsp = rank - 2;
  const size_t nsp = static_cast<size_t>(g->nsp);
  auto dims_of = [&](const flatbuffers::Vector<int64_t>* v) {
    return v ? std::vector<int64_t>(v->begin(), v->end()) : std::vector<int64_t>();
  };
  const std::vector<int64_t> isd = dims_of(op.input_spatial_dimensions());
  const std::vector<int64_t> ksd = dims_of(op.kernel_spatial_dimensions());
  const std::vector<int64_t> osd = dims_of(op.output_spatial_dimensions());
  auto permutation = [&](int64_t a, int64_t b, const std::vector<int64_t>& sp, const char* what) -> Status {
    std::vector<bool> seen(rank, false);
    std::vector<int64_t> all = sp;
    all.push_back(a);
    all.push_back(b);
    if (sp.size() != nsp) {
      return InvalidArgument(sig + ": " + what + " has " + std::to_string(sp.size()) + " spatial dims, expected " +
                             std::to_string(nsp));
    }
    for (int64_t d : all) {
      if (d < 0 || d >= rank || seen[d]) {
        return InvalidArgument(sig + ": " + what + " dimension numbers " + ListString(all) +
                               " are not a permutation of the dims");
      }
      seen[d] = true;
    }
    return Status::Ok();
  };
  CHIP_RETURN_IF_ERROR(permutation(op.input_batch_dimension(), op.input_feature_dimension(), isd, "input"));
  CHIP_RETURN_IF_ERROR(
      permutation(op.kernel_input_feature_dimension(), op.kernel_output_feature_dimension(), ksd, "kernel"));
  CHIP_RETURN_IF_ERROR(permutation(op.output_batch_dimension(), op.output_feature_dimension(), osd, "output"));

  g->stride = Longs(op.window_strides(), nsp, 1);
  g->pad_lo = Longs(op.padding_low(), nsp, 0);
  g->pad_hi = Longs(op.padding_high(), nsp, 0);
  g->lhs_dil = Longs(op.lhs_dilation(), nsp, 1);
  g->rhs_dil = Longs(op.rhs_dilation(), nsp, 1);
  g->reverse.assign(nsp, false);
  if (op.window_reversal() && op.window_reversal()->size() > 0) {
    if (op.window_reversal()->size() != nsp) {
      return InvalidArgument(sig + ": window_reversal needs one entry per spatial dim");
    }
    for (size_t i = 0; i < nsp; ++i) g->reverse[i] = op.window_reversal()->Get(static_cast<flatbuffers::uoffset_t>(i));
  }
  for (const auto* v : {&g->stride, &g->pad_lo, &g->pad_hi, &g->lhs_dil, &g->rhs_dil}) {
    if (v->size() != nsp) return InvalidArgument(sig + ": window attributes need one entry per spatial dim");
  }
  for (size_t i = 0; i < nsp; ++i) {
    if (g->stride[i] < 1 || g->lhs_dil[i] < 1 || g->rhs_dil[i] < 1) {
      return InvalidArgument(sig + ": strides and dilations must be >= 1");
    }
  }
  g->G = op.feature_group_count();
  g->N = lhs.dims[op.input_batch_dimension()];
  g->C = lhs.dims[op.input_feature_dimension()];
  g->O = rhs.dims[op.kernel_output_feature_dimension()];
  if (g->G < 1 || g->C % g->G != 0 || g->O % g->G != 0) {
    return InvalidArgument(sig + ": feature_group_count " + std::to_string(g->G) +
                           " must divide the input and output features");
  }
  g->Cg = g->C / g->G;
  g->Og = g->O / g->G;
  if (rhs.dims[op.kernel_input_feature_dimension()] != g->Cg) {
    return InvalidArgument(sig + ": the kernel's input features (" +
                           std::to_string(rhs.dims[op.kernel_input_feature_dimension()]) + ") must be " +
                           std::to_string(g->Cg) + " (input features / feature_group_count)");
  }
  if (out.dims[op.output_batch_dimension()] != g->N || out.dims[op.output_feature_dimension()] != g->O) {
    return InvalidArgument(sig + ": output batch/feature sizes must be the input batch and kernel output features");
  }
  g->in_sp.resize(nsp);
  g->k_sp.resize(nsp);
  g->out_sp.resize(nsp);
  for (size_t i = 0; i < nsp; ++i) {
    g->in_sp[i] = lhs.dims[isd[i]];
    g->k_sp[i] = rhs.dims[ksd[i]];
    g->out_sp[i] = out.dims[osd[i]];
    const int64_t dilated_in = g->in_sp[i] == 0 ? 0 : (g->in_sp[i] - 1) * g->lhs_dil[i] + 1;
    const int64_t padded = dilated_in + g->pad_lo[i] + g->pad_hi[i];
    const int64_t dilated_k = g->k_sp[i] == 0 ? 0 : (g->k_sp[i] - 1) * g->rhs_dil[i] + 1;
    const int64_t want = padded < dilated_k ? 0 : (padded - dilated_k) / g->stride[i] + 1;
    if (g->out_sp[i] != want) {
      return InvalidArgument(sig + ": spatial dim " + std::to_string(i) + " of the output is " +
                             std::to_string(g->out_sp[i]) + ", the window gives " + std::to_string(want));
    }
  }
  if (lhs.dtype != rhs.dtype || lhs.dtype == DType::kPred) {
    return InvalidArgument(sig + ": lhs and rhs need the same numeric element type");
  }
  const std::vector<int64_t> ls = RowMajorStrides(lhs.dims), rs = RowMajorStrides(rhs.dims),
                             os = RowMajorStrides(out.dims);
  g->in_b = ls[op.input_batch_dimension()];
  g->in_f = ls[op.input_feature_dimension()];
  g->k_i = rs[op.kernel_input_feature_dimension()];
  g->k_o = rs[op.kernel_output_feature_dimension()];
  g->out_b = os[op.output_batch_dimension()];
  g->out_f = os[op.output_feature_dimension()];
  g->in_s.resize(nsp);
  g->k_s.resize(nsp);
  g->out_s.resize(nsp);
  for (size_t i = 0; i < nsp; ++i) {
    g->in_s[i] = ls[isd[i]];
    g->k_s[i] = rs[ksd[i]];
    g->out_s[i] = os[osd[i]];
  }
  return Status::Ok();
}

// Multi-index iteration helper: index -> per-dim coordinates of `sizes` (row-major).
inline void Unravel(int64_t index, const std::vector<int64_t>& sizes, int64_t* coords) {
  for (int d = static_cast<int>(sizes.size()) - 1; d >= 0; --d) {
    coords[d] = sizes[d] == 0 ? 0 : index % sizes[d];
    index = sizes[d] == 0 ? 0 : index / sizes[d];
  }
}

// lhs patches [G, M, K] with K ordered (kernel spatial..., Cg): padding and holes are zero.
template <typename E>
void PackPatches(const Geometry& g, const E* x, E* dst) {
  const int nsp = g.nsp;
  const int64_t M = g.M(), K = g.K();
  int64_t kpos = 1;
  for (int64_t d : g.k_sp) kpos *= d;
  std::vector<int64_t> out_rows(g.out_sp.begin(), g.out_sp.end());
  out_rows.insert(out_rows.begin(), g.N);
  ThreadPool::Global().ParallelFor(g.G * M, 64, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> oc(nsp + 1), kc(nsp);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t grp = row / M, m = row % M;
      Unravel(m, out_rows, oc.data());
      E* out = dst + row * K;
      const int64_t base = oc[0] * g.in_b + grp * g.Cg * g.in_f;
      for (int64_t kp = 0; kp < kpos; ++kp) {
        Unravel(kp, g.k_sp, kc.data());
        int64_t off = base;
        bool inside = true;
        for (int d = 0; d < nsp && inside; ++d) {
          const int64_t pos = oc[d + 1] * g.stride[d] + kc[d] * g.rhs_dil[d] - g.pad_lo[d];
          const int64_t dilated_in = (g.in_sp[d] - 1) * g.lhs_dil[d] + 1;
          if (pos < 0 || pos >= dilated_in || pos % g.lhs_dil[d] != 0) {
            inside = false;
          } else {
            off += (pos / g.lhs_dil[d]) * g.in_s[d];
          }
        }
        E* o = out + kp * g.Cg;
        if (!inside) {
          std::memset(o, 0, sizeof(E) * static_cast<size_t>(g.Cg));
        } else if (g.in_f == 1) {
          std::memcpy(o, x + off, sizeof(E) * static_cast<size_t>(g.Cg));
        } else {
          for (int64_t c = 0; c < g.Cg; ++c) o[c] = x[off + c * g.in_f];
        }
      }
    }
  });
}

// rhs [G, K, Og] with K ordered (kernel spatial..., Cg), window reversal applied.
template <typename E>
void PackKernel(const Geometry& g, const E* w, E* dst) {
  const int nsp = g.nsp;
  const int64_t K = g.K();
  int64_t kpos = 1;
  for (int64_t d : g.k_sp) kpos *= d;
  std::vector<int64_t> kc(nsp);
  for (int64_t grp = 0; grp < g.G; ++grp) {
    for (int64_t kp = 0; kp < kpos; ++kp) {
      Unravel(kp, g.k_sp, kc.data());
      int64_t off = 0;
      for (int d = 0; d < nsp; ++d) off += (g.reverse[d] ? g.k_sp[d] - 1 - kc[d] : kc[d]) * g.k_s[d];
      for (int64_t c = 0; c < g.Cg; ++c) {
        E* row = dst + (grp * K + kp * g.Cg + c) * g.Og;
        const int64_t src = off + c * g.k_i + grp * g.Og * g.k_o;
        for (int64_t o = 0; o < g.Og; ++o) row[o] = w[src + o * g.k_o];
      }
    }
  }
}

// [G, M, Og] GEMM result -> the output's layout.
template <typename E>
void Unpack(const Geometry& g, const E* src, E* out) {
  const int nsp = g.nsp;
  const int64_t M = g.M();
  std::vector<int64_t> out_rows(g.out_sp.begin(), g.out_sp.end());
  out_rows.insert(out_rows.begin(), g.N);
  ThreadPool::Global().ParallelFor(M, 64, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> oc(nsp + 1);
    for (int64_t m = begin; m < end; ++m) {
      Unravel(m, out_rows, oc.data());
      int64_t base = oc[0] * g.out_b;
      for (int d = 0; d < nsp; ++d) base += oc[d + 1] * g.out_s[d];
      for (int64_t grp = 0; grp < g.G; ++grp) {
        const E* row = src + (grp * M + m) * g.Og;
        for (int64_t o = 0; o < g.Og; ++o) out[base + (grp * g.Og + o) * g.out_f] = row[o];
      }
    }
  });
}

template <typename E>
Status RunTyped(const Geometry& g, const TensorRef& lhs, const TensorRef& rhs, const TensorRef& out) {
  const int64_t M = g.M(), K = g.K();
  const TensorInfo patches_info{lhs.info->dtype, {g.G, M, K}};
  const TensorInfo kernel_info{rhs.info->dtype, {g.G, K, g.Og}};
  const TensorInfo result_info{out.info->dtype, {g.G, M, g.Og}};
  AlignedBuffer patches(static_cast<size_t>(patches_info.byte_size()));
  AlignedBuffer kernel(static_cast<size_t>(kernel_info.byte_size()));
  PackPatches<E>(g, static_cast<const E*>(lhs.data), patches.as<E>());
  PackKernel<E>(g, static_cast<const E*>(rhs.data), kernel.as<E>());
  // The output already is [M, O] = [G=1, M, Og] when it is batch-major, spatial in order and
  // features last: the GEMM writes it in place.
  bool direct = g.G == 1 && g.out_f == 1;
  if (direct) {
    int64_t expect = g.O;
    for (int d = g.nsp - 1; d >= 0 && direct; --d) {
      direct = g.out_s[d] == expect;
      expect *= g.out_sp[d];
    }
    direct = direct && g.out_b == expect;
  }
  AlignedBuffer result;
  void* result_data = out.data;
  if (!direct) {
    result.Resize(static_cast<size_t>(result_info.byte_size()));
    result_data = result.data();
  }
  flatbuffers::FlatBufferBuilder fbb;
  const std::vector<int64_t> batch{0}, lhs_contracting{2}, rhs_contracting{1};
  fbb.Finish(exe::CreateDotGeneralDirect(fbb, &batch, &batch, &lhs_contracting, &rhs_contracting));
  const exe::DotGeneral* dot = flatbuffers::GetRoot<exe::DotGeneral>(fbb.GetBufferPointer());
  CHIP_RETURN_IF_ERROR(RunDotGeneral(*dot, {{&patches_info, patches.data()}, {&kernel_info, kernel.data()}},
                                     {{&result_info, result_data}}));
  if (!direct) {
    switch (DTypeByteSize(out.info->dtype)) {
      case 1: Unpack<uint8_t>(g, result.as<uint8_t>(), static_cast<uint8_t*>(out.data)); break;
      case 2: Unpack<uint16_t>(g, result.as<uint16_t>(), static_cast<uint16_t*>(out.data)); break;
      default: Unpack<uint32_t>(g, result.as<uint32_t>(), static_cast<uint32_t*>(out.data)); break;
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateConvolution(const exe::Convolution& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.size() != 2 || outputs.size() != 1) {
    return InvalidArgument("convolution takes 2 inputs and 1 output, got " + std::to_string(inputs.size()) + " and " +
                           std::to_string(outputs.size()));
  }
  Geometry g;
  CHIP_RETURN_IF_ERROR(Decode(op, *inputs[0], *inputs[1], *outputs[0], &g));
  // the GEMM the kernel runs must be one DotGeneral accepts
  const TensorInfo patches{inputs[0]->dtype, {g.G, g.M(), g.K()}};
  const TensorInfo kernel{inputs[1]->dtype, {g.G, g.K(), g.Og}};
  const TensorInfo result{outputs[0]->dtype, {g.G, g.M(), g.Og}};
  flatbuffers::FlatBufferBuilder fbb;
  const std::vector<int64_t> batch{0}, lhs_contracting{2}, rhs_contracting{1};
  fbb.Finish(exe::CreateDotGeneralDirect(fbb, &batch, &batch, &lhs_contracting, &rhs_contracting));
  return ValidateDotGeneral(*flatbuffers::GetRoot<exe::DotGeneral>(fbb.GetBufferPointer()), {&patches, &kernel},
                            {&result});
}

Status RunConvolution(const exe::Convolution& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  Geometry g;
  CHIP_RETURN_IF_ERROR(Decode(op, *inputs[0].info, *inputs[1].info, *outputs[0].info, &g));
  if (outputs[0].info->num_elements() == 0) return Status::Ok();
  switch (DTypeByteSize(inputs[0].info->dtype)) {
    case 1: return RunTyped<uint8_t>(g, inputs[0], inputs[1], outputs[0]);
    case 2: return RunTyped<uint16_t>(g, inputs[0], inputs[1], outputs[0]);
    default: return RunTyped<uint32_t>(g, inputs[0], inputs[1], outputs[0]);
  }
}

}  // namespace kernels
}  // namespace chip
