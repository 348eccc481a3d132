"""Every patch of sglang-jax 0.0.1.post1, by purpose: upstream bug fixes (`fixes`), platform
enabling (`platform`) and performance (`performance`). `PATCHES` maps name -> Patch, `ALIASES`
name -> ModuleAlias (modules sgl_jax imports under names that do not exist)."""

from __future__ import annotations

from typing import Dict

from jax_chip.sglang.patches import fixes, performance, platform
from jax_chip.sglang.patching import ModuleAlias, Patch, registry

PATCHES: Dict[str, Patch] = registry(fixes.PATCHES, platform.PATCHES, performance.PATCHES)
ALIASES: Dict[str, ModuleAlias] = {a.name: a for a in fixes.ALIASES}
