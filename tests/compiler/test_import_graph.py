"""The compiler's packages point one way: no module imports a module of a later stage, and no
module imports inside a function (a function-level import hides a cycle). Read with `ast`, so
nothing is imported to check it."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPILER = ROOT / "python" / "jax_chip" / "compiler"
PASSES = ROOT / "xla_passes"

# the stages, first to last; a module may import modules of its own stage and earlier ones
STAGES = [
    ("ir", ("jax_chip.compiler.ir",)),
    ("frontend", ("jax_chip.compiler.frontend",)),
    ("lowering", ("jax_chip.compiler.lowering",)),
    ("kernels", ("jax_chip.compiler.kernels",)),
    ("analysis", ("jax_chip.compiler.analysis",)),
    ("passes", ("xla_passes",)),
    ("backend", ("jax_chip.compiler.backend",)),
    ("driver", ("jax_chip.compiler.pipeline", "jax_chip.compiler.driver", "jax_chip.compiler")),
]


def _stage(module: str) -> int | None:
    """Index of the stage `module` belongs to (the longest matching prefix), or None when it is
    not part of the compiler (numpy, jaxlib, jax_chip.ffi, ...)."""
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(STAGES):
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (i, len(p))
    return None if best is None else best[0]


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for base, package in ((COMPILER, "jax_chip.compiler"), (PASSES, "xla_passes")):
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package] + parts)] = path
    return out


def _imports(tree: ast.Module, known: set[str]) -> list[tuple[ast.stmt, str, bool]]:
    """(statement, imported module, inside a function or class) for every import."""
    found: list[tuple[ast.stmt, str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.Lambda, ast.ClassDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((child, alias.name, nested))
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, "relative imports are not used"
                base = child.module or ""
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    found.append((child, full if full in known else base, nested))
            visit(child, inner)

    visit(tree, False)
    return found


def _all_imports():
    modules = _modules()
    known = set(modules)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for stmt, imported, nested in _imports(tree, known):
            yield name, path, stmt, imported, nested


def test_every_compiler_module_has_a_stage():
    for name in _modules():
        assert _stage(name) is not None, name


def test_no_module_imports_a_later_stage():
    bad = []
    for name, path, stmt, imported, _ in _all_imports():
        mine, theirs = _stage(name), _stage(imported)
        if theirs is not None and theirs > mine:
            bad.append(f"{path.relative_to(ROOT)}:{stmt.lineno}: {name} ({STAGES[mine][0]}) "
                       f"imports {imported} ({STAGES[theirs][0]})")
    assert not bad, "imports of a later stage:\n" + "\n".join(bad)


def test_no_function_level_imports():
    bad = [f"{path.relative_to(ROOT)}:{stmt.lineno}: import of {imported} inside a function"
           for _, path, stmt, imported, nested in _all_imports() if nested]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_violations():
    """The rules would fail on the shapes they forbid (so the tests above are not vacuous)."""
    tree = ast.parse("from xla_passes import simplify\n"
                     "def f():\n    import jax_chip.compiler.backend.emit\n")
    found = _imports(tree, {"xla_passes.simplify"})
    assert [(m, nested) for _, m, nested in found] == [
        ("xla_passes.simplify", False), ("jax_chip.compiler.backend.emit", True)]
    assert _stage("xla_passes.simplify") > _stage("jax_chip.compiler.kernels.registry")
    assert _stage("jax_chip.compiler.ir.graph") == 0
    assert _stage("numpy") is None
