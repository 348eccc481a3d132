"""stablehlo.convolution -> the Convolution kernel (im2col + the matrix-unit GEMM per feature
group, pjrt_plugin/kernels/convolution.cc).

1-D, 2-D and N-D convolutions with any dimension numbers (NHWC/HWIO, NCHW/OIHW, ...), window
strides, padding (negative padding crops), lhs dilation (transposed convolutions), rhs dilation
(atrous), window reversal and feature_group_count (depthwise). batch_group_count must be 1 and
lhs and rhs must have one element type (the output may differ, as with preferred_element_type).
Cost: the GEMM on the matrix unit, 2 * G * pad(M, 8) * pad(O/G, tile) * pad(K, tile) flops with
M = batch * output positions and K = kernel positions * input features per group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import Evaluation, KernelKind, Lowerer, Reader, one_line

_TABLE = fb.module("Convolution")

FIELDS = ("window_strides", "padding_low", "padding_high", "lhs_dilation", "rhs_dilation",
          "window_reversal", "feature_group_count", "input_batch_dimension",
          "input_feature_dimension", "input_spatial_dimensions", "kernel_input_feature_dimension",
          "kernel_output_feature_dimension", "kernel_spatial_dimensions", "output_batch_dimension",
          "output_feature_dimension", "output_spatial_dimensions")
_LISTS = frozenset({"window_strides", "padding_low", "padding_high", "lhs_dilation",
                    "rhs_dilation", "input_spatial_dimensions", "kernel_spatial_dimensions",
                    "output_spatial_dimensions"})


# ---- the kernel description ------------------------------------------------------------------

@dataclass
class ConvolutionOp:
    """The schema's Convolution table."""
    attrs: dict[str, Any]
    OP_TYPE: ClassVar[str] = "Convolution"

    def write(self, w: Any) -> int:
        m = _TABLE
        b = w.b
        vecs = {k: w.i64s(self.attrs[k]) for k in _LISTS}
        m.ConvolutionStartWindowReversalVector(b, len(self.attrs["window_reversal"]))
        for flag in reversed(self.attrs["window_reversal"]):
            b.PrependBool(bool(flag))
        reversal = b.EndVector()
        m.ConvolutionStart(b)
        for k in FIELDS:
            add = getattr(m, "ConvolutionAdd" + "".join(p.capitalize() for p in k.split("_")))
            if k in vecs:
                add(b, vecs[k])
            elif k == "window_reversal":
                add(b, reversal)
            else:
                add(b, int(self.attrs[k]))
        return m.ConvolutionEnd(b)

    @staticmethod
    def read(tab: Any) -> "ConvolutionOp":
        obj = _TABLE.Convolution()
        obj.Init(tab.Bytes, tab.Pos)
        attrs: dict[str, Any] = {}
        for k in FIELDS:
            name = "".join(p.capitalize() for p in k.split("_"))
            if k in _LISTS or k == "window_reversal":
                n = getattr(obj, name + "Length")()
                get = getattr(obj, name)
                conv = bool if k == "window_reversal" else int
                attrs[k] = tuple(conv(get(i)) for i in range(n))
            else:
                attrs[k] = int(getattr(obj, name)())
        return ConvolutionOp(attrs)

    def to_text(self) -> str:
        a = self.attrs
        return (f"lhs [b={a['input_batch_dimension']}, f={a['input_feature_dimension']}, "
                f"s={list(a['input_spatial_dimensions'])}] rhs [i={a['kernel_input_feature_dimension']}, "
                f"o={a['kernel_output_feature_dimension']}, s={list(a['kernel_spatial_dimensions'])}] "
                f"out [b={a['output_batch_dimension']}, f={a['output_feature_dimension']}, "
                f"s={list(a['output_spatial_dimensions'])}] stride={list(a['window_strides'])} "
                f"pad={list(zip(a['padding_low'], a['padding_high']))} "
                f"lhs_dilate={list(a['lhs_dilation'])} rhs_dilate={list(a['rhs_dilation'])} "
                f"groups={a['feature_group_count']}")

    def evaluate(self, inputs: Sequence[np.ndarray], input_dtypes: Sequence[str],
                 output_dtypes: Sequence[str]) -> list[np.ndarray]:
        """The output in numpy with the dot kernel's numerics (f64 products summed, rounded to f32
        then to the output type; integers in 64-bit, wrapped)."""
        a = self.attrs
        lt, out_t = input_dtypes[0], output_dtypes[0]
        is_float = dtypes.info(lt).is_float
        work = np.float64 if is_float else np.int64
        x = np.asarray(inputs[0]).astype(work)
        w = np.asarray(inputs[1]).astype(work)
        res = convolve(x, w, a)
        if is_float:
            res = res.astype(np.float32)
        return [res.astype(dtypes.numpy_dtype(out_t))]


