"""LLM attention ops. On the chip each is a custom call to a native kernel; on every other
platform its pure-jnp reference runs (custom_calls.py). The references themselves are
kv_cache.paged_kv_write, attention.paged_attention_decode and attention.radix_attention_extend;
docs/attention.md gives the exact semantics."""

from jax_chip.ops.attention import page_table_from_cache_loc
from jax_chip.ops.custom_calls import (
    paged_attention_decode,
    paged_kv_write,
    radix_attention_extend,
)

__all__ = [
    "paged_kv_write",
    "paged_attention_decode",
    "radix_attention_extend",
    "page_table_from_cache_loc",
]
