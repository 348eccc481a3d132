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
                               const TensorRefs& outputs,
                               KernelWork* work) {
  const float scale = params.scale;
  const int64_t page_size = params.page_size;
  const TensorRef& q = inputs[0];
  const attention::PagedPool kpool(inputs[1], page_size), vpool(inputs[2], page_size);
  const int32_t* table = static_cast<const int32_t*>(inputs[3].data);
  const int32_t* prefix = static_cast<const int32_t*>(inputs[4].data);
  const int32_t* extend = static_cast<const int32_t*>(inputs[5].data);
  const int64_t rows = q.info->dims[0], heads = q.info->dims[1], dim = q.info->dims[2];
  const int64_t batch = inputs[3].info->dims[0], max_pages = inputs[3].info->dims[1];
  const int64_t kv_heads = inputs[1].info->dims[1];
  const int64_t group = heads / kv_heads;
  const int64_t capacity = kpool.num_pages() > 0 ? max_pages * page_size : 0;
  const DType q_t = q.info->dtype, out_t = outputs[0].info->dtype;
  const int64_t q_esize = DTypeByteSize(q_t), out_esize = DTypeByteSize(out_t);
  const uint8_t* q_base = static_cast<const uint8_t*>(q.data);
  uint8_t* out_base = static_cast<uint8_t*>(outputs[0].data);

  // Each sequence's query rows [start, start + count) and the positions it reads [0, used).
  std::vector<int64_t> start(batch), count(batch), used(batch);
  int64_t cursor = 0, tokens_read = 0, pages_used = 0;
  double scored = 0;  // sum over query rows of the keys each sees
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t e = std::max<int64_t>(extend[b], 0);
    start[b] = std::min(cursor, rows);
    count[b] = std::max<int64_t>(std::min(cursor + e, rows) - start[b], 0);
    cursor += e;
    used[b] = std::clamp<int64_t>(static_cast<int64_t>(prefix[b]) + count[b], 0, capacity);
    tokens_read += used[b];
    pages_used += (used[b] + page_size - 1) / page_size;
    for (int64_t i = 0; i < count[b]; ++i) {
      scored += static_cast<double>(std::clamp<int64_t>(static_cast<int64_t>(prefix[b]) + i + 1, 0, capacity));
    }
  }
  const int64_t real_rows = std::min(cursor, rows);
  const int64_t out_row_bytes = heads * dim * out_esize;
  if (rows > real_rows) {  // padding query rows
    std::memset(out_base + real_rows * out_row_bytes, 0, static_cast<size_t>((rows - real_rows) * out_row_bytes));
  }

  // One task per (sequence, KV head): the sequence's K/V rows for that head are converted to f32
  // once and shared by all its query rows and the `group` query heads of that KV head.
  ThreadPool::Global().ParallelFor(batch * kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> keys, vals, scores, qf(dim), acc(dim);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / kv_heads, kh = task % kv_heads;
      if (count[b] == 0) continue;
      const int64_t n = used[b];
      const int32_t* pages = table + b * max_pages;
      keys.resize(static_cast<size_t>(n * dim));
      vals.resize(static_cast<size_t>(n * dim));
      scores.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) {
        kpool.Load(pages, j, kh, keys.data() + j * dim);
        vpool.Load(pages, j, kh, vals.data() + j * dim);
      }
      for (int64_t i = 0; i < count[b]; ++i) {
        const int64_t row = start[b] + i;
        const int64_t visible = std::clamp<int64_t>(static_cast<int64_t>(prefix[b]) + i + 1, 0, n);
        for (int64_t g = 0; g < group; ++g) {
          const int64_t h = kh * group + g;
          std::fill(acc.begin(), acc.end(), 0.0f);
          if (visible > 0) {
            attention::RowToF32(q_t, q_base + ((row * heads + h) * dim) * q_esize, dim, qf.data());
            float peak = -INFINITY;
            for (int64_t j = 0; j < visible; ++j) {
              const float* k = keys.data() + j * dim;
              scores[j] = attention::Dot(qf.data(), k, dim) * scale;
              peak = std::max(peak, scores[j]);
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < visible; ++j) {
              scores[j] = std::exp(scores[j] - peak);
              sum += scores[j];
            }
            for (int64_t j = 0; j < visible; ++j) {
              const float w = scores[j];
              const float* v = vals.data() + j * dim;
              for (int64_t d = 0; d < dim; ++d) acc[d] += w * v[d];
            }
            const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            for (int64_t d = 0; d < dim; ++d) acc[d] *= inv;
          }
          attention::RowFromF32(out_t, acc.data(), dim, out_base + ((row * heads + h) * dim) * out_esize);
        }
      }
    }
  });

  const double kv_bytes = static_cast<double>(tokens_read) * kv_heads * dim *
                          (DTypeByteSize(kpool.dtype()) + DTypeByteSize(vpool.dtype()));
  work->bytes_read += kv_bytes + static_cast<double>(real_rows * heads * dim * q_esize) + 4.0 * pages_used +
                      8.0 * batch;
  work->bytes_written += static_cast<double>(outputs[0].info->byte_size());
  work->matrix_flops += 4.0 * scored * heads * dim;
  work->matrix_dtype = q_t;
  work->transcendentals += scored * heads;
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
