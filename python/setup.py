"""Adds jax_chip_autoload.pth to the installed files (site-packages root), next to the package,
and marks the distribution as binary: the wheel holds the plugin library, built for this platform
and CPython (tools/build_wheel.py).

Everything else is declared in pyproject.toml. The .pth makes every Python process of the
environment import jax_chip._autoload, which activates the sglang-jax integration when sgl_jax is
imported (see python/jax_chip/_autoload.py).
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

PTH = "jax_chip_autoload.pth"
HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithPth(build_py):
    def run(self) -> None:
        super().run()
        self.copy_file(os.path.join(HERE, PTH), os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:  # jax_chip/lib/pjrt_plugin_chip.so: a platform wheel
        return True


setup(cmdclass={"build_py": BuildPyWithPth}, distclass=BinaryDistribution)
