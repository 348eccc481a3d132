"""sglang-jax 0.0.1.post1 integration: declared patches of `sgl_jax` applied at run time.

    import jax_chip.sglang
    jax_chip.sglang.apply()          # before creating sgl_jax's Engine / launching the server
    from sgl_jax.srt.entrypoints.engine import Engine

(Installing jax-chip does this by itself when sgl_jax is imported: jax_chip._autoload.)
The patches are in jax_chip.sglang.patches, by purpose (upstream bug fixes, platform enabling,
performance), each pinned to the upstream source it replaces (jax_chip.sglang.patching): a
different sglang-jax version or a changed target source is an error (PatchError), never a
warning.

apply() patches this process and makes sglang-jax's spawned scheduler process patch itself too:
the Engine starts the scheduler with multiprocessing's spawn method, which re-imports the target
function by module and name in the child, so apply() points the engine at
jax_chip.sglang.bootstrap.run_scheduler_process, whose module applies the same patches when the
child imports it. The chosen patches travel in the JAX_CHIP_SGLANG_FIXES environment variable
("all" or a comma-separated list of names from PATCHES).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Iterable, List, Optional

from jax_chip.sglang import patching
from jax_chip.sglang.patches import ALIASES, PATCHES
from jax_chip.sglang.patching import PatchError

ENV = "JAX_CHIP_SGLANG_FIXES"
SUPPORTED_VERSION = "0.0.1.post1"

logger = logging.getLogger(__name__)
_applied: List[str] = []


def _resolve(names: Optional[Iterable[str]]) -> List[str]:
    if names is None:
        spec = os.environ.get(ENV, "all")
        selected = list(PATCHES) if spec.strip() in ("", "all") else [
            s.strip() for s in spec.split(",") if s.strip()]
    else:
        selected = list(names)
    unknown = [n for n in selected if n not in PATCHES]
    if unknown:
        raise ValueError(f"jax_chip.sglang: unknown patch(es) {unknown}; known: {list(PATCHES)}")
    return selected


def _route_scheduler_through_bootstrap() -> None:
    from sgl_jax.srt.entrypoints import engine

    from jax_chip.sglang import bootstrap

    target = getattr(bootstrap, "run_scheduler_process", None)
    if target is None:
        # bootstrap is still being imported: this is the spawned scheduler unpickling its
        # entry point, and bootstrap applies the patches itself.
        return
    engine.run_scheduler_process = target


def main_module() -> Optional[str]:
    """The module `python -m NAME` runs in this process as __main__, if any (from
    sys.orig_argv); for `python -m jax_chip.sglang ENTRY ...`, the sgl_jax module it runs."""
    argv = list(getattr(sys, "orig_argv", []))
    skip = False
    for i, arg in enumerate(argv[1:], start=1):
        if skip:   # the value of -X / -W
            skip = False
            continue
        if arg in ("-X", "-W"):
            skip = True
            continue
        if arg.startswith("-m"):
            rest = argv[i + 1:] if arg == "-m" else [arg[2:]] + argv[i + 1:]
            if rest and rest[0] == __name__ and len(rest) > 1:
                return f"sgl_jax.{rest[1]}"
            return rest[0] if rest else None
        if not arg.startswith("-"):
            return None   # a script (or -c): no -m
    return None


def apply_here(names: Optional[Iterable[str]] = None) -> List[str]:
    """Apply the patches in this process only (what the spawned scheduler does at start).

    A patch of the module that `python -m` is about to run as __main__ (e.g. `python -m
    sgl_jax.bench_serving`) is left out in that process: the __main__ copy would not see it,
    and importing the module first makes runpy warn. It still counts as applied."""
    selected = _resolve(names)
    patching.check_version(SUPPORTED_VERSION)
    importlib.import_module("sgl_jax")   # jax_chip._autoload, if active, applies its choice now
    # Module aliases replace nothing (they provide a module name that does not exist): always,
    # and first, since the patches' targets import the model registry, which imports the models.
    for alias in ALIASES.values():
        patching.provide(alias)
    running = main_module()
    patching.apply_all(PATCHES[n] for n in selected if PATCHES[n].module != running)
    _applied.extend(n for n in selected if n not in _applied)
    logger.info("jax_chip.sglang: applied %s", ", ".join(selected))
    return selected


def apply(names: Optional[Iterable[str]] = None) -> List[str]:
    """Apply the patches (default: $JAX_CHIP_SGLANG_FIXES, else all) here and in the spawned
    scheduler. Returns the names applied in this process (cumulative, idempotent)."""
    selected = apply_here(names)
    os.environ[ENV] = ",".join(selected)
    _route_scheduler_through_bootstrap()
    return list(_applied)


def applied() -> List[str]:
    return list(_applied)


__all__ = ["apply", "apply_here", "applied", "PATCHES", "ALIASES", "PatchError", "ENV",
           "SUPPORTED_VERSION"]
