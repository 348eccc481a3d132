"""The kernel table (jax_chip.compiler.kernels.registry) covers the executable format: one kind
per member of the schema's KernelOp union, each with what the emitter, the reader and the cost
pass need, and the kernel-kind names appear in no other compiler module."""

from __future__ import annotations

import pathlib

from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.kernels import registry
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.table_op import TableOp

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _schema_kernel_ops() -> set[str]:
    return {n for n, v in vars(fb.KernelOp.KernelOp).items()
            if not n.startswith("_") and n != "NONE"}


def test_one_kind_per_schema_member():
    names = [k.name for k in registry.KINDS]
    assert len(names) == len(set(names))
    assert set(names) == _schema_kernel_ops()


def test_each_graph_op_has_one_kind():
    ops = [op for k in registry.KINDS for op in k.ops]
    assert len(ops) == len(set(ops))
    internal = {"chip.fusion", "chip.copy"}        # made by passes, not imported
    for op in ops:
        assert op in internal or op in op_registry.REGISTRY, op
    assert not registry.STORAGE_ONLY_OPS & set(ops)


def test_kinds_are_complete():
    for k in registry.KINDS:
        if k.desc is not TableOp:          # flat-table kinds share TableOp (OP_TYPE per op)
            assert k.desc.OP_TYPE == k.name
        assert callable(k.lower) and callable(k.write) and callable(k.read) and callable(k.text)


def test_kernel_kind_named_only_in_its_module():
    """"DotGeneral" (a kernel kind) is named by its own module only, in the compiler's code."""
    hits = []
    for base in (ROOT / "python" / "jax_chip" / "compiler", ROOT / "xla_passes"):
        for path in base.rglob("*.py"):
            if "DotGeneral" in path.read_text():
                hits.append(path.relative_to(ROOT).as_posix())
    assert hits == ["python/jax_chip/compiler/kernels/dot_general.py"], hits
