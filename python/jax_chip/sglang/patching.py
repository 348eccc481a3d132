"""The patch mechanism of jax_chip.sglang: one declared `Patch` per replaced sgl_jax attribute.

A patch names its target (module and qualified name), its purpose (`Category`), a one-line why,
and pins the upstream source it replaces: the sha256 of the original's normalized source
(`source_hash`). `apply` checks the pin before it replaces anything and raises `PatchError`
(naming the patch, the target, both hashes and the installed sglang-jax version) when the source
differs; a mismatch is never a warning. `make(original)` builds the replacement; a patch that
does not call the original at all says why in `replaces`.

A module that an sgl_jax module imports under a name that does not exist (so that the importing
module, and every patch of it, fails at import) is provided by a declared `ModuleAlias`: it names
the importing module (pinned like a patch target, by the sha256 of its whole source file), the
missing name and the existing module that stands for it. `provide` puts that one entry into
`sys.modules` before anything imports the importing module.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
import textwrap
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, Sequence, Tuple

DISTRIBUTION = "sglang-jax"
MARK = "_jax_chip_patch"   # set on every replacement: the name of the patch that made it


class Category(enum.Enum):
    FIX = "upstream bug fixes"
    PLATFORM = "platform enabling"
    PERFORMANCE = "performance"


class PatchError(RuntimeError):
    """An sgl_jax target is not what a patch was written against (or sglang-jax is missing)."""


@dataclasses.dataclass(frozen=True)
class Patch:
    name: str
    category: Category
    module: str                  # e.g. "sgl_jax.srt.models.qwen3"
    qualname: str                # e.g. "Qwen3ForCausalLM.__call__"
    sha256: str                  # source_hash() of the original
    why: str                     # one line; docs/sglang.md has the table of all patches
    make: Callable[[Callable[..., Any]], Callable[..., Any]]   # original -> replacement
    replaces: str = ""           # non-empty: the replacement never calls the original; why
    aliases: Tuple[str, ...] = ()   # modules that imported the target by name: rebound too

    @property
    def target(self) -> str:
        return f"{self.module}.{self.qualname}"


def source_hash(fn: Callable[..., Any]) -> str:
    """sha256 of fn's source, dedented, without trailing whitespace or surrounding blank lines."""
    text = textwrap.dedent(inspect.getsource(fn))
    lines = [line.rstrip() for line in text.splitlines()]
    return hashlib.sha256("\n".join(lines).strip("\n").encode()).hexdigest()


def installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "not installed"


def check_version(supported: str) -> None:
    found = installed_version()
    if found != supported:
        raise PatchError(
            f"jax_chip.sglang: written for {DISTRIBUTION} {supported}, found {found} "
            f"(pip install --no-deps {DISTRIBUTION}=={supported}; JAX_CHIP_SGLANG_AUTOLOAD=0 "
            "runs sglang-jax without the chip integration)")


def _owner_and_raw(patch: Patch) -> Tuple[Any, str, Any]:
    """The object that holds the target attribute, its name, and its raw value (from the class
    __dict__ along the MRO, so that staticmethod/classmethod wrappers are seen)."""
    owner: Any = importlib.import_module(patch.module)
    *path, name = patch.qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if name in klass.__dict__:
                return owner, name, klass.__dict__[name]
        raise AttributeError(f"{patch.target} does not exist")
    return owner, name, getattr(owner, name)


def _function(raw: Any) -> Callable[..., Any]:
    return raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw


def _rewrap(raw: Any, fn: Callable[..., Any]) -> Any:
    if isinstance(raw, staticmethod):
        return staticmethod(fn)
    if isinstance(raw, classmethod):
        return classmethod(fn)
    return fn


def current(patch: Patch) -> Callable[..., Any]:
    """What the target holds now (the replacement, once applied)."""
    return _function(_owner_and_raw(patch)[2])


def is_applied(patch: Patch) -> bool:
    return getattr(current(patch), MARK, None) == patch.name


