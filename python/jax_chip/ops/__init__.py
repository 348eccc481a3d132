"""LLM attention ops: pure-jnp references (what runs on non-chip platforms and what the chip's
custom calls are checked against). See kv_cache.py and attention.py for the exact semantics."""

from jax_chip.ops.attention import (
    page_table_from_cache_loc,
    paged_attention_decode,
    radix_attention_extend,
)
from jax_chip.ops.kv_cache import paged_kv_write

__all__ = [
    "paged_kv_write",
    "paged_attention_decode",
    "radix_attention_extend",
    "page_table_from_cache_loc",
]
