#include "pjrt_plugin/kernels/variadic_reduce.h"

#include <cstring>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/kernels/region_combine.h"
#include "pjrt_plugin/kernels/thread_pool.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using idx::Dims;

// Lanes wanted per body evaluation: with fewer outputs the reduction is split into chunks.
constexpr int64_t kMinLanes = 256;

}  // namespace

Status ValidateVariadicReduce(const exe::VariadicReduce& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  const size_t n = outputs.size();
  CHIP_RETURN_IF_ERROR(idx::CheckOperandsThenInits("variadic reduce", inputs.size(), n));
  const TensorInfo& shape = *inputs[0];
  const Dims dims = idx::ToDims(op.dims());
  CHIP_RETURN_IF_ERROR(idx::CheckDims(dims, static_cast<int64_t>(shape.dims.size()), false, "reduce dims"));
  Dims kept;
  for (size_t d = 0; d < shape.dims.size(); ++d) {
    if (!idx::Contains(dims, static_cast<int64_t>(d))) kept.push_back(shape.dims[d]);
  }
  std::vector<DType> dtypes;
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo& in = *inputs[i];
    const TensorInfo& init = *inputs[n + i];
    const TensorInfo& out = *outputs[i];
    if (in.dims != shape.dims || !init.dims.empty() || init.dtype != in.dtype || out.dtype != in.dtype ||
        out.dims != kept) {
      return InvalidArgument("reduce operand " + std::to_string(i) + " " + in.ToString() + ", init " + init.ToString() +
                             " and output " + out.ToString() + " are inconsistent (reducing dims " + idx::Str(dims) +
                             " of " + shape.ToString() + ")");
    }
    dtypes.push_back(in.dtype);
  }
  return Combiner::Validate(op.kind(), op.body(), dtypes, "reduce body");
}