def conv_geometry(lhs_shape: Sequence[int], rhs_shape: Sequence[int], a: dict[str, Any]
                  ) -> tuple[int, int, int, int, list[int], list[int]]:
    """(N, G, Cg, Og, kernel spatial sizes, output spatial sizes)."""
    nsp = len(lhs_shape) - 2
    n = lhs_shape[a["input_batch_dimension"]]
    c = lhs_shape[a["input_feature_dimension"]]
    o = rhs_shape[a["kernel_output_feature_dimension"]]
    g = a["feature_group_count"]
    k_sp = [rhs_shape[d] for d in a["kernel_spatial_dimensions"]]
    out_sp = []
    for i in range(nsp):
        size = lhs_shape[a["input_spatial_dimensions"][i]]
        dil_in = (size - 1) * a["lhs_dilation"][i] + 1 if size else 0
        padded = dil_in + a["padding_low"][i] + a["padding_high"][i]
        dil_k = (k_sp[i] - 1) * a["rhs_dilation"][i] + 1 if k_sp[i] else 0
        out_sp.append(0 if padded < dil_k else (padded - dil_k) // a["window_strides"][i] + 1)
    return n, g, c // g, o // g, k_sp, out_sp


def convolve(x: np.ndarray, w: np.ndarray, a: dict[str, Any]) -> np.ndarray:
    """Direct convolution in numpy (any dimension numbers); result in the output's layout."""
    nsp = x.ndim - 2
    isd, ksd, osd = (a["input_spatial_dimensions"], a["kernel_spatial_dimensions"],
                     a["output_spatial_dimensions"])
    n, g, cg, og, k_sp, out_sp = conv_geometry(x.shape, w.shape, a)
    xs = np.transpose(x, [a["input_batch_dimension"], *isd, a["input_feature_dimension"]])
    ws = np.transpose(w, [*ksd, a["kernel_input_feature_dimension"],
                          a["kernel_output_feature_dimension"]])
    for i in range(nsp):                          # lhs dilation: holes of zeros
        dil = a["lhs_dilation"][i]
        if dil > 1 and xs.shape[1 + i] > 0:
            shape = list(xs.shape)
            shape[1 + i] = (shape[1 + i] - 1) * dil + 1
            holes = np.zeros(shape, xs.dtype)
            idx = [slice(None)] * xs.ndim
            idx[1 + i] = slice(None, None, dil)
            holes[tuple(idx)] = xs
            xs = holes
    for i in range(nsp):                          # padding (negative: cropping)
        lo, hi = a["padding_low"][i], a["padding_high"][i]
        pad = [(0, 0)] * xs.ndim
        pad[1 + i] = (max(lo, 0), max(hi, 0))
        xs = np.pad(xs, pad)
        idx = [slice(None)] * xs.ndim
        idx[1 + i] = slice(max(-lo, 0), xs.shape[1 + i] - max(-hi, 0))
        xs = xs[tuple(idx)]
    for i in range(nsp):
        if a["window_reversal"][i]:
            ws = np.flip(ws, axis=i)
    out = np.zeros([n, *out_sp, g * og], dtype=xs.dtype)
    for kpos in np.ndindex(*k_sp):
        idx = [slice(None)]
        for i in range(nsp):
            start = kpos[i] * a["rhs_dilation"][i]
            stride = a["window_strides"][i]
            idx.append(slice(start, start + (out_sp[i] - 1) * stride + 1, stride) if out_sp[i]
                       else slice(0, 0))
        patch = xs[tuple(idx)]                    # [n, out_sp..., C]
        wk = ws[kpos]                             # [Cg, O]
        for grp in range(g):
            out[..., grp * og:(grp + 1) * og] += (patch[..., grp * cg:(grp + 1) * cg]
                                                  @ wk[:, grp * og:(grp + 1) * og])
    perm = [0] * x.ndim                           # [n, out_sp..., O] -> output layout
    perm[a["output_batch_dimension"]] = 0
    for i, dim in enumerate(osd):
        perm[dim] = 1 + i
    perm[a["output_feature_dimension"]] = nsp + 1
    return np.transpose(out, perm)


# ---- emit and cost ---------------------------------------------------------------------------

def _lower(node: Node, lowerer: Lowerer) -> ConvolutionOp:
    return ConvolutionOp({k: node.attrs[k] for k in FIELDS})


def _pad(x: int, m: int) -> int:
    return (x + m - 1) // m * m


def cost_convolution(node: Node, tile: int = 128) -> KernelCost:
    lhs, rhs = node.operands
    n, g, cg, og, k_sp, out_sp = conv_geometry(lhs.type.shape, rhs.type.shape, node.attrs)
    m = n * math.prod(out_sp)
    k = cg * math.prod(k_sp)
    return KernelCost(matrix_flops=float(2 * g * _pad(m, 8) * _pad(og, tile) * _pad(k, tile)),
                      matrix_dtype=lhs.type.dtype,
                      bytes_read=float(lhs.type.nbytes + rhs.type.nbytes),
                      bytes_written=float(node.result.type.nbytes))


def _cost(node: Node, ctx: PassContext) -> KernelCost:
    return cost_convolution(node)     # the 128 tile of the kernel's im2col GEMM


def _read(tab: Any, reader: Reader) -> ConvolutionOp:
    return ConvolutionOp.read(tab)


def _evaluate(op: ConvolutionOp, ev: Evaluation) -> list[np.ndarray]:
    return op.evaluate(ev.inputs, [t.dtype for t in ev.input_types],
                       [t.dtype for t in ev.output_types])


KIND = KernelKind("Convolution", ("stablehlo.convolution",), ConvolutionOp, _lower,
                  lambda w, op: op.write(w), _read, one_line, cost=_cost, evaluate=_evaluate)
