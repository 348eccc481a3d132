#include "pjrt_plugin/kernels/attention_extend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/attention_common.h"
#include "pjrt_plugin/kernels/thread_pool.h"

namespace chip {
namespace kernels {

Status ValidateRadixAttentionExtend(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                                    const TensorInfos& outputs) {
  if (inputs.size() != 6) {
    return InvalidArgument("takes 6 inputs (q, k_pool, v_pool, page_table, prefix_lens, extend_lens), got " +
                           std::to_string(inputs.size()));
  }
  CHIP_RETURN_IF_ERROR(attention::CheckQueryAndPools(attrs, inputs, outputs).status());
  const int64_t batch = inputs[3]->dims[0];
  const char* names[] = {"prefix_lens", "extend_lens"};
  for (int i = 0; i < 2; ++i) {
    CHIP_RETURN_IF_ERROR(attention::CheckS32(*inputs[4 + i], names[i], 1));
    if (inputs[4 + i]->dims[0] != batch) {
      return InvalidArgument(std::string(names[i]) + " " + inputs[4 + i]->ToString() + " must have " +
                             std::to_string(batch) + " entries (page_table rows)");
    }
  }
  return Status::Ok();
}

Status RunRadixAttentionExtend(const attention::AttentionParams& params, const TensorRefs& inputs,
                               const TensorRefs& outputs, KernelWork* work) {
  const attention::PagedArgs pa(params, inputs, outputs);
  const int32_t* prefix = static_cast<const int32_t*>(inputs[4].data);
  const int32_t* extend = static_cast<const int32_t*>(inputs[5].data);
  const int64_t rows = inputs[0].info->dims[0];
  const int64_t batch = inputs[3].info->dims[0];

  // Each sequence's query rows [start, start + count) and the positions it reads [0, used).
  std::vector<int64_t> start(batch), count(batch), used(batch);
  int64_t cursor = 0, tokens_read = 0, pages_used = 0;
  double scored = 0;  // sum over query rows of the keys each sees
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t e = std::max<int64_t>(extend[b], 0);
    start[b] = std::min(cursor, rows);
    count[b] = std::max<int64_t>(std::min(cursor + e, rows) - start[b], 0);
    cursor += e;
    used[b] = std::clamp<int64_t>(static_cast<int64_t>(prefix[b]) + count[b], 0, pa.capacity);
    tokens_read += used[b];
    pages_used += (used[b] + pa.page_size - 1) / pa.page_size;
    for (int64_t i = 0; i < count[b]; ++i) {
      scored += static_cast<double>(std::clamp<int64_t>(static_cast<int64_t>(prefix[b]) + i + 1, 0, pa.capacity));
    }
  }
  const int64_t real_rows = std::min(cursor, rows);
  const int64_t out_row_bytes = pa.heads * pa.dim * pa.out_esize;
  if (rows > real_rows) {  // padding query rows
    std::memset(pa.out_base + real_rows * out_row_bytes, 0, static_cast<size_t>((rows - real_rows) * out_row_bytes));
  }

  // One task per (sequence, KV head): the sequence's K/V rows for that head are converted to f32
  // once and shared by all its query rows and the `group` query heads of that KV head.
  ThreadPool::Global().ParallelFor(batch * pa.kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> keys, vals, scores, qf(pa.dim), acc(pa.dim);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / pa.kv_heads, kh = task % pa.kv_heads;
      if (count[b] == 0) continue;
      const int64_t n = used[b];
      const int32_t* pages = pa.table + b * pa.max_pages;
      keys.resize(static_cast<size_t>(n * pa.dim));
      vals.resize(static_cast<size_t>(n * pa.dim));
      scores.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) {
        pa.kpool.Load(pages, j, kh, keys.data() + j * pa.dim);
        pa.vpool.Load(pages, j, kh, vals.data() + j * pa.dim);
      }
      for (int64_t i = 0; i < count[b]; ++i) {
        const int64_t row = start[b] + i;
        const int64_t visible = std::clamp<int64_t>(static_cast<int64_t>(prefix[b]) + i + 1, 0, n);
        for (int64_t g = 0; g < pa.group; ++g) {
          const int64_t h = kh * pa.group + g;
          std::fill(acc.begin(), acc.end(), 0.0f);
          if (visible > 0) {
            num::FloatRowToF32(pa.q_t, pa.q_base + ((row * pa.heads + h) * pa.dim) * pa.q_esize, pa.dim, qf.data());
            float peak = -INFINITY;
            for (int64_t j = 0; j < visible; ++j) {
              const float* k = keys.data() + j * pa.dim;
              scores[j] = attention::Dot(qf.data(), k, pa.dim) * pa.scale;
              peak = std::max(peak, scores[j]);
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < visible; ++j) {
              scores[j] = std::exp(scores[j] - peak);
              sum += scores[j];
            }
            for (int64_t j = 0; j < visible; ++j) {
              const float w = scores[j];
              const float* v = vals.data() + j * pa.dim;
              for (int64_t d = 0; d < pa.dim; ++d) acc[d] += w * v[d];
            }
            const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            for (int64_t d = 0; d < pa.dim; ++d) acc[d] *= inv;
          }
          attention::RowFromF32(pa.out_t, acc.data(), pa.dim,
                                pa.out_base + ((row * pa.heads + h) * pa.dim) * pa.out_esize);
        }
      }
    }
  });

  const double kv_bytes = static_cast<double>(tokens_read) * pa.kv_heads * pa.dim *
                          (DTypeByteSize(pa.kpool.dtype()) + DTypeByteSize(pa.vpool.dtype()));
  work->bytes_read += kv_bytes + static_cast<double>(real_rows * pa.heads * pa.dim * pa.q_esize) + 4.0 * pages_used +
                      8.0 * batch;
  work->bytes_written += static_cast<double>(outputs[0].info->byte_size());
  work->matrix_flops += 4.0 * scored * pa.heads * pa.dim;
  work->matrix_dtype = pa.q_t;
  work->transcendentals += scored * pa.heads;
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
