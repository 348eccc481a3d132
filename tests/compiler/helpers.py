"""Shared helpers for the compiler tests: lower jax functions, compile them with the chip
compiler, run the executables with the reference interpreter and compare with jax on CPU."""

from __future__ import annotations

import contextlib
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

RNG = np.random.default_rng(1234)


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


def transformer_block(x, wq, wk, wv, wo, w1, w2, g):
    """A small pre-norm transformer block: RMS norm, RoPE, causal softmax attention, layer norm,
    gelu MLP in bf16."""
    import jax.numpy as jnp
    s_len, d = x.shape
    heads, hd = 2, d // 2
    h = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * g
    q = (h @ wq).reshape(s_len, heads, hd)
    k = (h @ wk).reshape(s_len, heads, hd)
    v = (h @ wv).reshape(s_len, heads, hd)
    half = hd // 2
    pos = jnp.arange(s_len)[:, None, None] * 0.1
    cos, sin = jnp.cos(pos), jnp.sin(pos)

    def rot(t):
        return jnp.concatenate([-t[..., half:], t[..., :half]], axis=-1)

    q = q * cos + rot(q) * sin
    k = k * cos + rot(k) * sin
    s = jnp.einsum("qhd,khd->hqk", q, k) / jnp.sqrt(float(hd))
    mask = jnp.tril(jnp.ones((s_len, s_len), bool))
    s = jnp.where(mask, s, -1e9)
    p = jax.nn.softmax(s, axis=-1)
    o = jnp.einsum("hqk,khd->qhd", p, v).reshape(s_len, d) @ wo
    x = x + o
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    h2 = (x - mu) / jnp.sqrt(var + 1e-5)
    up = (h2.astype(jnp.bfloat16) @ w1.astype(jnp.bfloat16)).astype(jnp.float32)
    act = jax.nn.gelu(up, approximate=False) * jax.nn.silu(up)
    return x + act @ w2


def transformer_args(s_len: int = 8, d: int = 32, f: int = 64):
    return [randn((s_len, d)), randn((d, d), scale=0.2), randn((d, d), scale=0.2),
            randn((d, d), scale=0.2), randn((d, d), scale=0.2), randn((d, f), scale=0.2),
            randn((f, d), scale=0.2), randn((d,))]
