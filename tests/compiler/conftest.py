"""The compiler tests need no plugin: they compile with the chip compiler, run executables in the
reference interpreter and compare with jax on the cpu backend (helpers.py pins the cpu device).
Without a built plugin library, jax is restricted to cpu so that a JAX_PLATFORMS naming the chip
(tests/conftest.py) does not fail backend initialization."""

import os
import pathlib
import sys

# every pipeline run verifies the graph after each pass (a failure names the pass)
os.environ.setdefault("CHIP_VERIFY_PASSES", "1")


def _plugin_library_exists() -> bool:
    override = os.environ.get("CHIP_PLUGIN_LIBRARY")
    if override:
        return pathlib.Path(override).is_file()
    import jax_chip   # docstring-only package: does not import jax
    return (pathlib.Path(jax_chip.__file__).parent / "lib" / "pjrt_plugin_chip.so").is_file()


if "jax" not in sys.modules and not _plugin_library_exists():
    os.environ["JAX_PLATFORMS"] = "cpu"
