"""The package under test is the one in this test's tree: the working tree when pytest runs
from it, the runfiles copy of //python:jax_chip and //xla_passes under `bazel test` (not the
venv's editable install, which Bazel does not track)."""

from __future__ import annotations

import os
import pathlib

import jax_chip
import xla_passes
from jax_chip.compiler.kernels import schema

# the tree this file is in (not resolved: under Bazel the runfiles are symlinks)
TREE = pathlib.Path(os.path.abspath(__file__)).parents[2]


def _within(path: str, root: pathlib.Path) -> bool:
    return pathlib.Path(os.path.abspath(path)).is_relative_to(root)


def test_imports_resolve_to_this_tree():
    print("jax_chip:", jax_chip.__file__, "xla_passes:", xla_passes.__file__)
    assert _within(jax_chip.__file__, TREE / "python"), jax_chip.__file__
    assert _within(xla_passes.__file__, TREE / "xla_passes"), xla_passes.__file__
    # the generated schema code (Bazel: //python:schema_py; setup.sh copies it for the editable
    # install) sits next to the package
    assert _within(schema.Executable.__file__, TREE / "python" / "jax_chip" / "_schema")


def test_under_bazel_the_runfiles_copy_is_used():
    runfiles = os.environ.get("TEST_SRCDIR")
    if runfiles is None:      # not under bazel test: the check above is the whole story
        return
    assert _within(jax_chip.__file__, pathlib.Path(runfiles)), jax_chip.__file__
    assert _within(xla_passes.__file__, pathlib.Path(runfiles)), xla_passes.__file__
