"""driver.compile_program: options, errors, dumps, speed."""

import os
import time

import jax.numpy as jnp
import pytest

from .helpers import lower_portable, lower_text, randn, transformer_args, transformer_block
from jax_chip.compiler.driver import compile_program
from jax_chip.compiler.ir.errors import CompileError, InternalCompilerError, UnsupportedError
from jax_chip.compiler.backend.inspect_executable import read_executable


def _options(replicas=1, partitions=1) -> dict:
    """The compile options as the plugin hands them over, parsed (api/compiler_bridge.cc)."""
    return {"num_replicas": replicas, "num_partitions": partitions, "device_ordinal": -1,
            "device_ids": []}


def test_compile_options_single_device():
    data = compile_program(lower_portable(lambda x: x * 2, randn((3,))), "mlir", _options(), {})
    assert read_executable(data).num_replicas == 1


@pytest.mark.parametrize("replicas,partitions", [(2, 1), (1, 4)])
def test_multi_device_is_unimplemented(replicas, partitions):
    with pytest.raises(UnsupportedError) as e:
        compile_program(lower_portable(lambda x: x * 2, randn((3,))), "mlir",
                        _options(replicas, partitions), {})
    assert f"num_replicas={replicas}, num_partitions={partitions}" in str(e.value)


def test_module_partition_attribute_is_checked():
    text = lower_text(lambda x: x * 2, randn((3,))).replace("mhlo.num_partitions = 1",
                                                            "mhlo.num_partitions = 2")
    with pytest.raises(UnsupportedError):
        compile_program(text, "mlir", b"", {})


@pytest.mark.parametrize("key", ["mhlo.num_partitions", "mhlo.num_replicas"])
@pytest.mark.parametrize("value", ['"two"', "0 : i32", "-3 : i32"])
def test_malformed_module_count_attribute_is_an_error(key, value):
    text = lower_text(lambda x: x * 2, randn((3,)))
    assert f"{key} = 1 : i32" in text
    text = text.replace(f"{key} = 1 : i32", f"{key} = {value}")
    with pytest.raises(CompileError) as e:
        compile_program(text, "mlir", None, {})
    assert not isinstance(e.value, (UnsupportedError, InternalCompilerError))
    assert key in str(e.value) and value.split(" :")[0] in str(e.value), str(e.value)


def test_raw_compile_options_bytes_are_rejected():
    with pytest.raises(CompileError, match="parsed"):
        compile_program(lower_text(lambda x: x * 2, randn((3,))), "mlir", b"\x1a\x02\x20\x02", {})


def test_chip_config_dict_is_used():
    f = lambda a, b: a @ b
    args = (randn((8, 100)), randn((100, 100)))
    d128 = read_executable(compile_program(lower_portable(f, *args), "mlir", b"", {}))
    d64 = read_executable(compile_program(lower_portable(f, *args), "mlir", b"",
                                          {"matrix_tile": 64, "num_devices": 1}))
    assert d128.kernels[0].cost.matrix_flops == 2 * 8 * 128 * 128
    assert d64.kernels[0].cost.matrix_flops == 2 * 8 * 128 * 128
    d32 = read_executable(compile_program(lower_portable(f, *args), "mlir", b"",
                                          {"matrix_tile": 32}))
    assert d32.kernels[0].cost.matrix_flops == 2 * 8 * 128 * 128
    d48 = read_executable(compile_program(lower_portable(f, *args), "mlir", b"",
                                          {"matrix_tile": 48}))
    assert d48.kernels[0].cost.matrix_flops == 2 * 8 * 144 * 144
    assert d128.fingerprint != d48.fingerprint


def test_internal_errors_are_wrapped(monkeypatch):
    from jax_chip.compiler import pipeline
    from jax_chip.compiler.ir.pass_api import Pass, Scope

    def boom(graph, ctx):
        raise KeyError("boom")
    monkeypatch.setattr(pipeline, "PIPELINE", [Pass("boom", Scope.PROGRAM, boom)])
    with pytest.raises(InternalCompilerError) as e:
        compile_program(lower_text(lambda x: x, randn((2,))), "mlir", b"", {})
    assert e.value.pjrt_code == "INTERNAL" and "boom" in str(e.value)
    assert isinstance(e.value, CompileError)


def test_dump_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CHIP_DUMP_DIR", str(tmp_path))
    compile_program(lower_portable(lambda x, y: jnp.exp(x @ y), randn((2, 3)), randn((3, 4))),
                    "mlir", b"", {})
    names = sorted(os.listdir(tmp_path))
    assert any(n.endswith(".stablehlo.mlir") for n in names)
    assert any(n.endswith(".elementwise_fusion.graph.txt") for n in names)
    assert any(n.endswith(".chipx") for n in names)
    txt = [n for n in names if n.endswith(".chipx.txt")][0]
    assert "DotGeneral" in (tmp_path / txt).read_text()
    mlir = [n for n in names if n.endswith(".stablehlo.mlir")][0]
    assert "stablehlo.dot_general" in (tmp_path / mlir).read_text()
    assert any(n.endswith(".input.mlirbc") for n in names)


def test_dump_dir_keeps_unparsable_input(tmp_path, monkeypatch):
    monkeypatch.setenv("CHIP_DUMP_DIR", str(tmp_path))
    with pytest.raises(CompileError):
        compile_program("func.func @main( garbage", "mlir", b"", {})
    (name,) = os.listdir(tmp_path)
    assert name.startswith("unparsed.") and name.endswith(".input.mlir")


def test_transformer_block_compiles_fast():
    code = lower_portable(transformer_block, *transformer_args(s_len=16, d=64, f=128))
    compile_program(code, "mlir", b"", {})   # warm up
    t0 = time.perf_counter()
    timings = {}
    compile_program(code, "mlir", b"", {}, timings=timings)
    assert time.perf_counter() - t0 < 1.0, timings


def test_many_layers_compile_in_reasonable_time():
    args = transformer_args()

    def model(x, *ws):
        for _ in range(8):
            x = transformer_block(x, *ws)
        return x
    code = lower_portable(model, *args)
    t0 = time.perf_counter()
    compile_program(code, "mlir", b"", {})
    assert time.perf_counter() - t0 < 5.0
