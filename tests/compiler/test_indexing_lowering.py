"""Indexing and sorting ops in the compiler: region import and register programs, region kinds
(native scatter/reduce bodies, argmax/argmin), sort keys, top_k rewriting, constant-start
dynamic slices, reverse as a view, in-place updates of donated buffers, costs, and the
executable round trip. (Their numerics are checked on the chip against cpu in
tests/test_ops_indexing.py and tests/test_ops_sorting.py.)"""

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from .helpers import compile_fn, compiled_graph, randn
from jax_chip.compiler.lowering import regions
from jax_chip.compiler.driver import compile_program
from jax_chip.compiler.lowering.ew_codegen import program_for
from jax_chip.compiler.backend.inspect_executable import dump, read_executable
from jax_chip.compiler.kernels.table_op import TableOp as IndexingOp


def kernels(g, op):
    return [n for n in g.nodes if n.op == op]


def one(g, op):
    (n,) = kernels(g, op)
    return n


@pytest.mark.parametrize("method,kind", [("set", "SET"), ("add", "ADD"), ("mul", "MUL"),
                                         ("max", "MAX"), ("min", "MIN")])
def test_scatter_bodies_become_region_kinds(method, kind):
    x, i, v = randn((8, 3)), np.array([1, 5, 1], np.int32), randn((3, 3))
    g = compiled_graph(lambda a, i, v: getattr(a.at[i], method)(v), x, i, v)
    s = one(g, "stablehlo.scatter")
    assert s.attrs["kind"] == kind
    assert s.attrs["program"].results     # the program is always there too


def test_pred_scatter_max_is_or():
    x, i = randn((8,), np.bool_), np.array([1, 5], np.int32)
    g = compiled_graph(lambda a, i: a.at[i].max(True), x, i)
    assert one(g, "stablehlo.scatter").attrs["kind"] == "OR"


def test_scatter_apply_is_a_program():
    x, i = randn((8,)), np.array([1, 5], np.int32)
    g = compiled_graph(lambda a, i: a.at[i].apply(jnp.exp), x, i)
    s = one(g, "stablehlo.scatter")
    assert s.attrs["kind"] == "PROGRAM"
    ops = [ins.op for ins in s.attrs["program"].instrs]
    assert "EXP" in ops and "LOAD" in ops


def test_region_program_loads_arguments_by_index():
    g = compiled_graph(lambda a, i, v: a.at[i].add(v), randn((5,)), np.array([1], np.int32),
                       randn((1,)))
    prog = one(g, "stablehlo.scatter").attrs["program"]
    loads = sorted(ins.a for ins in prog.instrs if ins.op == "LOAD")
    assert loads == [0, 1]
    assert prog.instrs[prog.results[0]].op == "ADD"


@pytest.mark.parametrize("dtype", [np.float32, jnp.bfloat16, np.int8, np.uint16, np.bool_])
def test_argmax_argmin_are_recognized(dtype):
    x = randn((3, 7), dtype)
    g = compiled_graph(lambda a: (jnp.argmax(a, axis=1), jnp.argmin(a, axis=0)), x)
    kinds = [n.attrs["kind"] for n in kernels(g, "chip.variadic_reduce")]
    assert kinds == ["ARGMAX", "ARGMIN"]


def test_other_multi_operand_bodies_stay_programs():
    def f(x, y):
        return lax.reduce((x, y), (np.float32(0), np.int32(0)),
                          lambda a, b: (a[0] + b[0], jnp.maximum(a[1], b[1])), (1,))
    g = compiled_graph(f, randn((3, 7)), randn((3, 7), np.int32))
    assert one(g, "chip.variadic_reduce").attrs["kind"] == "PROGRAM"


def test_argminmax_check_rejects_near_misses():
    """A body that differs from argmax on some ordering (here: ties pick the larger index)."""
    def near_miss(x):
        idx = lax.broadcasted_iota(np.int32, x.shape, 1)

        def body(a, b):
            keep = (a[0] > b[0]) | (a[0] != a[0])
            keep_i = keep | ((a[0] == b[0]) & (a[1] > b[1]))
            return lax.select(keep, a[0], b[0]), lax.select(keep_i, a[1], b[1])
        return lax.reduce((x, idx), (np.float32(-np.inf), np.int32(0)), body, (1,))[1]
    g = compiled_graph(near_miss, randn((3, 7)))
    assert one(g, "chip.variadic_reduce").attrs["kind"] == "PROGRAM"


