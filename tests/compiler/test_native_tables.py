"""The facts the Python side reads from the plugin instead of copying them (jax_chip.native):
the chip model's field table, the Elementwise instruction table, and running an executable with
the chip's kernels (chip_run_executable), whose errors come back as text."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from jax_chip import config, native
from jax_chip.compiler import chip_eval
from jax_chip.compiler.ir import ew_semantics
from jax_chip.compiler.ir.context import DEFAULT_CHIP_CONFIG
from jax_chip.compiler.kernels.elementwise import ElementwiseOp
from jax_chip.compiler.lowering.ew_codegen import InstrSpec, ViewSpec

from .helpers import compile_fn, randn
from .reference_interpreter import eval_elementwise

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_chip_model_doc_table_is_current():
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_chip_model_doc.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_config_fields_come_from_the_plugin_table():
    fields = native.chip_config_fields()
    assert [f.name for f in fields] == list(config.fields()) == list(DEFAULT_CHIP_CONFIG)
    for f in fields:
        assert f.kind == ("int" if f.type in ("int", "int64_t") else "float"), f
        assert isinstance(f.default, int) == (f.kind == "int"), f
        assert (f.default >= f.min if f.min_inclusive else f.default > f.min) and f.default <= f.max, f
        assert DEFAULT_CHIP_CONFIG[f.name] == f.default
    # the environment parser takes each field's kind from the table
    env = {f"CHIP_{f.name.upper()}": "2" for f in fields}
    values = config.ChipConfig.from_environment(env).plugin_options()
    assert {k: type(v) for k, v in values.items()} == {
        f.name: int if f.kind == "int" else str for f in fields}   # floats exactly, as text
    assert all(float(v) == 2.0 for v in values.values())


def test_unknown_field_names_the_known_ones(tmp_path):
    path = tmp_path / "chip.toml"
    path.write_text("hbm_bandwith = 1\n")
    with pytest.raises(config.ChipConfigError) as e:
        config.ChipConfig.from_environment({"CHIP_CONFIG": str(path)})
    assert "hbm_bandwith" in str(e.value)
    assert ", ".join(f.name for f in native.chip_config_fields()) in str(e.value)


def test_elementwise_table_is_the_compilers():
    ops = native.elementwise_ops()
    assert [op.value for op in ops] == list(range(len(ops)))
    assert ew_semantics.EWOPS == {op.name: op.value for op in ops}
    assert ew_semantics.EWOP_NAMES[ew_semantics.EWOPS["MUL_HI"]] == "MUL_HI"
    assert ew_semantics.FREE == {"LOAD", "CONST", "IOTA"}
    assert {"EXP", "LOG", "TANH", "ERF", "POW", "SQRT"} <= ew_semantics.TRANSCENDENTAL
    assert not {"ADD", "MUL", "MAX", "SELECT", "CONVERT"} & ew_semantics.TRANSCENDENTAL
    assert [ew_semantics.num_operands(n) for n in ("IOTA", "NEG", "ATAN2", "SELECT", "CLAMP")] == \
        [0, 1, 2, 3, 3]


def test_run_executable_runs_the_kernels():
    data = compile_fn(lambda x, y: x * y + 1.0, randn((4, 8)), randn((4, 8)))
    x, y = randn((4, 8)), randn((4, 8))
    (got,) = chip_eval.run_executable(data, [x, y])
    np.testing.assert_array_equal(got, x * y + np.float32(1.0))


def test_run_executable_errors_are_text():
    data = compile_fn(lambda x: x + 1.0, randn((4,)))
    out = np.empty(4, np.float32)
    with pytest.raises(native.NativeError, match="1 parameter.*got 0"):
        native.run_executable(data, [], [out])
    with pytest.raises(native.NativeError, match="chip_run_executable"):
        native.run_executable(b"CHPX but not really", [], [])
    with pytest.raises(native.NativeError, match="chip_run_executable"):
        native.run_executable(data[: len(data) // 2], [np.zeros(4, np.float32)], [out])


def test_a_failing_kernel_is_an_error_not_a_crash():
    # a register program reading a view outside its input: rejected at load
    op = ElementwiseOp((8,), [ViewSpec(0, 4, (1,))],
                       [InstrSpec("LOAD", "f32", 0), InstrSpec("EXP", "f32", 0)], [(1, 0)])
    with pytest.raises(Exception, match="reads outside input"):
        eval_elementwise(op, [np.zeros(8, np.float32)], ["f32"])
