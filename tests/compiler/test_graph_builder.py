"""Import of StableHLO into the graph IR: attributes, constants, aliasing, unsupported ops."""

import re

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from .helpers import import_graph, lower_portable, lower_text, randn
from jax_chip.compiler.driver import compile_program
from jax_chip.compiler.ir.errors import UnsupportedError


def ops(graph):
    return [n.op for n in graph.nodes]


def node(graph, op):
    (n,) = [n for n in graph.nodes if n.op == op]
    return n


def test_dot_general_dimension_numbers():
    g = import_graph(lower_text(lambda a, b: jnp.einsum("bqd,bkd->bqk", a, b),
                                randn((2, 3, 4)), randn((2, 5, 4))))
    d = node(g, "stablehlo.dot_general")
    assert d.attrs == {"lhs_batch": (0,), "rhs_batch": (0,), "lhs_contracting": (2,),
                       "rhs_contracting": (2,)}
    assert d.result.type.shape == (2, 3, 5)


def test_compare_reduce_slice_transpose_attrs():
    def f(x):
        m = jnp.max(x, axis=1)
        return (jax.lax.slice(x, (0, 1), (3, 5), (1, 2)) > 0.5), m, x.T
    g = import_graph(lower_text(f, randn((3, 8))))
    c = node(g, "stablehlo.compare")
    assert c.attrs["comparison_direction"] == "GT" and c.attrs["compare_type"] == "FLOAT"
    r = node(g, "stablehlo.reduce")
    assert r.attrs == {"dimensions": (1,), "reduce_op": "MAX"}
    s = node(g, "stablehlo.slice")
    assert s.attrs == {"start_indices": (0, 1), "limit_indices": (3, 5), "strides": (1, 2)}
    assert node(g, "stablehlo.transpose").attrs["permutation"] == (1, 0)


@pytest.mark.parametrize("via", ["text", "portable"])
def test_constants_are_exact(via):
    vals = np.array([1.5, -2.0, np.nan, np.inf, -0.0, 3.140625], dtype=ml_dtypes.bfloat16)
    halfs = np.array([1.5, -2.0, 65504.0, 6e-8], dtype=np.float16)
    ints = np.array([0, 4294967295, 7], dtype=np.uint32)
    bools = np.array([True, False, True])

    def f(x):
        return (x + jnp.asarray(vals), jnp.asarray(halfs) * 2, jnp.asarray(ints) + 1,
                jnp.logical_not(jnp.asarray(bools)))
    lower = lower_text if via == "text" else lower_portable
    g = import_graph(lower(f, vals))
    consts = [n for n in g.nodes if n.op == "stablehlo.constant" and not n.attrs["splat"]]
    by_type = {n.result.type.dtype: n.attrs["value"] for n in consts}
    np.testing.assert_array_equal(by_type["bf16"].view(np.uint16), vals.view(np.uint16))
    assert by_type["bf16"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(by_type["f16"], halfs)
    np.testing.assert_array_equal(by_type["u32"], ints)
    np.testing.assert_array_equal(by_type["pred"], bools)


def test_splat_constants_stay_scalar():
    g = import_graph(lower_text(lambda x: x + jnp.full((1024, 1024), 2.5, jnp.bfloat16),
                                randn((1024, 1024), ml_dtypes.bfloat16)))
    for n in g.nodes:
        if n.op == "stablehlo.constant":
            assert n.attrs["splat"] and np.asarray(n.attrs["value"]).shape == ()


def test_parameter_and_output_names():
    g = import_graph(lower_text(lambda x, y: (x + y, x - y), randn((2,)), randn((2,))))
    assert [p.name for p in g.params] == ["x", "y"]
    assert [o.name for o in g.outputs] == ["result[0]", "result[1]"]


def test_donation_aliasing():
    g = import_graph(lower_text(lambda x, y: (y * 2, x + 1), randn((4,)), randn((3,)),
                                donate_argnums=(0, 1)))
    assert [p.aliased_output for p in g.params] == [1, 0]
    assert [o.aliased_parameter for o in g.outputs] == [1, 0]


def test_buffer_donor_picks_a_same_type_output():
    text = """
    func.func @main(%a: tensor<4xf32> {jax.buffer_donor = true}, %b: tensor<3xf32>)
        -> (tensor<3xf32>, tensor<4xf32>) {
      %0 = stablehlo.negate %b : tensor<3xf32>
      %1 = stablehlo.negate %a : tensor<4xf32>
      return %0, %1 : tensor<3xf32>, tensor<4xf32>
    }"""
    g = import_graph(text)
    assert g.params[0].aliased_output == 1 and g.outputs[1].aliased_parameter == 0
    assert g.params[1].aliased_output == -1


def test_unsupported_op_names_op_types_and_location():
    def f(x):
        return jax.lax.rng_uniform(0.0, 1.0, x.shape)
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(UnsupportedError) as e:
        compile_program(lower_portable(f, randn((4,))), "mlir", b"", {})
    msg = str(e.value)
    assert msg.startswith("stablehlo.rng is not supported on the chip (at ")
    assert re.search(rf"test_graph_builder\.py:{line} in \S*f\)", msg), msg
    assert "tensor<4xf32>" in msg
    assert e.value.pjrt_code == "UNIMPLEMENTED"


def test_all_unsupported_ops_are_listed():
    def f(x):
        return jax.lax.lgamma(x), jax.lax.rng_uniform(0.0, 1.0, (3,))
    with pytest.raises(UnsupportedError) as e:
        compile_program(lower_text(f, randn((4,))), "mlir", b"", {})
    msg = str(e.value)
    assert "chlo.lgamma" in msg and "stablehlo.rng" in msg


def test_argmax_reduce_keeps_its_body_as_a_region():
    g = import_graph(lower_text(lambda x: jnp.argmax(x, axis=1), randn((3, 4))))
    r = node(g, "stablehlo.reduce")
    assert r.attrs["reduce_op"] is None and r.attrs["dimensions"] == (1,)
    body = r.attrs["region"]
    assert len(body.params) == 4 and len(body.outputs) == 2
    assert {n.op for n in body.nodes} >= {"stablehlo.compare", "stablehlo.select"}


def test_dynamic_shapes_are_rejected():
    text = """
    func.func @main(%a: tensor<?xf32>) -> tensor<?xf32> {
      %0 = stablehlo.negate %a : tensor<?xf32>
      return %0 : tensor<?xf32>
    }"""
    with pytest.raises(UnsupportedError) as e:
        compile_program(text, "mlir", b"", {})
    assert "dynamic shape" in str(e.value)