def test_sort_comparators_become_keys():
    x = randn((4, 9))
    g = compiled_graph(lambda a: jnp.sort(a, axis=0), x)
    (key,) = one(g, "stablehlo.sort").attrs["keys"]
    assert key.operand == 0 and key.compare == "TOTALORDER" and not key.descending
    assert key.transform is not None      # -0.0 -> 0.0 and NaN canonicalization
    g = compiled_graph(lambda a, b: lax.sort((a, b), num_keys=2), x, randn((4, 9), np.int32))
    keys = one(g, "stablehlo.sort").attrs["keys"]
    assert [(k.operand, k.compare) for k in keys] == [(0, "TOTALORDER"), (1, "SIGNED")]
    g = compiled_graph(lambda b: jnp.sort(b), randn((9,), np.uint8))
    (key,) = one(g, "stablehlo.sort").attrs["keys"]
    assert key.compare == "UNSIGNED" and key.transform is None


def test_top_k_becomes_a_kernel():
    text = """
    func.func @main(%a: tensor<3x10xf32>) -> (tensor<3x4xf32>, tensor<3x4xi32>) {
      %v, %i = chlo.top_k(%a, k = 4) : tensor<3x10xf32> -> (tensor<3x4xf32>, tensor<3x4xi32>)
      return %v, %i : tensor<3x4xf32>, tensor<3x4xi32>
    }"""
    exe = read_executable(compile_program(text, "mlir", b"", {}))
    (k,) = exe.kernels
    assert k.op_type == "TopK" and k.op.fields == {"k": 4, "largest": True}
    custom = """
    func.func @main(%a: tensor<2x8xbf16>) -> (tensor<2x3xbf16>, tensor<2x3xi32>) {
      %0:2 = stablehlo.custom_call @mhlo.topk(%a) {mhlo.attributes = {k = 3 : i64}, mhlo.version = 1 : i64} : (tensor<2x8xbf16>) -> (tensor<2x3xbf16>, tensor<2x3xi32>)
      return %0#0, %0#1 : tensor<2x3xbf16>, tensor<2x3xi32>
    }"""
    exe = read_executable(compile_program(custom, "mlir", b"", {}))
    assert [k.op_type for k in exe.kernels] == ["TopK"] and exe.kernels[0].op.fields["k"] == 3


def test_constant_start_dynamic_slice_is_a_clamped_view():
    x = randn((6, 8))
    # JAX wraps the negative start (-3 + 8 = 5); both starts are then clamped to (3, 4)
    g = compiled_graph(lambda a: lax.dynamic_slice(a, (5, -3), (3, 4)) * 2, x)
    assert not kernels(g, "stablehlo.dynamic_slice")
    (fusion,) = kernels(g, "chip.fusion")
    (view,) = program_for(fusion).views
    assert view.offset == 3 * 8 + 4 and view.strides == (8, 1)


def test_reverse_is_a_negative_stride_view():
    x = randn((5, 7))
    g = compiled_graph(lambda a: jnp.flip(a, 1) + jnp.flip(a), x)
    (fusion,) = kernels(g, "chip.fusion")
    strides = sorted(v.strides for v in program_for(fusion).views)
    assert (-7, -1) in strides and (7, -1) in strides


def test_donated_dynamic_update_slice_and_scatter_update_in_place():
    cache, new = randn((16, 8)), randn((1, 8))
    f = lambda c, n, p: lax.dynamic_update_slice(c, n, (p, 0))   # noqa: E731
    g = compiled_graph(f, cache, new, np.int32(3), donate_argnums=(0,))
    dus = one(g, "stablehlo.dynamic_update_slice")
    assert dus.attrs.get("in_place") and not kernels(g, "chip.copy")
    assert dus.attrs["cost"].bytes_written == new.nbytes      # only the update moves
    g2 = compiled_graph(f, cache, new, np.int32(3))
    assert one(g2, "stablehlo.dynamic_update_slice").attrs["cost"].bytes_written == \
        cache.nbytes + new.nbytes
    s = compiled_graph(lambda c, i: c.at[i].add(1.0), cache, np.array([2, 9], np.int32),
                       donate_argnums=(0,))
    assert one(s, "stablehlo.scatter").attrs.get("in_place") and not kernels(s, "chip.copy")


