#include "pjrt_plugin/kernels/pad.h"

#include <cstring>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {

using idx::Dims;

Status ValidatePad(const exe::Pad& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.size() != 2 || outputs.size() != 1) {
    return InvalidArgument("pad takes 2 inputs (operand, padding value) and 1 output");
  }
  const TensorInfo& in = *inputs[0];
  const TensorInfo& value = *inputs[1];
  const TensorInfo& out = *outputs[0];
  if (!value.dims.empty() || value.dtype != in.dtype) {
    return InvalidArgument("pad value " + value.ToString() + " must be a 0-d " + DTypeName(in.dtype));
  }
  const Dims lo = idx::ToDims(op.edge_low()), hi = idx::ToDims(op.edge_high()), interior = idx::ToDims(op.interior());
  const size_t rank = in.dims.size();
  if (lo.size() != rank || hi.size() != rank || interior.size() != rank) {
    return InvalidArgument("pad of " + in.ToString() + " needs " + std::to_string(rank) + " low/high/interior paddings");
  }
  Dims expect(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t n = in.dims[d];
    if (interior[d] < 0) return InvalidArgument("pad interior padding " + idx::Str(interior) + " is negative");
    expect[d] = lo[d] + hi[d] + n + (n > 0 ? (n - 1) * interior[d] : 0);
    if (expect[d] < 0) {
      return InvalidArgument("pad of " + in.ToString() + " with low " + idx::Str(lo) + " high " + idx::Str(hi) +
                             " has a negative size");
    }
  }
  if (out.dtype != in.dtype || out.dims != expect) {
    return InvalidArgument("pad of " + in.ToString() + " gives " + DTypeName(in.dtype) + idx::Str(expect) +
                           ", not output " + out.ToString());
  }
  return Status::Ok();
}

Status RunPad(const exe::Pad& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& in = *inputs[0].info;
  const TensorInfo& out = *outputs[0].info;
  const int64_t total = out.num_elements();
  if (total == 0) return Status::Ok();
  const int e = DTypeByteSize(in.dtype);
  uint8_t* dst = static_cast<uint8_t*>(outputs[0].data);
  const uint8_t* src = static_cast<const uint8_t*>(inputs[0].data);
  // Fill with the padding value (doubling copies), then place the operand's elements.
  std::memcpy(dst, inputs[1].data, e);
  for (int64_t have = 1; have < total;) {
    const int64_t n = std::min(have, total - have);
    std::memcpy(dst + have * e, dst, static_cast<size_t>(n) * e);
    have += n;
  }
  if (in.num_elements() == 0) return Status::Ok();
  const Dims lo = idx::ToDims(op.edge_low()), interior = idx::ToDims(op.interior());
  const size_t rank = in.dims.size();
  if (rank == 0) {
    std::memcpy(dst, src, e);
    return Status::Ok();
  }
  bool dense = true;
  for (int64_t i : interior) dense = dense && i == 0;
  if (dense) {
    // The operand block, cropped where low/high paddings are negative.
    Dims src_start(rank), dst_start(rank), sizes(rank);
    for (size_t d = 0; d < rank; ++d) {
      src_start[d] = std::max<int64_t>(0, -lo[d]);
      dst_start[d] = std::max<int64_t>(0, lo[d]);
      sizes[d] = std::max<int64_t>(0, std::min(in.dims[d] - src_start[d], out.dims[d] - dst_start[d]));
    }
    idx::CopyBlock(src, in.dims, src_start, dst, out.dims, dst_start, sizes, e);
    return Status::Ok();
  }
  const Dims os = idx::RowMajorStrides(out.dims);
  int64_t k = 0;
  idx::ForEachIndex(in.dims, [&](const Dims& i) {
    int64_t off = 0;
    bool inside = true;
    for (size_t d = 0; d < rank && inside; ++d) {
      const int64_t p = lo[d] + i[d] * (interior[d] + 1);
      inside = p >= 0 && p < out.dims[d];
      off += p * os[d];
    }
    if (inside) std::memcpy(dst + off * e, src + k * e, e);
    ++k;
  });
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
