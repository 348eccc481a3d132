#include "pjrt_plugin/kernels/attention_decode.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/attention_common.h"
#include "pjrt_plugin/kernels/thread_pool.h"

namespace chip {
namespace kernels {

Status ValidatePagedAttentionDecode(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                                    const TensorInfos& outputs) {
  if (inputs.size() != 5) {
    return InvalidArgument("takes 5 inputs (q, k_pool, v_pool, page_table, seq_lens), got " +
                           std::to_string(inputs.size()));
  }
  CHIP_RETURN_IF_ERROR(attention::CheckQueryAndPools(attrs, inputs, outputs).status());
  const int64_t batch = inputs[0]->dims[0];
  if (inputs[3]->dims[0] != batch) {
    return InvalidArgument("page_table " + inputs[3]->ToString() + " must have " + std::to_string(batch) + " rows");
  }
  CHIP_RETURN_IF_ERROR(attention::CheckS32(*inputs[4], "seq_lens", 1));
  if (inputs[4]->dims[0] != batch) {
    return InvalidArgument("seq_lens " + inputs[4]->ToString() + " must have " + std::to_string(batch) + " entries");
  }
  return Status::Ok();
}

Status RunPagedAttentionDecode(const attention::AttentionParams& params, const TensorRefs& inputs,
                               const TensorRefs& outputs,
                               KernelWork* work) {
  const float scale = params.scale;
  const int64_t page_size = params.page_size;
  const TensorRef& q = inputs[0];
  const attention::PagedPool kpool(inputs[1], page_size), vpool(inputs[2], page_size);
  const int32_t* table = static_cast<const int32_t*>(inputs[3].data);
  const int32_t* lens = static_cast<const int32_t*>(inputs[4].data);
  const int64_t batch = q.info->dims[0], heads = q.info->dims[1], dim = q.info->dims[2];
  const int64_t kv_heads = inputs[1].info->dims[1];
  const int64_t group = heads / kv_heads;
  const int64_t max_pages = inputs[3].info->dims[1];
  const int64_t capacity = kpool.num_pages() > 0 ? max_pages * page_size : 0;
  const DType q_t = q.info->dtype, out_t = outputs[0].info->dtype;
  const int64_t q_esize = DTypeByteSize(q_t), out_esize = DTypeByteSize(out_t);
  const uint8_t* q_base = static_cast<const uint8_t*>(q.data);
  uint8_t* out_base = static_cast<uint8_t*>(outputs[0].data);

  std::vector<int64_t> length(batch);
  int64_t tokens = 0, pages_used = 0;
  for (int64_t b = 0; b < batch; ++b) {
    length[b] = std::clamp<int64_t>(lens[b], 0, capacity);
    tokens += length[b];
    pages_used += (length[b] + page_size - 1) / page_size;
  }

  // One task per (sequence, KV head): its `group` query heads share the K/V rows read.
  ThreadPool::Global().ParallelFor(batch * kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> qf(group * dim), row(dim), acc(group * dim), scores, peak(group), denom(group);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / kv_heads, kh = task % kv_heads;
      const int64_t n = length[b];
      const int64_t head0 = kh * group;
      if (n == 0) {
        std::fill(acc.begin(), acc.end(), 0.0f);
      } else {
        const int32_t* pages = table + b * max_pages;
        for (int64_t g = 0; g < group; ++g) {
          attention::RowToF32(q_t, q_base + ((b * heads + head0 + g) * dim) * q_esize, dim, qf.data() + g * dim);
        }
        scores.assign(group * n, 0.0f);
        std::fill(peak.begin(), peak.end(), -INFINITY);
        for (int64_t j = 0; j < n; ++j) {
          kpool.Load(pages, j, kh, row.data());
          for (int64_t g = 0; g < group; ++g) {
            const float* qg = qf.data() + g * dim;
            const float s = attention::Dot(qg, row.data(), dim) * scale;
            scores[g * n + j] = s;
            peak[g] = std::max(peak[g], s);
          }
        }
        for (int64_t g = 0; g < group; ++g) {
          float sum = 0.0f;
          float* sg = scores.data() + g * n;
          for (int64_t j = 0; j < n; ++j) {
            sg[j] = std::exp(sg[j] - peak[g]);
            sum += sg[j];
          }
          denom[g] = sum;
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = 0; j < n; ++j) {
          vpool.Load(pages, j, kh, row.data());
          for (int64_t g = 0; g < group; ++g) {
            const float w = scores[g * n + j];
            float* a = acc.data() + g * dim;
            for (int64_t d = 0; d < dim; ++d) a[d] += w * row[d];
          }
        }
        for (int64_t g = 0; g < group; ++g) {
          const float inv = denom[g] > 0.0f ? 1.0f / denom[g] : 0.0f;
          for (int64_t d = 0; d < dim; ++d) acc[g * dim + d] *= inv;
        }
      }
      for (int64_t g = 0; g < group; ++g) {
        attention::RowFromF32(out_t, acc.data() + g * dim, dim, out_base + ((b * heads + head0 + g) * dim) * out_esize);
      }
    }
  });

  const double kv_bytes = static_cast<double>(tokens) * kv_heads * dim *
                          (DTypeByteSize(kpool.dtype()) + DTypeByteSize(vpool.dtype()));
  work->bytes_read += kv_bytes + static_cast<double>(q.info->byte_size()) + 4.0 * pages_used + 4.0 * batch;
  work->bytes_written += static_cast<double>(outputs[0].info->byte_size());
  work->vector_flops += 4.0 * tokens * heads * dim;
  work->transcendentals += static_cast<double>(tokens) * heads;
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
