"""The Fft kernel: `chip.fft`, what xla_passes/complex_lowering.py makes of `stablehlo.fft`
(jnp.fft.*): FFT, IFFT, RFFT, IRFFT over the last 1-3 dims, on planar complex values (real and
imaginary parts as separate f32 operands and results).

Cost: vector work, per transform of N = n1*...*nk points, the usual 5 N log2 N flops of a complex
FFT (radix-2 butterflies: a complex multiply-add per point per stage); a length that is not a
power of two runs Bluestein's algorithm, counted as its three power-of-two transforms of length
m >= 2n-1 and its 3 complex multiplies per point (6 flops each). Real transforms run the complex
one on the real (or Hermitian-extended) data and cost the same. Reads the inputs, writes the
outputs."""

from __future__ import annotations

import math

import numpy as np

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.base import Evaluation
from jax_chip.compiler.kernels.table_op import TableOp, table_kind

FIELDS = [("fft_type", "ubyte"), ("fft_length", "i64s")]
FFT, IFFT, RFFT, IRFFT = range(4)


def _lower(node: Node) -> dict:
    return {"fft_type": int(node.attrs["fft_type"]), "fft_length": tuple(node.attrs["fft_length"])}


def line_flops(n: int) -> float:
    """Vector flops of one complex transform of length n."""
    if n <= 1:
        return 0.0
    if n & (n - 1) == 0:
        return 5.0 * n * math.log2(n)
    m = 1 << (2 * n - 2).bit_length()
    return 3 * 5.0 * m * math.log2(m) + 6.0 * (2 * n + m)


def _cost(node: Node) -> KernelCost:
    lengths = [int(x) for x in node.attrs["fft_length"]]
    k = len(lengths)
    real_space = (node.results[0] if node.attrs["fft_type"] == IRFFT else node.operands[0]).type
    batch = math.prod(real_space.shape[:-k])
    flops = 0.0
    for i, n in enumerate(lengths):   # every line along axis i of the transformed block
        flops += line_flops(n) * math.prod(lengths) / max(n, 1)
    return KernelCost(vector_flops=float(batch * flops),
                      bytes_read=float(sum(o.type.nbytes for o in node.operands)),
                      bytes_written=float(sum(r.type.nbytes for r in node.results)))


def _evaluate(op: TableOp, ev: Evaluation) -> list[np.ndarray]:
    """numpy's FFT in float64, rounded once to f32."""
    kind, lengths = op.fields["fft_type"], list(op.fields["fft_length"])
    axes = tuple(range(-len(lengths), 0))
    x = ev.inputs[0].astype(np.float64)
    if kind != RFFT:
        x = x + 1j * ev.inputs[1].astype(np.float64)
    if kind == FFT:
        y = np.fft.fftn(x, axes=axes)
    elif kind == IFFT:
        y = np.fft.ifftn(x, axes=axes)
    elif kind == RFFT:
        y = np.fft.rfftn(x, axes=axes)
    else:
        return [np.fft.irfftn(x, s=lengths, axes=axes).astype(np.float32)]
    return [y.real.astype(np.float32), y.imag.astype(np.float32)]


KIND = table_kind("Fft", ("chip.fft",), FIELDS, _lower, _cost, evaluate=_evaluate)
