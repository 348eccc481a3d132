"""Entry point of sglang-jax's scheduler process when jax_chip.sglang is applied.

multiprocessing (spawn) pickles the process target by reference; the child imports this module,
which applies the patches named in $JAX_CHIP_SGLANG_FIXES before sglang-jax builds its model.
"""

from __future__ import annotations

from typing import Any

import jax_chip.sglang as _integration

_integration.apply_here()


def run_scheduler_process(*args: Any, **kwargs: Any) -> Any:
    from sgl_jax.srt.managers.scheduler import run_scheduler_process as original

    return original(*args, **kwargs)
