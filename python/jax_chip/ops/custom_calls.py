"""The attention ops as one function for every platform.

Each op is a JAX primitive with two lowerings:
- on platform "chip": a `stablehlo.custom_call` to the chip's native kernel (typed XLA FFI form,
  as `jax.ffi.ffi_call` emits it: attributes in `mhlo.backend_config`), which the chip compiler
  maps to a CustomCall kernel (xla_passes/custom_call_lowering.py) and the runtime
  runs natively (pjrt_plugin/kernels/attention_*.cc);
- on every other platform: the pure-jnp reference (kv_cache.py, attention.py).

So one jitted function works on the chip and on cpu, and a program lowered for several platforms
gets the right lowering on each. The semantics (padding slots, clamped page ids, GQA mapping,
f32 softmax) are the references'; docs/attention.md describes them and the kernels' cost.

The KV write updates the pools in place: its custom call aliases result 0 to operand 0 (the K
pool) and result 1 to operand 1 (the V pool), so a pool donated to the jitted function
(`donate_argnums`) is written where it lies and no copy of the pool is made.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import mlir

from jax_chip.ops import attention as _ref_attention
from jax_chip.ops import kv_cache as _ref_kv

PLATFORM = "chip"
KV_WRITE_TARGET = "chip.paged_kv_write"
DECODE_TARGET = "chip.paged_attention_decode"
EXTEND_TARGET = "chip.radix_attention_extend"
TARGETS = (KV_WRITE_TARGET, DECODE_TARGET, EXTEND_TARGET)


# ---- primitive plumbing ----------------------------------------------------------------------

def _eager_impl(prim: Primitive) -> Callable[..., Any]:
    """Outside jit, a primitive runs as a one-op jitted program on its arguments' device."""

    @functools.lru_cache(maxsize=None)
    def jitted(items: Tuple[Tuple[str, Any], ...]) -> Callable[..., Any]:
        return jax.jit(functools.partial(prim.bind, **dict(items)))

    def impl(*args: Any, **params: Any) -> Any:
        return jitted(tuple(sorted(params.items())))(*args)

    return impl


def _register_chip_lowering(prim: Primitive, rule: Callable[..., Any]) -> None:
    try:
        mlir.register_lowering(prim, rule, platform=PLATFORM)
    except NotImplementedError:
        # JAX learns the platform name only when it initializes its backends (the plugin's
        # initialize() registers it); until then register_lowering refuses unknown names. The
        # rule is stored where register_lowering would put it, and is used once the chip exists.
        from jax._src.interpreters import mlir as mlir_internal

        mlir_internal._platform_specific_lowerings[PLATFORM][prim] = rule


def _chip_lowering(target: str, aliases: dict[int, int] | None = None) -> Callable[..., Any]:
    """The custom call: operands in order; `scale` as an f32 attribute, `page_size` as i64."""
    rule = jax.ffi.ffi_lowering(target, operand_output_aliases=aliases)

    def lower(ctx: mlir.LoweringRuleContext, *args: Any, **params: Any) -> Any:
        attrs: dict[str, Any] = {}
        for name, value in params.items():
            if name == "scale":
                attrs[name] = np.float32(value)
            elif name == "page_size":
                attrs[name] = np.int64(value)
            else:  # pragma: no cover - every parameter is listed above
                raise TypeError(f"{target}: unexpected parameter {name}")
        return rule(ctx, *args, **attrs)

    return lower


def _make_primitive(name: str, target: str, reference: Callable[..., Any],
                    abstract: Callable[..., Any], multiple_results: bool,
                    aliases: dict[int, int] | None = None) -> Primitive:
    prim = Primitive(name)
    prim.multiple_results = multiple_results
    prim.def_impl(_eager_impl(prim))
    prim.def_abstract_eval(abstract)
    mlir.register_lowering(prim, mlir.lower_fun(reference, multiple_results=multiple_results))
    _register_chip_lowering(prim, _chip_lowering(target, aliases))
    return prim


def _shaped(x: Any) -> jax.core.ShapedArray:
    return jax.core.ShapedArray(x.shape, x.dtype)


# ---- paged KV write --------------------------------------------------------------------------

def _kv_write_abstract(k_pool: Any, v_pool: Any, k_new: Any, v_new: Any,
                       slots: Any) -> list[jax.core.ShapedArray]:
    return [_shaped(k_pool), _shaped(v_pool)]


def _kv_write_reference(k_pool: jax.Array, v_pool: jax.Array, k_new: jax.Array,
                        v_new: jax.Array, slots: jax.Array) -> list[jax.Array]:
    return list(_ref_kv.paged_kv_write(k_pool, v_pool, k_new, v_new, slots))


