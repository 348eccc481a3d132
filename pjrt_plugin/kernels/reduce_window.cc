#include "pjrt_plugin/kernels/reduce_window.h"

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

struct Window {
  Dims size, stride, base_dil, win_dil, lo, hi;
};

Dims OrDefault(const flatbuffers::Vector<int64_t>* v, size_t rank, int64_t dflt) {
  Dims d = idx::ToDims(v);
  if (d.empty()) d.assign(rank, dflt);
  return d;
}

Window Decode(const exe::ReduceWindow& op, size_t rank) {
  Window w;
  w.size = OrDefault(op.window_dimensions(), rank, 1);
  w.stride = OrDefault(op.window_strides(), rank, 1);
  w.base_dil = OrDefault(op.base_dilations(), rank, 1);
  w.win_dil = OrDefault(op.window_dilations(), rank, 1);
  w.lo = OrDefault(op.padding_low(), rank, 0);
  w.hi = OrDefault(op.padding_high(), rank, 0);
  return w;
}

int64_t OutputSize(const Window& w, size_t d, int64_t n) {
  const int64_t padded = (n > 0 ? (n - 1) * w.base_dil[d] + 1 : 0) + w.lo[d] + w.hi[d];
  const int64_t span = (w.size[d] - 1) * w.win_dil[d] + 1;
  return padded < span ? 0 : (padded - span) / w.stride[d] + 1;
}

// The dim of a cumulative window (size n over a dim of n, padding n-1 on one side, nothing else),
// or -1. *reverse: the padding is high (a suffix scan).
int ScanDim(const Window& w, const Dims& dims, bool* reverse) {
  int dim = -1;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (w.stride[d] != 1 || w.base_dil[d] != 1 || w.win_dil[d] != 1) return -1;
    if (w.size[d] == 1) {
      if (w.lo[d] != 0 || w.hi[d] != 0) return -1;
      continue;
    }
    if (dim >= 0) return -1;
    dim = static_cast<int>(d);
  }
  if (dim < 0) return -1;
  const int64_t n = dims[dim];
  if (w.size[dim] != n) return -1;
  if (w.lo[dim] == n - 1 && w.hi[dim] == 0) {
    *reverse = false;
    return dim;
  }
  if (w.lo[dim] == 0 && w.hi[dim] == n - 1) {
    *reverse = true;
    return dim;
  }
  return -1;
}

}  // namespace

Status ValidateReduceWindow(const exe::ReduceWindow& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  const size_t n = outputs.size();
  CHIP_RETURN_IF_ERROR(idx::CheckOperandsThenInits("reduce_window", inputs.size(), n));
  const TensorInfo& shape = *inputs[0];
  const size_t rank = shape.dims.size();
  const Window w = Decode(op, rank);
  for (const Dims* v : {&w.size, &w.stride, &w.base_dil, &w.win_dil, &w.lo, &w.hi}) {
    if (v->size() != rank) {
      return InvalidArgument("reduce_window attributes need " + std::to_string(rank) + " entries for " + shape.ToString());
    }
  }
  Dims expect(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (w.size[d] < 1 || w.stride[d] < 1 || w.base_dil[d] < 1 || w.win_dil[d] < 1) {
      return InvalidArgument("reduce_window window " + idx::Str(w.size) + ", strides " + idx::Str(w.stride) +
                             " and dilations must be positive");
    }
    expect[d] = OutputSize(w, d, shape.dims[d]);
  }
  std::vector<DType> dtypes;
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo& in = *inputs[i];
    const TensorInfo& init = *inputs[n + i];
    const TensorInfo& out = *outputs[i];
    if (in.dims != shape.dims || !init.dims.empty() || init.dtype != in.dtype || out.dtype != in.dtype ||
        out.dims != expect) {
      return InvalidArgument("reduce_window operand " + std::to_string(i) + " " + in.ToString() + ", init " +
                             init.ToString() + " and output " + out.ToString() + " are inconsistent (expected " +
                             DTypeName(in.dtype) + idx::Str(expect) + ")");
    }
    dtypes.push_back(in.dtype);
  }
  return Combiner::Validate(op.kind(), op.body(), dtypes, "reduce_window body");
}

