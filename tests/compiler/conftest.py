"""The compiler tests compile with the chip compiler, run executables in the reference
interpreter (reference_interpreter.py) and compare with jax on the cpu backend (helpers.py pins
the cpu device). They need the plugin library, not a chip client: the compiler reads the chip
model's fields and the Elementwise instruction table from it and evaluates constants (and the
interpreter Elementwise kernels) with its kernels (jax_chip.native). Without a built plugin
library, jax is restricted to cpu so that a JAX_PLATFORMS naming the chip (tests/conftest.py)
does not fail backend initialization; the compiler then reports the missing library."""

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
