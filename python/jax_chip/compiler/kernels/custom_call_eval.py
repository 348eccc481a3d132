"""The chip's custom-call kernels in numpy, for the reference interpreter: the semantics of
pjrt_plugin/kernels/attention_*.cc (docs/attention.md), computed in float64 and rounded to the
output dtype once. Inputs arrive as storage arrays (bf16 as ml_dtypes.bfloat16)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from jax_chip.compiler.ir import dtypes


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def _rows(table_row: np.ndarray, n: int, page_size: int, num_pages: int) -> np.ndarray:
    """Pool rows of positions 0..n-1 of one sequence (page ids clamped into the pool)."""
    j = np.arange(n, dtype=np.int64)
    pages = np.clip(table_row[j // page_size].astype(np.int64), 0, num_pages - 1)
    return pages * page_size + j % page_size


def _attend(q: np.ndarray, keys: np.ndarray, vals: np.ndarray, visible: int,
            scale: float) -> np.ndarray:
    """q [H, D] over the first `visible` keys/values [n, Hkv, D] (GQA h -> h // group)."""
    heads = q.shape[0]
    group = heads // keys.shape[1]
    out = np.zeros_like(q)
    if visible <= 0:
        return out
    for h in range(heads):
        k = keys[:visible, h // group]
        s = (k @ q[h]) * scale
        w = np.exp(s - s.max())
        out[h] = (w / w.sum()) @ vals[:visible, h // group]
    return out


def paged_kv_write(attrs: dict[str, Any], ins: list[np.ndarray]) -> list[np.ndarray]:
    k_pool, v_pool, k_new, v_new, slots = ins
    outs = []
    for pool, new in ((k_pool, k_new), (v_pool, v_new)):
        out = np.array(pool, copy=True)
        rows = pool.shape[0]
        for t, s in enumerate(np.asarray(slots).astype(np.int64)):
            if 0 <= s < rows:
                out[s] = new[t]
        outs.append(out)
    return outs


def paged_attention_decode(attrs: dict[str, Any], ins: list[np.ndarray]) -> list[np.ndarray]:
    q, k_pool, v_pool, table, lens = ins
    page_size, scale = int(attrs["page_size"]), float(attrs["scale"])
    num_pages = k_pool.shape[0] // page_size
    capacity = table.shape[1] * page_size if num_pages else 0
    qf = _f64(q)
    out = np.zeros(qf.shape, np.float64)
    for b in range(q.shape[0]):
        n = int(np.clip(int(lens[b]), 0, capacity))
        if n == 0:
            continue
        rows = _rows(table[b], n, page_size, num_pages)
        out[b] = _attend(qf[b], _f64(k_pool[rows]), _f64(v_pool[rows]), n, scale)
    return [out]


def radix_attention_extend(attrs: dict[str, Any], ins: list[np.ndarray]) -> list[np.ndarray]:
    q, k_pool, v_pool, table, prefix, extend = ins
    page_size, scale = int(attrs["page_size"]), float(attrs["scale"])
    num_pages = k_pool.shape[0] // page_size
    capacity = table.shape[1] * page_size if num_pages else 0
    qf = _f64(q)
    out = np.zeros(qf.shape, np.float64)
    start = 0
    for b in range(table.shape[0]):
        e = max(int(extend[b]), 0)
        count = max(min(start + e, q.shape[0]) - min(start, q.shape[0]), 0)
        used = int(np.clip(int(prefix[b]) + count, 0, capacity))
        if count and used:
            rows = _rows(table[b], used, page_size, num_pages)
            keys, vals = _f64(k_pool[rows]), _f64(v_pool[rows])
            for i in range(count):
                visible = int(np.clip(int(prefix[b]) + i + 1, 0, used))
                out[start + i] = _attend(qf[start + i], keys, vals, visible, scale)
        start += e
    return [out]


EVALUATORS: dict[str, Callable[[dict[str, Any], list[np.ndarray]], list[np.ndarray]]] = {
    "chip.paged_kv_write": paged_kv_write,
    "chip.paged_attention_decode": paged_attention_decode,
    "chip.radix_attention_extend": radix_attention_extend,
}


def evaluate(target: str, attrs: dict[str, Any], ins: list[np.ndarray], in_dtypes: list[str],
             out_dtypes: list[str]) -> list[np.ndarray]:
    fn = EVALUATORS.get(target)
    if fn is None:
        raise NotImplementedError(f"the reference interpreter has no custom call @{target}")
    outs = fn(attrs, ins)
    return [np.asarray(o).astype(np.float32).astype(dtypes.numpy_dtype(t))
            if dtypes.info(t).is_float else np.asarray(o) for o, t in zip(outs, out_dtypes)]
