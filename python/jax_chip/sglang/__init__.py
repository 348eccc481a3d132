"""sglang-jax 0.0.1.post1 integration: fixes applied by monkeypatching `sgl_jax` at run time.

    import jax_chip.sglang
    jax_chip.sglang.apply()          # before creating sgl_jax's Engine / launching the server
    from sgl_jax.srt.entrypoints.engine import Engine

apply() patches this process and makes sglang-jax's spawned scheduler process patch itself too:
the Engine starts the scheduler with multiprocessing's spawn method, which re-imports the target
function by module and name in the child, so apply() points the engine at
jax_chip.sglang.bootstrap.run_scheduler_process, whose module applies the same fixes when the
child imports it. The chosen fixes travel in the JAX_CHIP_SGLANG_FIXES environment variable
("all" or a comma-separated list of names from fixes.FIXES).

A platform integration (the chip's `chip` backend) adds its own entries to fixes.FIXES and
calls apply() from its plugin initialisation; nothing else changes.
"""

from __future__ import annotations

import logging
import os
from typing import Iterable, List, Optional

from jax_chip.sglang.fixes import BLOCKERS, FIXES

ENV = "JAX_CHIP_SGLANG_FIXES"
SUPPORTED_VERSION = "0.0.1.post1"

logger = logging.getLogger(__name__)
_applied: List[str] = []


def _resolve(fixes: Optional[Iterable[str]]) -> List[str]:
    if fixes is None:
        spec = os.environ.get(ENV, "all")
        names = list(FIXES) if spec.strip() in ("", "all") else [
            s.strip() for s in spec.split(",") if s.strip()]
    else:
        names = list(fixes)
    unknown = [n for n in names if n not in FIXES]
    if unknown:
        raise ValueError(f"jax_chip.sglang: unknown fix(es) {unknown}; known: {list(FIXES)}")
    return names


def _check_version() -> None:
    from importlib import metadata

    try:
        version = metadata.version("sglang-jax")
    except metadata.PackageNotFoundError as e:
        raise ImportError("jax_chip.sglang: sglang-jax is not installed "
                          f"(pip install --no-deps sglang-jax=={SUPPORTED_VERSION})") from e
    if version != SUPPORTED_VERSION:
        logger.warning("jax_chip.sglang: written for sglang-jax %s, found %s; the patches may "
                       "not apply", SUPPORTED_VERSION, version)


def _route_scheduler_through_bootstrap() -> None:
    from sgl_jax.srt.entrypoints import engine

    from jax_chip.sglang import bootstrap

    target = getattr(bootstrap, "run_scheduler_process", None)
    if target is None:
        # bootstrap is still being imported: this is the spawned scheduler unpickling its
        # entry point, and bootstrap applies the fixes itself.
        return
    engine.run_scheduler_process = target


def apply_here(fixes: Optional[Iterable[str]] = None) -> List[str]:
    """Apply the fixes in this process only (what the spawned scheduler does at start)."""
    names = _resolve(fixes)
    _check_version()
    for name in names:
        if name not in _applied:
            FIXES[name]()
            _applied.append(name)
    logger.info("jax_chip.sglang: applied %s", ", ".join(names))
    return names


def apply(fixes: Optional[Iterable[str]] = None) -> List[str]:
    """Apply the fixes (default: $JAX_CHIP_SGLANG_FIXES, else all) here and in the spawned
    scheduler. Returns the names applied in this process (cumulative, idempotent)."""
    names = apply_here(fixes)
    os.environ[ENV] = ",".join(names)
    _route_scheduler_through_bootstrap()
    return list(_applied)


def applied() -> List[str]:
    return list(_applied)


__all__ = ["apply", "apply_here", "applied", "FIXES", "BLOCKERS", "ENV"]