def test_a_donated_operand_read_elsewhere_is_copied():
    """The donated buffer is also read by a kernel that must run after the update: the update
    cannot be in place (it is computed elsewhere and copied into the output)."""
    cache = randn((16, 8))

    def f(c, i):
        s = c.at[i].set(0.0)
        return s, s + c[::-1]
    g = compiled_graph(f, cache, np.array([2], np.int32), donate_argnums=(0,))
    assert not one(g, "stablehlo.scatter").attrs.get("in_place")
    assert kernels(g, "chip.copy")


def test_costs():
    table, ids = randn((1000, 64)), np.arange(32, dtype=np.int32)
    g = compiled_graph(lambda t, i: t[i], table, ids)
    c = one(g, "stablehlo.gather").attrs["cost"]
    # reads from HBM and from the on-chip SRAM (temporaries, xla_passes/sram_placement.py)
    assert c.bytes_written + c.sram_bytes_written == 32 * 64 * 4
    assert c.bytes_read + c.sram_bytes_read == 32 * 64 * 4 + ids.nbytes
    x = randn((8, 1024))
    c = one(compiled_graph(lambda a: jnp.sort(a, axis=1), x), "stablehlo.sort").attrs["cost"]
    assert c.vector_flops >= 8 * 1024 * 10       # ~ n log2 n compares per row
    c = one(compiled_graph(lambda a: jnp.cumsum(a, axis=1), x),
            "stablehlo.reduce_window").attrs["cost"]
    assert c.vector_flops == x.size              # a scan: one add per element, not n^2


def test_executable_round_trip_and_dump():
    x = randn((4, 9))
    data = compile_fn(lambda a, i: (jnp.sort(a), a.at[i].add(1.0), jnp.argmax(a, 1),
                                    lax.top_k(a, 2), jnp.cumsum(a, 0), jnp.pad(a, 1),
                                    lax.dynamic_slice(a, (i[0], 0), (2, 2)), a[i]),
                      x, np.array([1, 2], np.int32))
    exe = read_executable(data)
    types = {k.op_type for k in exe.kernels}
    assert {"Sort", "Scatter", "VariadicReduce", "ReduceWindow", "Pad", "DynamicSlice",
            "Gather"} <= types
    for k in exe.kernels:
        if isinstance(k.op, IndexingOp) and k.op_type == "Sort":
            assert k.op.fields["comparator"].results and k.op.fields["keys"]
    text = dump(exe)
    assert "keys=[operand 0 TOTALORDER transform]" in text and "kind=ARGMAX" in text


def test_region_capturing_a_computed_value_is_rejected():
    text = """
    func.func @main(%a: tensor<4xf32>, %s: tensor<f32>) -> tensor<4xf32> {
      %t = stablehlo.multiply %s, %s : tensor<f32>
      %0 = "stablehlo.sort"(%a) <{dimension = 0 : i64, is_stable = true}> ({
      ^bb0(%x: tensor<f32>, %y: tensor<f32>):
        %p = stablehlo.add %x, %t : tensor<f32>
        %c = stablehlo.compare LT, %p, %y, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
        stablehlo.return %c : tensor<i1>
      }) : (tensor<4xf32>) -> tensor<4xf32>
      return %0 : tensor<4xf32>
    }"""
    from jax_chip.compiler.ir.errors import UnsupportedError
    with pytest.raises(UnsupportedError) as e:
        compile_program(text, "mlir", b"", {})
    assert "sort comparator region reads a value defined outside it" in str(e.value)


def test_eval_program_matches_formula():
    g = compiled_graph(lambda a: jnp.argmax(a, axis=0), randn((5,)))
    prog = one(g, "chip.variadic_reduce").attrs["program"]
    v = np.array([1.0, np.nan, 2.0], np.float32)
    w = np.array([2.0, 1.0, 2.0], np.float32)
    i, j = np.array([0, 1, 4], np.int32), np.array([1, 0, 2], np.int32)
    got_v, got_i = regions.eval_program(prog, [v, i, w, j], ["f32", "s32"] * 2)
    np.testing.assert_array_equal(got_v, [2.0, np.nan, 2.0])
    np.testing.assert_array_equal(got_i, [1, 1, 2])
