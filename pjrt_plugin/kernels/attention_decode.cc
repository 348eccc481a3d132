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
                               const TensorRefs& outputs, KernelWork* work) {
  const attention::PagedArgs pa(params, inputs, outputs);
  const TensorRef& q = inputs[0];
  const int32_t* lens = static_cast<const int32_t*>(inputs[4].data);
  const int64_t batch = q.info->dims[0];

  std::vector<int64_t> length(batch);
  int64_t tokens = 0, pages_used = 0;
  for (int64_t b = 0; b < batch; ++b) {
    length[b] = std::clamp<int64_t>(lens[b], 0, pa.capacity);
    tokens += length[b];
    pages_used += (length[b] + pa.page_size - 1) / pa.page_size;
  }

  // One task per (sequence, KV head): its `group` query heads share the K/V rows read.
  ThreadPool::Global().ParallelFor(batch * pa.kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> qf(pa.group * pa.dim), row(pa.dim), acc(pa.group * pa.dim), scores, peak(pa.group),
        denom(pa.group);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / pa.kv_heads, kh = task % pa.kv_heads;
      const int64_t n = length[b];
      const int64_t head0 = kh * pa.group;
      if (n == 0) {
        std::fill(acc.begin(), acc.end(), 0.0f);
      } else {
        const int32_t* pages = pa.table + b * pa.max_pages;
        for (int64_t g = 0; g < pa.group; ++g) {
          num::FloatRowToF32(pa.q_t, pa.q_base + ((b * pa.heads + head0 + g) * pa.dim) * pa.q_esize, pa.dim,
                             qf.data() + g * pa.dim);
        }
        scores.assign(pa.group * n, 0.0f);
        std::fill(peak.begin(), peak.end(), -INFINITY);
        for (int64_t j = 0; j < n; ++j) {
          pa.kpool.Load(pages, j, kh, row.data());
          for (int64_t g = 0; g < pa.group; ++g) {
            const float* qg = qf.data() + g * pa.dim;
            const float s = attention::Dot(qg, row.data(), pa.dim) * pa.scale;
            scores[g * n + j] = s;
            peak[g] = std::max(peak[g], s);
          }
        }
        for (int64_t g = 0; g < pa.group; ++g) {
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
          pa.vpool.Load(pages, j, kh, row.data());
          for (int64_t g = 0; g < pa.group; ++g) {
            const float w = scores[g * n + j];
            float* a = acc.data() + g * pa.dim;
            for (int64_t d = 0; d < pa.dim; ++d) a[d] += w * row[d];
          }
        }
        for (int64_t g = 0; g < pa.group; ++g) {
          const float inv = denom[g] > 0.0f ? 1.0f / denom[g] : 0.0f;
          for (int64_t d = 0; d < pa.dim; ++d) acc[g * pa.dim + d] *= inv;
        }
      }
      for (int64_t g = 0; g < pa.group; ++g) {
        attention::RowFromF32(pa.out_t, acc.data() + g * pa.dim, pa.dim,
                              pa.out_base + ((b * pa.heads + head0 + g) * pa.dim) * pa.out_esize);
      }
    }
  });

  const double kv_bytes = static_cast<double>(tokens) * pa.kv_heads * pa.dim *
                          (DTypeByteSize(pa.kpool.dtype()) + DTypeByteSize(pa.vpool.dtype()));
  work->bytes_read += kv_bytes + static_cast<double>(q.info->byte_size()) + 4.0 * pages_used + 4.0 * batch;
  work->bytes_written += static_cast<double>(outputs[0].info->byte_size());
  work->vector_flops += 4.0 * tokens * pa.heads * pa.dim;
  work->transcendentals += static_cast<double>(tokens) * pa.heads;
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