paged_kv_write_p = _make_primitive("chip_paged_kv_write", KV_WRITE_TARGET, _kv_write_reference,
                                   _kv_write_abstract, True, aliases={0: 0, 1: 1})


def paged_kv_write(k_pool: jax.Array, v_pool: jax.Array, k_new: jax.Array, v_new: jax.Array,
                   slots: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """Writes new K/V [T, Hkv, D] into the pools [rows, Hkv, D] at `slots` [T] (int).

    Slots of -1 (padding) and any other slot outside [0, rows) are dropped. New values are cast
    to the pools' dtypes. Returns the updated (k_pool, v_pool); with the pools donated to the
    enclosing jit they are updated in place (on the chip and on cpu alike).
    """
    k_pool, v_pool = jnp.asarray(k_pool), jnp.asarray(v_pool)
    k_new, v_new, slots = jnp.asarray(k_new), jnp.asarray(v_new), jnp.asarray(slots)
    _ref_kv.check_args(k_pool, v_pool, k_new, v_new, slots)
    k_out, v_out = paged_kv_write_p.bind(k_pool, v_pool, k_new.astype(k_pool.dtype),
                                         v_new.astype(v_pool.dtype), slots.astype(jnp.int32))
    return k_out, v_out


# ---- paged attention (decode) ----------------------------------------------------------------

def _decode_abstract(q: Any, k_pool: Any, v_pool: Any, page_table: Any, seq_lens: Any, *,
                     scale: float, page_size: int) -> jax.core.ShapedArray:
    return _shaped(q)


paged_attention_decode_p = _make_primitive(
    "chip_paged_attention_decode", DECODE_TARGET, _ref_attention.paged_attention_decode,
    _decode_abstract, False)


def paged_attention_decode(q: jax.Array, k_pool: jax.Array, v_pool: jax.Array,
                           page_table: jax.Array, seq_lens: jax.Array, *, scale: float,
                           page_size: int) -> jax.Array:
    """One query token per sequence over its KV pages (see attention.paged_attention_decode).

    q [B, H, D]; pools [rows, Hkv, D]; page_table [B, max_pages] int; seq_lens [B] int.
    Returns [B, H, D] in q's dtype.
    """
    q, k_pool, v_pool = jnp.asarray(q), jnp.asarray(k_pool), jnp.asarray(v_pool)
    page_table, seq_lens = jnp.asarray(page_table), jnp.asarray(seq_lens)
    _ref_attention.check_decode_args(q, k_pool, v_pool, page_table, seq_lens, page_size)
    return paged_attention_decode_p.bind(q, k_pool, v_pool, page_table.astype(jnp.int32),
                                         seq_lens.astype(jnp.int32), scale=float(scale),
                                         page_size=int(page_size))


# ---- radix attention (extend / prefill) ------------------------------------------------------

def _extend_abstract(q: Any, k_pool: Any, v_pool: Any, page_table: Any, prefix_lens: Any,
                     extend_lens: Any, *, scale: float, page_size: int) -> jax.core.ShapedArray:
    return _shaped(q)


radix_attention_extend_p = _make_primitive(
    "chip_radix_attention_extend", EXTEND_TARGET, _ref_attention.radix_attention_extend,
    _extend_abstract, False)


def radix_attention_extend(q: jax.Array, k_pool: jax.Array, v_pool: jax.Array,
                           page_table: jax.Array, prefix_lens: jax.Array,
                           extend_lens: jax.Array, *, scale: float,
                           page_size: int) -> jax.Array:
    """Ragged extend attention over a cached prefix (see attention.radix_attention_extend).

    q [T, H, D] (new tokens in batch order, then padding rows); page_table [B, max_pages];
    prefix_lens, extend_lens [B]. Returns [T, H, D] in q's dtype; padding rows are zeros.
    """
    q, k_pool, v_pool = jnp.asarray(q), jnp.asarray(k_pool), jnp.asarray(v_pool)
    page_table = jnp.asarray(page_table)
    prefix_lens, extend_lens = jnp.asarray(prefix_lens), jnp.asarray(extend_lens)
    _ref_attention.check_extend_args(q, k_pool, v_pool, page_table, prefix_lens, extend_lens,
                                     page_size)
    return radix_attention_extend_p.bind(q, k_pool, v_pool, page_table.astype(jnp.int32),
                                         prefix_lens.astype(jnp.int32),
                                         extend_lens.astype(jnp.int32), scale=float(scale),
                                         page_size=int(page_size))


PRIMITIVES: Sequence[Primitive] = (paged_kv_write_p, paged_attention_decode_p,
                                   radix_attention_extend_p)
