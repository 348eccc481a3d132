"""The sglang-jax patches: every pin matches the installed sgl_jax, the mechanism refuses a
changed target (a fake upstream module here), docs/sglang.md's table is current, and the sglang
tests fail, not skip, without sgl_jax."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

import jax_chip.sglang as integration  # noqa: E402
from jax_chip.sglang import patching  # noqa: E402
from jax_chip.sglang.patching import Category, Patch, PatchError  # noqa: E402


def _env(**extra: str) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", **extra)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "python")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def test_every_pin_matches_the_installed_sgl_jax() -> None:
    """In a process where nothing is patched (autoload off), each target's source hashes to the
    patch's pin and the aliases hold the target itself."""
    code = textwrap.dedent("""
        import importlib, json
        from jax_chip.sglang.patches import ALIASES, PATCHES
        from jax_chip.sglang import patching
        out = {}
        for a in ALIASES.values():   # replaces nothing; the importer's targets need it
            out[a.name] = {"sha256": patching.file_hash(a.importer), "marked": False,
                           "aliases": []}
            patching.provide(a)
        for p in PATCHES.values():
            fn = patching.current(p)
            name = p.qualname.rsplit(".", 1)[-1]
            out[p.name] = {"sha256": patching.source_hash(fn),
                           "marked": hasattr(fn, patching.MARK),
                           "aliases": [getattr(importlib.import_module(m), name) is fn
                                       for m in p.aliases]}
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(JAX_CHIP_SGLANG_AUTOLOAD="0"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(found) == set(integration.PATCHES) | set(integration.ALIASES)
    for name, patch in {**integration.PATCHES, **integration.ALIASES}.items():
        assert not found[name]["marked"], name
        assert found[name]["sha256"] == patch.sha256, (
            f"{name}: {getattr(patch, 'target', getattr(patch, 'importer', ''))} changed "
            f"upstream (sglang-jax {patching.installed_version()}): pinned {patch.sha256}, "
            f"found {found[name]['sha256']}")
        assert all(found[name]["aliases"]), name


def test_installed_version_is_the_supported_one() -> None:
    assert patching.installed_version() == integration.SUPPORTED_VERSION
    patching.check_version(integration.SUPPORTED_VERSION)


def test_every_patch_is_applied_marked_and_keeps_its_original() -> None:
    integration.apply()
    for name, patch in integration.PATCHES.items():
        assert patching.is_applied(patch), name
        fn = patching.current(patch)
        assert getattr(fn, patching.MARK) == name
        assert patching.source_hash(fn.__wrapped__) == patch.sha256
        patching.verify(patch)   # checks the original, also once applied
        for module in patch.aliases:
            assert getattr(importlib.import_module(module), fn.__name__) is fn


def _refers_to(fn: Any, target: Callable, seen: set) -> bool:
    """Whether fn's closures (through nested functions and jit wrappers) hold target; a class
    builds on its target when it subclasses it."""
    if fn is target:
        return True
    if isinstance(fn, type) and isinstance(target, type) and issubclass(fn, target):
        return True
    if id(fn) in seen:
        return False
    seen.add(id(fn))
    inner = getattr(fn, "__wrapped__", None)
    if inner is not None and _refers_to(inner, target, seen):
        return True
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:   # an empty cell
            continue
        if callable(value) and _refers_to(value, target, seen):
            return True
    return False


@pytest.mark.parametrize("name", list(integration.PATCHES))
def test_a_patch_replaces_its_target_only_where_it_says_why(name: str) -> None:
    """A patch either wraps its target (the replacement calls the original) or declares in
    `replaces` why it cannot; every patch has a category, a target and a one-line why."""
    patch = integration.PATCHES[name]
    assert isinstance(patch.category, Category)
    assert patch.why and "\n" not in patch.why
    # sgl_jax, or jax where sglang-jax's use of it is what is patched (jax is pinned by sgl_jax)
    assert patch.module.startswith(("sgl_jax.", "jax._src.")), patch.module
    original = patching.original(patch)
    replacement = patch.make(original)
    calls_original = _refers_to(replacement, original, set())
    assert calls_original == (not patch.replaces), (name, patch.replaces)


# --- the mechanism, on a fake upstream module -------------------------------------------------

FAKE_SOURCE = '''
def helper(x):
    return x + 1


def fetch(x):
    return helper(x) * 2


class Base:
    def size(self):
        return 3


class Child(Base):
    @staticmethod
    def parse(text):
        return text.split(",")
'''


@pytest.fixture
def fake(tmp_path: pathlib.Path) -> Iterator[ModuleType]:
    path = tmp_path / "jax_chip_fake_upstream.py"
    path.write_text(FAKE_SOURCE)
    spec = importlib.util.spec_from_file_location("jax_chip_fake_upstream", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    user = ModuleType("jax_chip_fake_user")   # did `from jax_chip_fake_upstream import fetch`
    user.fetch = module.fetch
    sys.modules[user.__name__] = user
    yield module
    del sys.modules[spec.name], sys.modules[user.__name__]


def _patch(name: str, qualname: str, sha256: str, make: Callable, **kw: Any) -> Patch:
    return Patch(name=name, category=Category.FIX, module="jax_chip_fake_upstream",
                 qualname=qualname, sha256=sha256, why="test", make=make, **kw)


def _double(original: Callable) -> Callable:
    def fetch(x: int) -> int:
        return original(x) * 10

    return fetch


def test_a_changed_target_is_an_error_naming_everything(fake: ModuleType) -> None:
    found = patching.source_hash(fake.fetch)
    wrong = "0" * 64
    patch = _patch("fake_fetch", "fetch", wrong, _double)
    with pytest.raises(PatchError) as err:
        patching.apply(patch)
    message = str(err.value)
    for part in ("'fake_fetch'", "jax_chip_fake_upstream.fetch", wrong, found,
                 f"sglang-jax {patching.installed_version()}"):
        assert part in message, (part, message)
    assert fake.fetch(1) == 4 and not hasattr(fake.fetch, patching.MARK)


def test_a_pinned_patch_wraps_once_and_keeps_the_original(fake: ModuleType) -> None:
    original = fake.fetch
    patch = _patch("fake_fetch", "fetch", patching.source_hash(original), _double,
                   aliases=("jax_chip_fake_user",))
    patching.apply(patch)
    patching.apply(patch)   # idempotent
    assert fake.fetch(1) == 40
    assert fake.fetch.__wrapped__ is original and patching.original(patch) is original
    assert sys.modules["jax_chip_fake_user"].fetch is fake.fetch
    assert patching.is_applied(patch)
    patching.verify(patch)


def test_methods_static_and_inherited_are_patched_where_named(fake: ModuleType) -> None:
    size = _patch("fake_size", "Child.size", patching.source_hash(fake.Base.size),
                  lambda orig: lambda self: orig(self) + 1)
    parse = _patch("fake_parse", "Child.parse", patching.source_hash(fake.Child.parse),
                   lambda orig: lambda text: orig(text.strip()))
    patching.apply_all([size, parse])
    assert fake.Child().size() == 4 and fake.Base().size() == 3   # the subclass only
    assert isinstance(fake.Child.__dict__["parse"], staticmethod)
    assert fake.Child.parse(" a,b ") == ["a", "b"]


def test_one_bad_pin_applies_nothing(fake: ModuleType) -> None:
    good = _patch("fake_fetch", "fetch", patching.source_hash(fake.fetch), _double)
    bad = _patch("fake_helper", "helper", "f" * 64, lambda orig: orig)
    with pytest.raises(PatchError, match="'fake_helper'"):
        patching.apply_all([good, bad])
    assert not patching.is_applied(good) and fake.fetch(1) == 4


def test_an_alias_that_is_not_the_target_is_an_error(fake: ModuleType) -> None:
    sys.modules["jax_chip_fake_user"].fetch = lambda x: x
    patch = _patch("fake_fetch", "fetch", patching.source_hash(fake.fetch), _double,
                   aliases=("jax_chip_fake_user",))
    with pytest.raises(PatchError, match=r"'fake_fetch': jax_chip_fake_user\.fetch is not "):
        patching.apply(patch)


IMPORTER_SOURCE = '''
from jax_chip_fake_tree.jax_chip_fake_upstream import helper


def twice(x):
    return helper(helper(x))
'''


def _alias(tmp_path: pathlib.Path, sha256: str | None = None) -> patching.ModuleAlias:
    path = tmp_path / "jax_chip_fake_importer.py"
    path.write_text(IMPORTER_SOURCE)
    sys.path.insert(0, str(tmp_path))
    return patching.ModuleAlias(
        name="fake_import", category=Category.FIX, importer="jax_chip_fake_importer",
        missing="jax_chip_fake_tree.jax_chip_fake_upstream", provides="jax_chip_fake_upstream",
        sha256=sha256 or patching.file_hash("jax_chip_fake_importer"), why="test")


@pytest.fixture
def clean_alias(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("jax_chip_fake_importer", "jax_chip_fake_tree.jax_chip_fake_upstream"):
        sys.modules.pop(name, None)


def test_a_module_alias_makes_the_importer_import(fake: ModuleType, clean_alias) -> None:
    alias = _alias(clean_alias)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("jax_chip_fake_importer")
    patching.provide(alias)
    patching.provide(alias)   # idempotent
    assert patching.is_provided(alias)
    assert importlib.import_module("jax_chip_fake_importer").twice(1) == 3
    assert "jax_chip_fake_tree" not in sys.modules     # only the one dotted name


def test_a_changed_importer_is_an_error_naming_everything(fake: ModuleType, clean_alias) -> None:
    alias = _alias(clean_alias, sha256="0" * 64)
    found = patching.file_hash("jax_chip_fake_importer")
    with pytest.raises(PatchError) as err:
        patching.provide(alias)
    for part in ("'fake_import'", "jax_chip_fake_importer", "0" * 64, found):
        assert part in str(err.value), (part, str(err.value))
    assert not patching.is_provided(alias)


def test_source_hash_ignores_indentation_only() -> None:
    a = patching.source_hash(_helper_one)
    assert a == patching.source_hash(_helper_one_indented())
    assert a != patching.source_hash(_helper_two)


def _helper_one(x):
    return x + 1


def _helper_one_indented() -> Callable:
    def _helper_one(x):
        return x + 1

    return _helper_one


def _helper_two(x):
    return x + 2


def test_a_different_sglang_jax_version_is_an_error() -> None:
    with pytest.raises(PatchError, match=rf"written for sglang-jax 0\.0\.0, found "
                                         rf"{patching.installed_version()}"):
        patching.check_version("0.0.0")


def test_patch_names_are_unique() -> None:
    p = _patch("twice", "fetch", "", _double)
    with pytest.raises(ValueError, match="two patches named 'twice'"):
        patching.registry([p], [p])


# --- the docs and the suite -------------------------------------------------------------------

def test_docs_patch_table_is_current() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_sglang_doc.py"), "--check"],
                         capture_output=True, text=True, env=_env(JAX_CHIP_SGLANG_AUTOLOAD="0"))
    assert res.returncode == 0, res.stderr
    text = (ROOT / "docs" / "sglang.md").read_text()
    for name in list(integration.PATCHES) + list(integration.ALIASES):
        assert f"| `{name}` |" in text, name


def test_sglang_tests_fail_without_sgl_jax(tmp_path: pathlib.Path) -> None:
    """With an interpreter that lacks sglang-jax, a test of this directory fails (it is not
    skipped) and says why."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE",
         f"{__file__}::test_patch_names_are_unique"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env=_env(JAX_CHIP_SGLANG_PYTHON=str(tmp_path / "no-such-python")))
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "skipped" not in proc.stdout
    assert "no-such-python cannot import sgl_jax" in proc.stdout, proc.stdout[-3000:]