Status RunVariadicReduce(const exe::VariadicReduce& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const size_t n = outputs.size();
  const TensorInfo& shape = *inputs[0].info;
  const int64_t O = outputs[0].info->num_elements();
  if (O == 0) return Status::Ok();
  const int64_t M = shape.num_elements() / O;
  std::vector<DType> dtypes(n);
  std::vector<int> esize(n);
  for (size_t i = 0; i < n; ++i) {
    dtypes[i] = inputs[i].info->dtype;
    esize[i] = DTypeByteSize(dtypes[i]);
  }
  const Dims dims = idx::ToDims(op.dims());
  const int rank = static_cast<int>(shape.dims.size());
  if (op.kind() != exe::RegionKind::PROGRAM) {
    // Native bodies (argmax/argmin, ...): every output folds its elements in order, a run along
    // the innermost reduced dim at a time; outputs in parallel.
    const Dims strides = idx::RowMajorStrides(shape.dims);
    Dims kept, reduced;
    for (int d = 0; d < rank; ++d) (idx::Contains(dims, d) ? reduced : kept).push_back(d);
    Dims kept_shape, red_outer;
    for (int64_t d : kept) kept_shape.push_back(shape.dims[d]);
    for (size_t j = 0; j + 1 < reduced.size(); ++j) red_outer.push_back(shape.dims[reduced[j]]);
    const int64_t run = reduced.empty() ? 1 : shape.dims[reduced.back()];
    const int64_t run_stride = reduced.empty() ? 1 : strides[reduced.back()];
    auto run_outputs = [&](int64_t o0, int64_t o1) {
      Combiner combiner(op.kind(), op.body(), dtypes);
      std::vector<void*> acc(n);
      std::vector<const void*> x(n);
      Dims oi(kept.size());
      int64_t rem = o0;
      for (int j = static_cast<int>(kept.size()) - 1; j >= 0; --j) {
        oi[j] = rem % kept_shape[j];
        rem /= kept_shape[j];
      }
      for (int64_t o = o0; o < o1; ++o) {
        int64_t base = 0;
        for (size_t j = 0; j < kept.size(); ++j) base += oi[j] * strides[kept[j]];
        for (size_t k = 0; k < n; ++k) {
          acc[k] = static_cast<uint8_t*>(outputs[k].data) + o * esize[k];
          std::memcpy(acc[k], inputs[n + k].data, esize[k]);
        }
        if (M > 0) {
          idx::ForEachIndex(red_outer, [&](const Dims& ri) {
            int64_t off = base;
            for (size_t j = 0; j < ri.size(); ++j) off += ri[j] * strides[reduced[j]];
            for (size_t k = 0; k < n; ++k) x[k] = static_cast<const uint8_t*>(inputs[k].data) + off * esize[k];
            combiner.Fold(acc.data(), x.data(), run_stride, run);
          });
        }
        for (int j = static_cast<int>(kept.size()) - 1; j >= 0; --j) {
          if (++oi[j] < kept_shape[j]) break;
          oi[j] = 0;
        }
      }
    };
    if (shape.num_elements() >= (int64_t{1} << 16) && O > 1) {
      ThreadPool::Global().ParallelFor(O, std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(M, 1)),
                                       run_outputs);
    } else {
      run_outputs(0, O);
    }
    return Status::Ok();
  }

  const int64_t K = O >= kMinLanes ? 1 : std::max<int64_t>(1, std::min(M, (kMinLanes + O - 1) / O));
  const int64_t T = M == 0 ? 0 : (M + K - 1) / K;  // steps; chunk c holds reduced elements [c*T, c*T+T)
  const int64_t L = K * O;                          // lanes of the first stage

  // X[k][t][c][o] = operand k at output o, reduced element c*T + t (the init past the end).
  Dims omul(rank, 0), rmul(rank, 0);
  {
    int64_t os = 1, rs = 1;
    for (int d = rank - 1; d >= 0; --d) {
      if (idx::Contains(dims, d)) {
        rmul[d] = rs;
        rs *= shape.dims[d];
      } else {
        omul[d] = os;
        os *= shape.dims[d];
      }
    }
  }
  std::vector<AlignedBuffer> X(n), acc(n);
  for (size_t k = 0; k < n; ++k) {
    const int e = esize[k];
    X[k].Resize(static_cast<size_t>(T * L) * e);
    acc[k].Resize(static_cast<size_t>(L) * e);
    uint8_t* x = X[k].as<uint8_t>();
    if (K * T > M) idx::Fill(x, inputs[n + k].data, e, T * L);  // chunk tails are the init
    idx::Fill(acc[k].as<uint8_t>(), inputs[n + k].data, e, L);
    const uint8_t* src = static_cast<const uint8_t*>(inputs[k].data);
    int64_t i = 0;
    idx::ForEachIndex(shape.dims, [&](const Dims& ix) {
      int64_t o = 0, r = 0;
      for (int d = 0; d < rank; ++d) {
        o += ix[d] * omul[d];
        r += ix[d] * rmul[d];
      }
      const int64_t c = r / T, t = r % T;
      std::memcpy(x + ((t * K + c) * O + o) * e, src + i * e, e);
      ++i;
    });
  }
  Combiner combiner(op.kind(), op.body(), dtypes);
  std::vector<void*> a(n);
  std::vector<const void*> b(n);
  for (int64_t t = 0; t < T; ++t) {
    for (size_t k = 0; k < n; ++k) {
      a[k] = acc[k].data();
      b[k] = X[k].as<uint8_t>() + t * L * esize[k];
    }
    combiner.Combine(a.data(), 1, b.data(), 1, L);
  }
  // Second stage: the K partial results of every output, in chunk order.
  for (size_t k = 0; k < n; ++k) {
    uint8_t* out = static_cast<uint8_t*>(outputs[k].data);
    if (K == 1) {
      std::memcpy(out, acc[k].data(), static_cast<size_t>(O) * esize[k]);
    } else {
      idx::Fill(out, inputs[n + k].data, esize[k], O);
    }
  }
  for (int64_t c = 0; K > 1 && c < K; ++c) {
    for (size_t k = 0; k < n; ++k) {
      a[k] = outputs[k].data;
      b[k] = acc[k].as<uint8_t>() + c * O * esize[k];
    }
    combiner.Combine(a.data(), 1, b.data(), 1, O);
  }
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
