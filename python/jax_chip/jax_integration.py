"""The few places where JAX 0.6.2 lists platforms by name, extended with the chip.

- Donation: JAX honours `donate_argnums` only for platforms in
  `jax._src.interpreters.mlir._platforms_with_donation`; without "chip" every donated buffer
  (a KV cache, an optimizer state) would be silently copied.
- Persistent compilation cache: `jax._src.compilation_cache.is_cache_used` accepts only
  tpu/gpu/cpu/neuron. The chip serializes its executables (PJRT_Executable_Serialize returns the
  chip executable), so the cache works for it; the wrapper adds the chip to that check.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

PLATFORM = "chip"
_applied = False


def _add_donation_platform() -> None:
    from jax._src.interpreters import mlir

    if PLATFORM not in mlir._platforms_with_donation:
        mlir._platforms_with_donation.append(PLATFORM)


def _allow_compilation_cache() -> None:
    from jax._src import compilation_cache

    original: Callable[[Any], bool] = compilation_cache.is_cache_used
    if getattr(original, "_chip_wrapped", False):
        return

    @functools.wraps(original)
    def is_cache_used(backend: Any) -> bool:
        if getattr(backend, "platform", None) != PLATFORM:
            return original(backend)
        # Same logic as JAX's, with the chip as a supported platform.
        with compilation_cache._cache_initialized_mutex:
            if not compilation_cache._cache_checked:
                compilation_cache._cache_checked = True
                compilation_cache._cache_used = compilation_cache._is_cache_enabled()
            return compilation_cache._cache_used

    is_cache_used._chip_wrapped = True  # type: ignore[attr-defined]
    compilation_cache.is_cache_used = is_cache_used


def register_lowerings() -> None:
    """The chip's own lowering rules; once the chip platform is registered with JAX (mlir's
    register_lowering refuses an unknown platform)."""
    from jax._src.interpreters import mlir
    from jax._src.lax import lax

    if lax.ragged_dot_general_p in mlir._platform_specific_lowerings.get(PLATFORM, {}):
        return
    mlir.register_lowering(lax.ragged_dot_general_p,
                           functools.partial(lax._ragged_dot_general_lower, platform=PLATFORM),
                           platform=PLATFORM)


def apply() -> None:
    global _applied
    if _applied:
        return
    _add_donation_platform()
    _allow_compilation_cache()
    _applied = True
