"""stablehlo.convolution -> the Convolution kernel (im2col + the DotGeneral GEMM per feature
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
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np


if TYPE_CHECKING:
    from jaxlib.mlir import ir

    from jax_chip.compiler.graph import Node

FIELDS = ("window_strides", "padding_low", "padding_high", "lhs_dilation", "rhs_dilation",
          "window_reversal", "feature_group_count", "input_batch_dimension",
          "input_feature_dimension", "input_spatial_dimensions", "kernel_input_feature_dimension",
          "kernel_output_feature_dimension", "kernel_spatial_dimensions", "output_batch_dimension",
          "output_feature_dimension", "output_spatial_dimensions")
_LISTS = frozenset({"window_strides", "padding_low", "padding_high", "lhs_dilation",
                    "rhs_dilation", "input_spatial_dimensions", "kernel_spatial_dimensions",
                    "output_spatial_dimensions"})


# ---- import ----------------------------------------------------------------------------------

def import_convolution(imp: Any, op: "ir.Operation", loc: str) -> dict[str, Any] | None:
    from jaxlib.mlir import ir
    from jaxlib.mlir.dialects import stablehlo

    a = op.attributes
    lhs_t = ir.RankedTensorType(op.operands[0].type)
    nsp = lhs_t.rank - 2

    def i64s(key: str, default: int) -> tuple[int, ...]:
        if key not in a:
            return (default,) * nsp
        return tuple(int(x) for x in ir.DenseI64ArrayAttr(a[key]))

    def int_attr(key: str, default: int) -> int:
        return int(ir.IntegerAttr(a[key]).value) if key in a else default

    batch_groups = int_attr("batch_group_count", 1)
    if batch_groups != 1:
        imp._unsupported(op, loc, f"stablehlo.convolution with batch_group_count {batch_groups} "
                                  f"is not supported on the chip (only 1)")
        return None
    if op.operands[0].type != op.operands[1].type and \
            ir.RankedTensorType(op.operands[0].type).element_type != \
            ir.RankedTensorType(op.operands[1].type).element_type:
        imp._unsupported(op, loc, "stablehlo.convolution with lhs and rhs of different element "
                                  "types is not supported on the chip")
        return None
    padding = np.zeros((nsp, 2), np.int64)
    if "padding" in a:
        padding = np.array(ir.DenseIntElementsAttr(a["padding"]), dtype=np.int64).reshape(nsp, 2)
    reversal: tuple[bool, ...] = (False,) * nsp
    if "window_reversal" in a:
        reversal = tuple(bool(x) for x in ir.DenseBoolArrayAttr(a["window_reversal"]))
    d = stablehlo.ConvDimensionNumbers(a["dimension_numbers"])
    return {
        "window_strides": i64s("window_strides", 1),
        "padding_low": tuple(int(x) for x in padding[:, 0]),
        "padding_high": tuple(int(x) for x in padding[:, 1]),
        "lhs_dilation": i64s("lhs_dilation", 1),
        "rhs_dilation": i64s("rhs_dilation", 1),
        "window_reversal": reversal,
        "feature_group_count": int_attr("feature_group_count", 1),
        "input_batch_dimension": int(d.input_batch_dimension),
        "input_feature_dimension": int(d.input_feature_dimension),
        "input_spatial_dimensions": tuple(int(x) for x in d.input_spatial_dimensions),
        "kernel_input_feature_dimension": int(d.kernel_input_feature_dimension),
        "kernel_output_feature_dimension": int(d.kernel_output_feature_dimension),
        "kernel_spatial_dimensions": tuple(int(x) for x in d.kernel_spatial_dimensions),
        "output_batch_dimension": int(d.output_batch_dimension),
        "output_feature_dimension": int(d.output_feature_dimension),
        "output_spatial_dimensions": tuple(int(x) for x in d.output_spatial_dimensions),
    }


# ---- the kernel description ------------------------------------------------------------------

def _schema():
    """The generated module of the Convolution table."""
    import importlib

    from jax_chip.compiler import executable_schema  # noqa: F401  (sets up the chip.exe aliases)
    return importlib.import_module("chip.exe.Convolution")


@dataclass
class ConvolutionOp:
    """The schema's Convolution table."""
    attrs: dict[str, Any]
    OP_TYPE: str = "Convolution"

    def write(self, w: Any) -> int:
        m = _schema()
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
        obj = _schema().Convolution()
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
        """The output in numpy with DotGeneral's numerics (f64 products summed, rounded to f32
        then to the output type; integers in 64-bit, wrapped)."""
        from jax_chip.compiler import dtypes
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

def emit_convolution(node: "Node") -> ConvolutionOp:
    return ConvolutionOp({k: node.attrs[k] for k in FIELDS})


def _pad(x: int, m: int) -> int:
    return (x + m - 1) // m * m


def cost_convolution(node: "Node", tile: int = 128):
    from jax_chip.compiler.executable import KernelCost
    lhs, rhs = node.operands
    n, g, cg, og, k_sp, out_sp = conv_geometry(lhs.type.shape, rhs.type.shape, node.attrs)
    m = n * math.prod(out_sp)
    k = cg * math.prod(k_sp)
    return KernelCost(matrix_flops=float(2 * g * _pad(m, 8) * _pad(og, tile) * _pad(k, tile)),
                      matrix_dtype=lhs.type.dtype,
                      bytes_read=float(lhs.type.nbytes + rhs.type.nbytes),
                      bytes_written=float(node.result.type.nbytes))


def register_ops(register: Callable[[Any], Any], spec_cls: type, numeric: frozenset[str]) -> None:
    """Registers stablehlo.convolution (called by op_registry)."""
    register(spec_cls(
        "stablehlo.convolution", "convolution", numeric, kernel="Convolution",
        notes="im2col + the DotGeneral GEMM per feature group (DotGeneral numerics); strides, "
              "padding, lhs/rhs dilation, window reversal, feature_group_count; "
              "batch_group_count 1", foldable=False, fusible=False,
        importer=import_convolution, emit=emit_convolution,
        cost=lambda node: cost_convolution(node)))
