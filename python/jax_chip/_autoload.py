"""Activates the chip's sglang-jax integration whenever `sgl_jax` is imported.

`jax_chip_autoload.pth` (installed into site-packages with the package) imports this module at
every interpreter start, so the integration applies in every process: the user's, and the
scheduler and detokenizer processes sglang-jax spawns. Until `sgl_jax` is imported it costs one
entry on sys.meta_path and nothing else; right after `sgl_jax` has been imported the entry
removes itself and `jax_chip.sglang.apply()` runs. `JAX_CHIP_SGLANG_AUTOLOAD=0` turns it off.

An installed sglang-jax that is not the version the patches pin (jax_chip.sglang.PatchError)
fails the import of `sgl_jax` with that error; any other failure is logged and sgl_jax is left
as it is.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from types import ModuleType
from typing import Any, Sequence

TARGET = "sgl_jax"
logger = logging.getLogger("jax_chip.sglang")


class _ActivatingLoader(importlib.abc.Loader):
    """Runs the real loader of `sgl_jax`, then activates the integration."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _activate()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._inner, name)


class SglJaxImportHook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _ActivatingLoader(spec.loader)
                return spec
        return None


def _activate() -> None:
    uninstall()
    try:
        import jax_chip.sglang as integration
    except Exception:  # never break the user's import of sgl_jax ...
        logger.exception("jax_chip: could not import the sglang-jax integration")
        return
    try:
        integration.apply()
    except integration.PatchError:  # ... unless it is not the sgl_jax the patches were made for
        raise
    except Exception:
        logger.exception("jax_chip: could not apply the sglang-jax integration")


def install() -> None:
    if os.environ.get("JAX_CHIP_SGLANG_AUTOLOAD", "1") == "0":
        return
    if TARGET in sys.modules:
        _activate()
    elif not any(isinstance(f, SglJaxImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, SglJaxImportHook())


def uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, SglJaxImportHook)]


install()
