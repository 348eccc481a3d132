"""Shared helpers for the compiler tests: lower jax functions, compile them with the chip
compiler, run the executables with the reference interpreter and compare with jax on CPU."""

from __future__ import annotations

import contextlib
import pathlib
import sys
from typing import Callable, Sequence

import jax  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
from jax._src.interpreters import mlir as jax_mlir  # noqa: E402
from jaxlib.mlir.dialects import stablehlo  # noqa: E402

from jax_chip.compiler import driver, pipeline  # noqa: E402
from jax_chip.compiler.frontend import parse as frontend  # noqa: E402
from jax_chip.compiler.frontend import graph_builder  # noqa: E402
from jax_chip.compiler.ir.context import DEFAULT_CHIP_CONFIG, CompileOptions  # noqa: E402
from jax_chip.compiler.ir.graph import Graph  # noqa: E402
from jax_chip.compiler.backend.inspect_executable import read_executable  # noqa: E402
from jax_chip.compiler.ir.executable import ExecutableDesc  # noqa: E402
from .reference_interpreter import execute  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import transformer_block as tb  # noqa: E402

RNG = np.random.default_rng(1234)
WEIGHT_NAMES = ("ln1", "ln2", "wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")


def on_cpu():
    """Lower and compute references on the cpu backend, whatever the default backend is."""
    try:
        return jax.default_device(jax.devices("cpu")[0])
    except RuntimeError:  # pragma: no cover
        return contextlib.nullcontext()


def _lower(f: Callable, args, donate_argnums: Sequence[int]):
    with on_cpu():
        return jax.jit(f, donate_argnums=tuple(donate_argnums), keep_unused=True).lower(*args)


def lower_text(f: Callable, *args, donate_argnums: Sequence[int] = ()) -> str:
    return _lower(f, args, donate_argnums).as_text(debug_info=True)


def lower_portable(f: Callable, *args, donate_argnums: Sequence[int] = (),
                   version: str | None = None) -> bytes:
    """What jaxlib 0.6.2's PJRT C API client sends: CHLO legalized to StableHLO, then a
    StableHLO portable artifact (VHLO bytecode) for the plugin's StableHLO version."""
    from jaxlib.mlir import passmanager
    module = _lower(f, args, donate_argnums).compiler_ir("stablehlo")
    bytecode = jax_mlir.module_to_bytecode(module)
    ctx = frontend.new_context()
    stablehlo.register_stablehlo_passes()
    with ctx:
        from jaxlib.mlir import ir
        m = ir.Module.parse(bytecode)
        passmanager.PassManager.parse(
            "builtin.module(func.func(chlo-legalize-to-stablehlo))").run(m.operation)
        return stablehlo.serialize_portable_artifact(
            m, version or stablehlo.get_current_version())


def lower_bytecode(f: Callable, *args, donate_argnums: Sequence[int] = ()) -> bytes:
    module = _lower(f, args, donate_argnums).compiler_ir("stablehlo")
    return jax_mlir.module_to_bytecode(module)


def import_graph(code: bytes | str) -> Graph:
    parsed = frontend.parse_program(code, "mlir")
    with parsed.context:
        return graph_builder.build_graph(parsed.module)


def compiled_graph(f: Callable, *args, donate_argnums: Sequence[int] = (),
                   options: CompileOptions | None = None,
                   stop_after: str | None = None, chip: dict | None = None) -> Graph:
    """The graph after the pipeline (or after pass `stop_after`); `chip` overrides entries of
    the default chip model."""
    g = import_graph(lower_text(f, *args, donate_argnums=donate_argnums))
    ctx = driver.make_context({**DEFAULT_CHIP_CONFIG, **(chip or {})}, options)
    return pipeline.run_pipeline(g, ctx, stop_after=stop_after)


def compile_fn(f: Callable, *args, donate_argnums: Sequence[int] = (),
               options: CompileOptions | None = None, via: str = "portable") -> bytes:
    if via == "portable":
        code: bytes | str = lower_portable(f, *args, donate_argnums=donate_argnums)
    elif via == "bytecode":
        code = lower_bytecode(f, *args, donate_argnums=donate_argnums)
    else:
        code = lower_text(f, *args, donate_argnums=donate_argnums)
    return driver.compile_program(code, "mlir", b"", {}, options=options)


def randn(shape, dtype=np.float32, scale: float = 1.0) -> np.ndarray:
    x = RNG.standard_normal(shape) * scale
    if np.dtype(dtype) == np.dtype(np.bool_):
        return RNG.standard_normal(shape) > 0
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -100), min(info.max, 100)
        return RNG.integers(lo, hi + 1, size=shape).astype(dtype)
    return x.astype(dtype)


def tolerance(dtype) -> dict[str, float]:
    dt = np.dtype(dtype)
    if dt == np.dtype(ml_dtypes.bfloat16):
        return dict(rtol=2e-2, atol=2e-2)
    if dt == np.dtype(np.float16):
        return dict(rtol=2e-3, atol=2e-3)
    if dt == np.dtype(np.float32):
        return dict(rtol=2e-5, atol=2e-5)
    return dict(rtol=0, atol=0)


def check_against_jax(f: Callable, *args, donate_argnums: Sequence[int] = (),
                      options: CompileOptions | None = None, via: str = "portable",
                      tol: dict[str, float] | None = None) -> ExecutableDesc:
    """Compiles f, runs it in the reference interpreter and compares with jax on CPU."""
    with on_cpu():
        expected = jax.jit(f)(*args)
    flat_expected = jax.tree_util.tree_leaves(expected)
    data = compile_fn(f, *args, donate_argnums=donate_argnums, options=options, via=via)
    exe = read_executable(data)
    got = execute(exe, [np.asarray(a) for a in args])
    assert len(got) == len(flat_expected)
    for g, e in zip(got, flat_expected):
        e = np.asarray(e)
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, g.dtype, e.shape, e.dtype)
        t = tol or tolerance(e.dtype)
        if e.dtype == np.dtype(ml_dtypes.bfloat16) or e.dtype == np.float16:
            np.testing.assert_allclose(g.astype(np.float32), e.astype(np.float32), **t)
        elif np.issubdtype(e.dtype, np.floating):
            np.testing.assert_allclose(g, e, **t)
        else:
            np.testing.assert_array_equal(g, e)
    return exe


def kernel_types(exe: ExecutableDesc) -> list[str]:
    return [k.op_type for k in exe.kernels]


def transformer_block(x, positions, *weights):
    """tools/transformer_block.py's bf16 block (RMSNorm, causal attention with RoPE, SwiGLU MLP)
    with 2 heads and a 64-row RoPE table, its weights as positional arguments (WEIGHT_NAMES'
    order) so that jax.jit and the compiler see flat parameters."""
    return tb.block(dict(zip(WEIGHT_NAMES, weights)), x, positions, 2, max_position=64)


def transformer_args(s_len: int = 8, d: int = 32, f: int = 64) -> list[np.ndarray]:
    """[x (bf16 [s_len, d]), positions (int32 arange), *weights] for transformer_block."""
    params = tb.make_params(RNG, d, f)
    assert tuple(params) == WEIGHT_NAMES
    return [randn((s_len, d), ml_dtypes.bfloat16), np.arange(s_len, dtype=np.int32),
            *params.values()]
