"""Convolutions on the chip against the cpu backend: 1-D and 2-D, NHWC and NCHW dimension
numbers, strides, padding, lhs dilation (transposed convolutions), rhs dilation, feature groups
(depthwise), bf16 with f32 accumulation, and a vision-language patch embedding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

import jax_chip.profiler as chip_prof
from parity import check_parity, chip

RNG = np.random.default_rng(11)


def rand(*shape, dtype=np.float32, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


CASES = {
    "2d_same_nhwc": (lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")), (2, 8, 8, 3), (3, 3, 3, 5)),
    "2d_valid_nchw_strided": (lambda x, w: lax.conv_general_dilated(
        x, w, (2, 2), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")), (2, 4, 11, 9), (6, 4, 3, 3)),
    "2d_padding_dilations_groups": (lambda x, w: lax.conv_general_dilated(
        x, w, (2, 1), ((1, 2), (0, 1)), lhs_dilation=(1, 2), rhs_dilation=(2, 1),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=2), (2, 9, 9, 6), (3, 3, 3, 4)),
    "2d_negative_padding_mixed_layouts": (lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), ((-1, 1), (2, -1)), dimension_numbers=("NCHW", "HWIO", "NHWC")),
        (2, 3, 7, 7), (2, 2, 3, 4)),
    "1d_causal_depthwise": (lambda x, w: lax.conv_general_dilated(
        x, w, (1,), [(2, 0)], dimension_numbers=("NWC", "WIO", "NWC"), feature_group_count=8),
        (2, 10, 8), (3, 1, 8)),
    "1d_strided_ncw": (lambda x, w: lax.conv_general_dilated(
        x, w, (3,), "SAME", rhs_dilation=(2,), dimension_numbers=("NCW", "OIW", "NCW")),
        (3, 4, 20), (5, 4, 3)),
    "2d_transpose": (lambda x, w: lax.conv_transpose(
        x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")), (1, 5, 5, 3), (3, 3, 3, 2)),
    "1x1_pointwise": (lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")), (2, 6, 6, 16), (1, 1, 16, 24)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_convolution_f32(name):
    f, xs, ws = CASES[name]
    check_parity(f, rand(*xs), rand(*ws, scale=0.3), rtol=1e-5, atol=1e-5)


def test_convolution_bf16_with_f32_accumulation():
    f = lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        preferred_element_type=jnp.float32)
    x, w = rand(2, 8, 8, 16, dtype=ml_dtypes.bfloat16), rand(3, 3, 16, 8, dtype=ml_dtypes.bfloat16)
    check_parity(f, x, w, rtol=1e-5, atol=1e-5)
    g = lambda x, w: lax.conv_general_dilated(x, w, (2, 2), "VALID",
                                              dimension_numbers=("NCHW", "OIHW", "NCHW"))
    check_parity(g, rand(1, 4, 9, 9, dtype=ml_dtypes.bfloat16),
                 rand(6, 4, 3, 3, dtype=ml_dtypes.bfloat16))


def test_jax_image_conv_and_flax_style_conv():
    x, w = rand(1, 3, 12, 12), rand(4, 3, 3, 3, scale=0.3)
    check_parity(lambda x, w: jax.scipy.signal.convolve2d(x[0, 0], w[0, 0], mode="same"), x, w,
                 rtol=1e-5, atol=1e-5)
    check_parity(lambda x, w: jnp.convolve(x[0, 0, 0], w[0, 0, 0], mode="full"), x, w,
                 rtol=1e-5, atol=1e-5)


def test_vision_patch_embedding():
    """A ViT / Qwen-VL style patch embedding: a stride-14 conv over 14x14 patches, flattened to
    tokens, plus a position embedding — the vision tower's first layer."""
    def embed(pixels, w, b, pos):
        y = lax.conv_general_dilated(pixels, w, (14, 14), "VALID",
                                     dimension_numbers=("NCHW", "OIHW", "NHWC"))
        tokens = y.reshape(y.shape[0], -1, y.shape[-1]) + b
        return tokens + pos
    pixels = rand(2, 3, 56, 42)
    w, b = rand(64, 3, 14, 14, scale=0.05), rand(64)
    pos = rand(12, 64, scale=0.1)
    check_parity(embed, pixels, w, b, pos, rtol=1e-5, atol=2e-5)


def test_convolution_runs_on_the_matrix_unit():
    dev = chip()
    x = jax.device_put(rand(4, 32, 32, 64, dtype=ml_dtypes.bfloat16), dev)
    w = jax.device_put(rand(3, 3, 64, 128, dtype=ml_dtypes.bfloat16), dev)
    f = jax.jit(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                                      dimension_numbers=("NHWC", "HWIO", "NHWC")))
    f(x, w).block_until_ready()
    with chip_prof.trace() as prof:
        f(x, w).block_until_ready()
    (conv,) = [k for k in prof.summary().kernels if k.category == "convolution"]
    # GEMM of M = 4*32*32, K = 9*64 (padded to 640), N = 128: matrix-bound on the chip
    flops = 2 * 4096 * 640 * 128
    assert conv.flops == flops
    assert conv.bound == "matrix"
    assert abs(conv.modeled_us - (1.0 + flops / 197e12 * 1e6)) < 1e-3 * conv.modeled_us