def original(patch: Patch) -> Callable[..., Any]:
    """The upstream function the patch replaces (whether or not it is applied)."""
    fn = current(patch)
    return fn.__wrapped__ if getattr(fn, MARK, None) == patch.name else fn


def verify(patch: Patch) -> None:
    """Raise PatchError unless the target's upstream source is the one the patch pins."""
    found = source_hash(original(patch))
    if found != patch.sha256:
        raise PatchError(
            f"jax_chip.sglang: patch {patch.name!r} pins the source of {patch.target}: expected "
            f"sha256 {patch.sha256}, found {found} ({DISTRIBUTION} {installed_version()}). "
            "The upstream code changed: review the patch against it, then update its sha256.")


def apply(patch: Patch) -> None:
    """Replace the target by patch.make(original), once (idempotent); verify() first."""
    owner, name, raw = _owner_and_raw(patch)
    fn = _function(raw)
    if getattr(fn, MARK, None) == patch.name:
        return
    verify(patch)
    aliases = [importlib.import_module(m) for m in patch.aliases]
    for module in aliases:
        if getattr(module, name, None) is not fn:
            raise PatchError(f"jax_chip.sglang: patch {patch.name!r}: {module.__name__}.{name} "
                             f"is not {patch.target} ({DISTRIBUTION} {installed_version()})")
    new = patch.make(fn)
    if isinstance(fn, type):   # a class: its replacement is a subclass (update_wrapper is for functions)
        new.__wrapped__ = fn
    else:
        new = functools.update_wrapper(new, fn)
    setattr(new, MARK, patch.name)
    setattr(owner, name, _rewrap(raw, new))
    for module in aliases:
        setattr(module, name, new)


@dataclasses.dataclass(frozen=True)
class ModuleAlias:
    name: str
    category: Category
    importer: str                # the sgl_jax module whose import statement names `missing`
    missing: str                 # the module name it imports, which does not exist
    provides: str                # the existing module that sys.modules[missing] is made to be
    sha256: str                  # file_hash() of the importer's source file
    why: str


def file_hash(module: str) -> str:
    """sha256 of a module's source file, found without importing the module itself."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise PatchError(f"jax_chip.sglang: module {module} not found "
                         f"({DISTRIBUTION} {installed_version()})")
    with open(spec.origin, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def verify_alias(alias: ModuleAlias) -> None:
    found = file_hash(alias.importer)
    if found != alias.sha256:
        raise PatchError(
            f"jax_chip.sglang: module alias {alias.name!r} pins the source of {alias.importer}: "
            f"expected sha256 {alias.sha256}, found {found} ({DISTRIBUTION} "
            f"{installed_version()}). The upstream code changed: review the alias against it, "
            "then update its sha256.")


def is_provided(alias: ModuleAlias) -> bool:
    return alias.missing in sys.modules and sys.modules[alias.missing] is sys.modules.get(
        alias.provides)


def provide(alias: ModuleAlias) -> None:
    """sys.modules[alias.missing] = the module alias.provides (idempotent); verify first. Only
    that dotted name is entered: `import a.b.c` finds a module in sys.modules under its full name
    without importing its parents, so no top-level `python` module appears."""
    if is_provided(alias):
        return
    verify_alias(alias)
    if alias.missing in sys.modules:
        raise PatchError(f"jax_chip.sglang: module alias {alias.name!r}: {alias.missing} is "
                         "already another module")
    sys.modules[alias.missing] = importlib.import_module(alias.provides)


def apply_all(patches: Iterable[Patch]) -> None:
    """Verify every patch, then apply them: nothing is replaced if any pin fails."""
    patches = list(patches)
    for patch in patches:
        if not is_applied(patch):
            verify(patch)
    for patch in patches:
        apply(patch)


def registry(*groups: Sequence[Patch]) -> Dict[str, Patch]:
    """name -> patch, in declaration order; a name may be declared once."""
    table: Dict[str, Patch] = {}
    for patch in (p for group in groups for p in group):
        if patch.name in table:
            raise ValueError(f"jax_chip.sglang: two patches named {patch.name!r}")
        table[patch.name] = patch
    return table
