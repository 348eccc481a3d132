"""Custom calls to the chip's native kernels (ir/custom_calls.py, custom_call_lowering pass,
CustomCall kernels): import of typed attributes and aliases, checks with clear errors, emission
and read-back, in-place updates of donated pools, and execution in the reference interpreter
against the jnp references on cpu.

Programs are lowered for platform "chip" (the jax_chip.ops primitives lower to custom calls
only there) without needing the plugin."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from .helpers import import_graph, on_cpu
from jax_chip.compiler import driver
from jax_chip.compiler import pipeline
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.kernels.custom_call import CustomCallOp
from jax_chip.compiler.ir.errors import CompileError, UnsupportedError
from jax_chip.compiler.backend.inspect_executable import dump, read_executable
from .reference_interpreter import execute
from jax_chip.ops import paged_attention_decode, paged_kv_write, radix_attention_extend

RNG = np.random.default_rng(7)


def chip_text(f, *args, donate_argnums=()) -> str:
    with on_cpu():
        traced = jax.jit(f, donate_argnums=tuple(donate_argnums), keep_unused=True).trace(*args)
        return traced.lower(lowering_platforms=("chip",)).as_text(debug_info=True)


def compile_chip(f, *args, donate_argnums=()):
    data = driver.compile_program(chip_text(f, *args, donate_argnums=donate_argnums), "mlir",
                                  b"", {})
    return read_executable(data)


def graph_after(f, *args, stop_after: str, donate_argnums=()):
    g = import_graph(chip_text(f, *args, donate_argnums=donate_argnums))
    return pipeline.run_pipeline(g, PassContext(), stop_after=stop_after)


def _pool(rows=64, kv_heads=2, dim=8, dtype=np.float32):
    return RNG.standard_normal((rows, kv_heads, dim)).astype(dtype)


def _step(kp, vp, q, new, slots, table, lens):
    kp, vp = paged_kv_write(kp, vp, new, new * 0.5, slots)
    return kp, vp, paged_attention_decode(q, kp, vp, table, lens, scale=0.25, page_size=16)


def _step_args():
    return (_pool(), _pool(), RNG.standard_normal((3, 4, 8)).astype(np.float32),
            RNG.standard_normal((3, 2, 8)).astype(np.float32), np.array([5, -1, 40], np.int32),
            np.array([[1, 2], [3, 0], [2, 1]], np.int32), np.array([20, 5, 0], np.int32))


def test_import_reads_typed_attributes_and_aliases():
    g = import_graph(chip_text(_step, *_step_args(), donate_argnums=(0, 1)))
    calls = [n for n in g.nodes if n.op == "stablehlo.custom_call"]
    assert [n.attrs["call_target_name"] for n in calls] == ["chip.paged_kv_write",
                                                            "chip.paged_attention_decode"]
    assert calls[0].attrs["output_operand_aliases"] == ((0, 0), (1, 1))
    attrs = {a.name: a for a in calls[1].attrs["ffi_attributes"]}
    assert (attrs["scale"].kind, attrs["scale"].element, attrs["scale"].value) == ("FLOAT", "f32",
                                                                                   0.25)
    assert (attrs["page_size"].kind, attrs["page_size"].element,
            attrs["page_size"].value) == ("INT", "s64", 16)


def test_lowering_makes_kernels_and_donated_pools_are_updated_in_place():
    g = graph_after(_step, *_step_args(), stop_after="memory_planning", donate_argnums=(0, 1))
    kernels = [n for n in g.nodes if n.op == "chip.custom_call"]
    assert [n.attrs["target"] for n in kernels] == ["chip.paged_kv_write",
                                                    "chip.paged_attention_decode"]
    storage = g.attrs["storage"]
    # the KV write's results are the outputs aliased to the donated pools: no copy anywhere
    assert [n.op for n in g.nodes].count("chip.copy") == 0
    assert storage[kernels[0].results[0]] == ("OUTPUT", 0)
    assert storage[kernels[0].results[1]] == ("OUTPUT", 1)
    assert g.outputs[0].aliased_parameter == 0 and g.outputs[1].aliased_parameter == 1


def test_emitted_kernel_round_trips_with_attributes_and_no_static_cost():
    exe = compile_chip(_step, *_step_args(), donate_argnums=(0, 1))
    calls = [k for k in exe.kernels if isinstance(k.op, CustomCallOp)]
    ops = [k.op for k in calls]
    assert [k.name.split(".")[0] for k in calls] == ["paged_kv_write", "paged_attention_decode"]
    assert ops[0].output_operand_alias == (0, 1)
    assert ops[1].output_operand_alias == (-1,)
    attrs = {a.name: (a.kind, a.element, a.value) for a in ops[1].attributes}
    assert attrs == {"scale": ("FLOAT", "f32", 0.25), "page_size": ("INT", "s64", 16)}
    assert all(k.cost is None for k in calls)   # the runtime models their work
    text = dump(exe)
    assert "@chip.paged_attention_decode(page_size=16:s64, scale=0.25:f32)" in text


def test_interpreter_matches_the_references_with_donated_pools():
    args = _step_args()
    with on_cpu():
        want = jax.jit(_step)(*args)
    exe = compile_chip(_step, *args, donate_argnums=(0, 1))
    got = execute(exe, [np.asarray(a) for a in args])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), atol=1e-5, rtol=0)


def test_reading_the_old_pool_after_the_write_forces_a_copy():
    """A donated pool that is still read after the in-place write: the write goes to a
    temporary and is copied into the output at the end, so the later read sees the old pool."""
    def f(kp, vp, new, slots):
        kp2, vp2 = paged_kv_write(kp, vp, new, new, slots)
        return kp2, vp2, kp.sum()

    args = (_pool(), _pool(), RNG.standard_normal((3, 2, 8)).astype(np.float32),
            np.array([1, 2, 70], np.int32))
    with on_cpu():
        want = jax.jit(f)(*args)
    exe = compile_chip(f, *args, donate_argnums=(0, 1))
    got = execute(exe, [np.asarray(a) for a in args])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-5, atol=1e-5)


def test_extend_runs_in_the_interpreter():
    def f(q, kp, vp, table, prefix, extend):
        return radix_attention_extend(q, kp, vp, table, prefix, extend, scale=0.3, page_size=4)

    args = (RNG.standard_normal((9, 4, 8)).astype(np.float32), _pool(), _pool(),
            np.array([[3, 1, 7], [2, 9, 4]], np.int32), np.array([2, 5], np.int32),
            np.array([4, 3], np.int32))
    with on_cpu():
        want = jax.jit(f)(*args)
    got = execute(compile_chip(f, *args), [np.asarray(a) for a in args])
    np.testing.assert_allclose(got[0], np.asarray(want), atol=1e-5, rtol=0)


def _raw_call(target, out_shape, **attrs):
    call = jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(out_shape, jnp.float32))
    return lambda *a: call(*a, **attrs)


def test_unknown_chip_target_is_unimplemented_and_lists_the_targets():
    f = _raw_call("chip.no_such_kernel", (4,))
    with pytest.raises(UnsupportedError, match=r"stablehlo.custom_call @chip.no_such_kernel is "
                                               r"not supported on the chip; the chip implements "
                                               r"chip.paged_attention_decode"):
        compile_chip(f, np.ones(4, np.float32))


@pytest.mark.parametrize("args,attrs,message", [
    ((np.ones((2, 4, 8), np.float32), _pool(32), _pool(32), np.zeros((2, 2), np.float32),
      np.ones(2, np.int32)), dict(scale=np.float32(1), page_size=np.int64(16)),
     r"operand 3 \(page_table\) must be \[batch, max_pages\] of s32, got f32\[2,2\]"),
    ((np.ones((2, 4, 8), np.float32), _pool(32), _pool(32), np.zeros((2, 2), np.int32),
      np.ones(2, np.int32)), dict(scale=np.float32(1)), r"needs an integer attribute page_size"),
    ((np.ones((2, 4, 8), np.float32), _pool(32), _pool(32), np.zeros((2, 2), np.int32),
      np.ones(2, np.int32)), dict(scale=np.float32(1), page_size=np.int64(64)),
     r"pool rows 32 is not a multiple of page_size 64"),
    ((np.ones((2, 3, 8), np.float32), _pool(32), _pool(32), np.zeros((2, 2), np.int32),
      np.ones(2, np.int32)), dict(scale=np.float32(1), page_size=np.int64(16)),
     r"3 query heads is not a multiple of 2 KV heads"),
    ((np.ones((2, 4, 8), np.float32), _pool(32), _pool(32), np.zeros((2, 2), np.int32),
      np.ones(2, np.int32)), dict(scale=np.float32(1), page_size=np.int64(16), window=1),
     r"unknown attribute\(s\) window"),
])
def test_malformed_calls_name_what_is_wrong(args, attrs, message):
    f = _raw_call("chip.paged_attention_decode", args[0].shape, **attrs)
    with pytest.raises(CompileError, match=r"custom call @chip.paged_attention_decode: " + message):
        compile_chip(f, *args)
