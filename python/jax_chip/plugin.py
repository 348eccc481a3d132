"""Registers the chip with JAX. JAX calls `initialize()` through the `jax_plugins` entry point.

After this, `JAX_PLATFORMS=chip` (or `jax.devices("chip")`) gives the chip's devices.
"""

from __future__ import annotations

import logging
import os
import pathlib

from jax_chip import jax_integration
from jax_chip.config import ChipConfig

PLATFORM = "chip"
_LIB_NAME = "pjrt_plugin_chip.so"
logger = logging.getLogger(__name__)


class PluginNotBuiltError(RuntimeError):
    """The plugin library is missing: run tools/setup.sh."""


def library_path() -> pathlib.Path:
    """The plugin library: $CHIP_PLUGIN_LIBRARY, else the one installed in the package."""
    override = os.environ.get("CHIP_PLUGIN_LIBRARY")
    path = pathlib.Path(override) if override else pathlib.Path(__file__).parent / "lib" / _LIB_NAME
    if not path.is_file():
        raise PluginNotBuiltError(
            f"chip PJRT plugin library not found at {path}"
            + (" (from CHIP_PLUGIN_LIBRARY)" if override else "")
            + "; build it with tools/setup.sh"
        )
    return path


def initialize() -> None:
    """Entry point called by JAX's plugin discovery."""
    try:
        path = library_path()
    except PluginNotBuiltError as e:
        logger.warning("%s", e)
        return
    config = ChipConfig.from_environment()
    jax_integration.apply()
    from jax._src import xla_bridge

    xla_bridge.register_plugin(PLATFORM, library_path=str(path), options=config.plugin_options())
    jax_integration.register_lowerings()
    # jax.ffi.register_ffi_target(..., platform="chip") -> the plugin's FFI handler registry
    from jax_chip import ffi

    ffi.install(PLATFORM)
