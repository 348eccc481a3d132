"""The op registry is consistent and docs/ops.md is generated from it."""

import pathlib
import subprocess
import sys

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir import ew_semantics
from jax_chip.compiler.ir import ops as op_registry
from jax_chip.compiler.lowering import elementwise_ops

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_op_has_kind_types_and_lowering():
    for name, spec in op_registry.REGISTRY.items():
        assert spec.name == name
        assert spec.kind in op_registry.KIND_TITLES
        assert spec.dtypes and spec.dtypes <= dtypes.ALL_TYPES | dtypes.ALL_COMPLEX
        if spec.kind == "elementwise":     # one instruction, or lowered by elementwise_ops
            assert name in elementwise_ops.LOWERINGS or spec.ewop in ew_semantics.EWOPS, name


def test_required_ops_are_registered():
    required = """constant iota add subtract multiply divide maximum minimum negate abs exponential
    log tanh logistic sqrt rsqrt power compare select convert broadcast_in_dim reshape transpose
    dot_general dot reduce concatenate slice remainder sign floor ceil round_nearest_even
    round_nearest_afz is_finite exponential_minus_one log_plus_one sine cosine atan2 clamp and
    or xor not shift_left shift_right_arithmetic shift_right_logical popcnt bitcast_convert
    reduce_precision tan cbrt""".split()
    for op in required:
        assert f"stablehlo.{op}" in op_registry.REGISTRY, op
    assert "chlo.erf" in op_registry.REGISTRY
    indexing = """gather scatter dynamic_slice dynamic_update_slice pad reverse sort
    reduce_window""".split()
    for op in indexing:
        assert f"stablehlo.{op}" in op_registry.REGISTRY, op
    assert "chlo.top_k" in op_registry.REGISTRY and "chip.top_k" in op_registry.REGISTRY
    assert "func.return" in op_registry.REGISTRY and "func.call" in op_registry.REGISTRY


def test_ewop_table_matches_the_schema():
    from jax_chip.compiler.kernels import schema as fb
    for name, value in ew_semantics.EWOPS.items():
        assert getattr(fb.EwOp.EwOp, name) == value


def test_ops_doc_is_up_to_date():
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_ops_doc.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = (ROOT / "docs" / "ops.md").read_text()
    assert "`stablehlo.dot_general`" in text and "`chlo.erf`" in text


def test_every_kind_appears_in_the_ops_doc():
    """docs/ops.md has a section for every kind that has ops (none silently left out)."""
    text = (ROOT / "docs" / "ops.md").read_text()
    kinds = {spec.kind for spec in op_registry.REGISTRY.values()}
    for kind in kinds:
        assert f"## {op_registry.KIND_TITLES[kind]}" in text, kind
