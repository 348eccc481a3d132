"""complex_lowering: after it, complex64 exists only at the program's boundary (parameters,
outputs and the reshapes reinterpreting them as f32 pairs); the shapes of what it builds (fused
elementwise complex math, native sort keys, planar FFT, split constants)."""

import jax.numpy as jnp
import numpy as np
from jax import lax

from .helpers import compiled_graph, import_graph, lower_portable
from jax_chip.compiler import driver, pipeline
from jax_chip.compiler.ir.context import DEFAULT_CHIP_CONFIG

RNG = np.random.default_rng(3)


def cx(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def lowered(f, *args):
    """The graph right after complex_lowering (what jaxlib sends: CHLO legalized)."""
    g = import_graph(lower_portable(f, *args))
    return pipeline.run_pipeline(g, driver.make_context(DEFAULT_CHIP_CONFIG), stop_after="complex_lowering")


def complex_values(g):
    for n in g.walk():
        for v in (*n.operands, *n.results):
            if v.type.dtype == "c64":
                yield n, v


def test_complex_only_at_the_boundary():
    g = lowered(lambda a, b: (a * b / (a + 1j), jnp.sort(a), jnp.prod(a, axis=0), jnp.fft.fft(b),
                              lax.fori_loop(0, 2, lambda i, c: c * a, b)), cx(3, 4), cx(3, 4))
    params = {p.value for p in g.params}
    for n, v in complex_values(g):
        assert n.op == "stablehlo.reshape", (n.op, v)
        src, dst = n.operands[0], n.result
        assert src in params or dst in {o.value for o in g.outputs}, n
        assert {src.type.dtype, dst.type.dtype} == {"c64", "f32"}
        c, f = (src, dst) if src.type.dtype == "c64" else (dst, src)
        assert f.type.shape == (*c.type.shape, 2)


def test_complex_multiply_is_one_fused_kernel_and_the_output_copy():
    g = compiled_graph(lambda a, b: a * b, cx(8, 16), cx(8, 16))
    kernels = [n.op for n in g.nodes if n.op not in ("stablehlo.reshape", "stablehlo.constant")]
    assert kernels == ["chip.fusion", "chip.copy"]


def test_sort_keys_are_native_and_prod_is_a_variadic_reduce():
    g = compiled_graph(lambda a: (jnp.sort(a, axis=-1), jnp.prod(a, axis=0)), cx(3, 5))
    sort = next(n for n in g.nodes if n.op == "stablehlo.sort")
    assert len(sort.operands) == 2 and len(sort.attrs["keys"]) == 2   # real, then imaginary
    red = next(n for n in g.nodes if n.op == "chip.variadic_reduce")
    assert len(red.operands) == 4 and len(red.results) == 2          # parts and their inits


def test_fft_is_planar():
    g = lowered(lambda z, x: (jnp.fft.ifft2(z), jnp.fft.rfft(x), jnp.fft.irfft(z)), cx(2, 4, 8),
                RNG.standard_normal((3, 10)).astype(np.float32))
    ffts = [n for n in g.nodes if n.op == "chip.fft"]
    kinds = sorted((n.attrs["fft_type"], len(n.operands), len(n.results), n.attrs["fft_length"]) for n in ffts)
    assert kinds == [(1, 2, 2, (4, 8)), (2, 1, 2, (10,)), (3, 2, 1, (14,))]


def test_constants_split_exactly():
    c = cx(5)
    g = lowered(lambda z: z * c + jnp.complex64(0.1 - 3e-7j), cx(5))
    values = [np.asarray(n.attrs["value"]) for n in g.nodes if n.op == "stablehlo.constant"]
    found = {v.tobytes() for v in values}
    assert c.real.astype(np.float32).tobytes() in found and c.imag.astype(np.float32).tobytes() in found
    assert np.float32(0.1).tobytes() in found and np.float32(-3e-7).tobytes() in found


def test_fft_cost_is_5_n_log2_n_and_its_bytes():
    g = compiled_graph(lambda z: jnp.fft.fft(z), cx(3, 64))
    (fft,) = [n for n in g.walk() if n.op == "chip.fft"]
    cost = fft.attrs["cost"]
    assert cost.vector_flops == 3 * 5 * 64 * 6
    moved = 2 * 3 * 64 * 4   # re and im parts, f32, in and out (HBM or SRAM)
    assert cost.bytes_read + cost.sram_bytes_read == moved
    assert cost.bytes_written + cost.sram_bytes_written == moved
    # a length that is not a power of two: Bluestein's three transforms of m = 128 >= 2*60-1
    g = compiled_graph(lambda z: jnp.fft.fft(z), cx(1, 60))
    (fft,) = [n for n in g.walk() if n.op == "chip.fft"]
    assert fft.attrs["cost"].vector_flops == 3 * 5 * 128 * 7 + 6 * (2 * 60 + 128)