Status RunReduceWindow(const exe::ReduceWindow& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const size_t n = outputs.size();
  const TensorInfo& shape = *inputs[0].info;
  const TensorInfo& oshape = *outputs[0].info;
  const int64_t O = oshape.num_elements();
  if (O == 0) return Status::Ok();
  const size_t rank = shape.dims.size();
  const Window w = Decode(op, rank);
  std::vector<DType> dtypes(n);
  std::vector<int> esize(n);
  std::vector<const void*> init(n);
  for (size_t i = 0; i < n; ++i) {
    dtypes[i] = inputs[i].info->dtype;
    esize[i] = DTypeByteSize(dtypes[i]);
    init[i] = inputs[n + i].data;
  }

  bool reverse = false;
  const int sd = ScanDim(w, shape.dims, &reverse);
  if (sd >= 0) {
    const int64_t len = shape.dims[sd];
    int64_t inner = 1;
    for (size_t d = sd + 1; d < rank; ++d) inner *= shape.dims[d];
    const int64_t lines = shape.num_elements() / len;
    const bool native = op.kind() != exe::RegionKind::PROGRAM;
    if (native || lines == 1) {
      // One line at a time (native ops are cheap per element); lines in parallel.
      auto run_lines = [&](int64_t l0, int64_t l1) {
        Combiner combiner(op.kind(), op.body(), dtypes);
        std::vector<void*> out(n);
        std::vector<const void*> x(n);
        for (int64_t l = l0; l < l1; ++l) {
          const int64_t base = (l / inner) * len * inner + (l % inner);
          for (size_t k = 0; k < n; ++k) {
            out[k] = static_cast<uint8_t*>(outputs[k].data) + base * esize[k];
            x[k] = static_cast<const uint8_t*>(inputs[k].data) + base * esize[k];
          }
          combiner.ScanLine(out.data(), x.data(), inner, len, init.data(), reverse);
        }
      };
      if (shape.num_elements() >= (1 << 16) && lines > 1) {
        ThreadPool::Global().ParallelFor(lines, std::max<int64_t>(1, (1 << 15) / len), run_lines);
      } else {
        run_lines(0, lines);
      }
      return Status::Ok();
    }
    // A region program: all lines as lanes of one evaluation per step, in a [len, lines] layout.
    std::vector<AlignedBuffer> X(n), Y(n), acc(n);
    for (size_t k = 0; k < n; ++k) {
      const int e = esize[k];
      X[k].Resize(static_cast<size_t>(shape.num_elements()) * e);
      Y[k].Resize(static_cast<size_t>(shape.num_elements()) * e);
      acc[k].Resize(static_cast<size_t>(lines) * e);
      idx::Fill(acc[k].as<uint8_t>(), init[k], e, lines);
      const uint8_t* src = static_cast<const uint8_t*>(inputs[k].data);
      for (int64_t o = 0; o < lines / inner; ++o) {
        for (int64_t i = 0; i < len; ++i) {
          std::memcpy(X[k].as<uint8_t>() + (i * lines + o * inner) * e, src + (o * len + i) * inner * e, inner * e);
        }
      }
    }
    Combiner combiner(op.kind(), op.body(), dtypes);
    std::vector<void*> a(n);
    std::vector<const void*> b(n);
    for (int64_t s = 0; s < len; ++s) {
      const int64_t i = reverse ? len - 1 - s : s;
      for (size_t k = 0; k < n; ++k) {
        a[k] = acc[k].data();
        b[k] = X[k].as<uint8_t>() + i * lines * esize[k];
      }
      combiner.Combine(a.data(), 1, b.data(), 1, lines);
      for (size_t k = 0; k < n; ++k) {
        std::memcpy(Y[k].as<uint8_t>() + i * lines * esize[k], acc[k].data(), static_cast<size_t>(lines) * esize[k]);
      }
    }
    for (size_t k = 0; k < n; ++k) {
      const int e = esize[k];
      uint8_t* dst = static_cast<uint8_t*>(outputs[k].data);
      for (int64_t o = 0; o < lines / inner; ++o) {
        for (int64_t i = 0; i < len; ++i) {
          std::memcpy(dst + (o * len + i) * inner * e, Y[k].as<uint8_t>() + (i * lines + o * inner) * e, inner * e);
        }
      }
    }
    return Status::Ok();
  }

  // General windows: outputs start as the init; every window position is gathered for all
  // outputs (init where it falls on padding or a dilation hole) and combined lane-parallel.
  const Dims in_strides = idx::RowMajorStrides(shape.dims);
  std::vector<AlignedBuffer> X(n);
  for (size_t k = 0; k < n; ++k) {
    idx::Fill(static_cast<uint8_t*>(outputs[k].data), init[k], esize[k], O);
    X[k].Resize(static_cast<size_t>(O) * esize[k]);
  }
  Combiner combiner(op.kind(), op.body(), dtypes);
  std::vector<void*> a(n);
  std::vector<const void*> b(n);
  for (size_t k = 0; k < n; ++k) {
    a[k] = outputs[k].data;
    b[k] = X[k].data();
  }
  idx::ForEachIndex(w.size, [&](const Dims& wi) {
    int64_t j = 0;
    idx::ForEachIndex(oshape.dims, [&](const Dims& oi) {
      int64_t off = 0;
      bool inside = true;
      for (size_t d = 0; d < rank && inside; ++d) {
        const int64_t p = oi[d] * w.stride[d] + wi[d] * w.win_dil[d] - w.lo[d];
        inside = p >= 0 && p % w.base_dil[d] == 0 && p / w.base_dil[d] < shape.dims[d];
        off += (inside ? p / w.base_dil[d] : 0) * in_strides[d];
      }
      for (size_t k = 0; k < n; ++k) {
        const int e = esize[k];
        const void* src = inside ? static_cast<const uint8_t*>(inputs[k].data) + off * e : init[k];
        std::memcpy(X[k].as<uint8_t>() + j * e, src, e);
      }
      ++j;
    });
    combiner.Combine(a.data(), 1, b.data(), 1, O);
  });
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
