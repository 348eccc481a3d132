"""stablehlo.convolution: import of the window and dimension numbers, the matrix-unit cost, the
executable round trip, and compiled convolutions (reference interpreter) against jax on CPU."""

import jax.numpy as jnp
import ml_dtypes
import pytest
from jax import lax

from .helpers import check_against_jax, compile_fn, compiled_graph, randn
from jax_chip.compiler.ir.errors import UnsupportedError
from jax_chip.compiler.backend.inspect_executable import dump, read_executable


def _conv(**kw):
    dn = kw.pop("dn", ("NHWC", "HWIO", "NHWC"))
    return lambda x, w: lax.conv_general_dilated(x, w, dimension_numbers=dn, **kw)


def test_import_reads_window_and_dimension_numbers():
    f = _conv(window_strides=(2, 1), padding=((1, 2), (0, 1)), lhs_dilation=(1, 2),
              rhs_dilation=(2, 1), feature_group_count=2)
    g = compiled_graph(f, randn((2, 9, 9, 6)), randn((3, 3, 3, 4)), stop_after="check_supported")
    (n,) = [n for n in g.nodes if n.op == "stablehlo.convolution"]
    a = n.attrs
    assert a["window_strides"] == (2, 1) and a["padding_low"] == (1, 0)
    assert a["padding_high"] == (2, 1) and a["lhs_dilation"] == (1, 2)
    assert a["rhs_dilation"] == (2, 1) and a["feature_group_count"] == 2
    assert (a["input_batch_dimension"], a["input_feature_dimension"]) == (0, 3)
    assert a["input_spatial_dimensions"] == (1, 2) and a["kernel_spatial_dimensions"] == (0, 1)
    assert (a["kernel_input_feature_dimension"], a["kernel_output_feature_dimension"]) == (2, 3)


def test_cost_is_the_padded_gemm_on_the_matrix_unit():
    f = _conv(window_strides=(1, 1), padding="SAME")
    g = compiled_graph(f, randn((2, 8, 8, 3)), randn((3, 3, 3, 5)))
    (n,) = [n for n in g.nodes if n.op == "stablehlo.convolution"]
    c = n.attrs["cost"]
    m, k, o = 2 * 8 * 8, 3 * 3 * 3, 5           # -> pad(128, 8) x pad(27, 128) x pad(5, 128)
    assert c.matrix_flops == 2 * 128 * 128 * 128 and c.matrix_dtype == "f32"
    assert c.bytes_read == (2 * 8 * 8 * 3 + 3 * 3 * 3 * 5) * 4
    assert c.bytes_written == m * o * 4 and k == 27


def test_executable_round_trip():
    f = _conv(window_strides=(2, 2), padding="VALID", dn=("NCHW", "OIHW", "NCHW"),
              feature_group_count=2)
    exe = read_executable(compile_fn(f, randn((1, 4, 9, 9)), randn((6, 2, 3, 3))))
    (k,) = exe.kernels
    assert k.op_type == "Convolution"
    assert k.op.attrs["feature_group_count"] == 2 and k.op.attrs["window_strides"] == (2, 2)
    assert "groups=2" in dump(exe)


CASES = {
    "same_nhwc": (_conv(window_strides=(1, 1), padding="SAME"), (2, 8, 8, 3), (3, 3, 3, 5)),
    "valid_nchw_strided": (_conv(window_strides=(2, 2), padding="VALID",
                                 dn=("NCHW", "OIHW", "NCHW")), (2, 4, 11, 9), (6, 4, 3, 3)),
    "dilations_groups": (_conv(window_strides=(2, 1), padding=((1, 2), (0, 1)),
                               lhs_dilation=(1, 2), rhs_dilation=(2, 1), feature_group_count=2),
                         (2, 9, 9, 6), (3, 3, 3, 4)),
    "negative_padding": (_conv(window_strides=(1, 1), padding=((-1, 1), (2, -1)),
                               dn=("NCHW", "HWIO", "NHWC")), (2, 3, 7, 7), (2, 2, 3, 4)),
    "1d_depthwise": (_conv(window_strides=(1,), padding=[(2, 0)], dn=("NWC", "WIO", "NWC"),
                           feature_group_count=4), (2, 10, 4), (3, 1, 4)),
    "3d": (_conv(window_strides=(1, 2, 1), padding="SAME", dn=("NDHWC", "DHWIO", "NDHWC")),
           (1, 4, 6, 5, 2), (2, 3, 2, 2, 3)),
    "transpose": (lambda x, w: lax.conv_transpose(x, w, (2, 2), "SAME",
                                                  dimension_numbers=("NHWC", "HWIO", "NHWC")),
                  (1, 5, 5, 3), (3, 3, 3, 2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_convolution_matches_jax(name):
    f, xs, ws = CASES[name]
    check_against_jax(f, randn(xs), randn(ws, scale=0.3), tol=dict(rtol=1e-5, atol=1e-5))


def test_bf16_convolution_with_f32_result():
    f = _conv(window_strides=(1, 1), padding="SAME", preferred_element_type=jnp.float32)
    check_against_jax(f, randn((2, 6, 6, 8), ml_dtypes.bfloat16),
                      randn((3, 3, 8, 4), ml_dtypes.bfloat16), tol=dict(rtol=1e-5, atol=1e-5))


def test_batch_group_count_is_unsupported_with_its_name():
    f = _conv(window_strides=(1, 1), padding="VALID", batch_group_count=2)
    with pytest.raises(UnsupportedError, match="batch_group_count 2"):
        compile_fn(f, randn((4, 5, 5, 2)), randn((3, 3, 2, 4)))
