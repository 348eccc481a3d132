"""MLIR types and constants -> the graph IR's TensorType and numpy values (jaxlib.mlir)."""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
from jaxlib.mlir import ir
from jaxlib.mlir.dialects import func as func_dialect
from jaxlib.mlir.dialects import stablehlo

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.errors import UnsupportedError, at
from jax_chip.compiler.ir.graph import TensorType


def mlir_element_type_name(t) -> str:
    """Name of an MLIR element type (jaxlib.mlir.ir.Type): "f32", "s8", "pred", "f64", ..."""
    if ir.IntegerType.isinstance(t):
        it = ir.IntegerType(t)
        w = it.width
        if w == 1:
            return "pred"
        return f"{'u' if it.is_unsigned else 's'}{w}"
    if ir.BF16Type.isinstance(t):
        return "bf16"
    if ir.F16Type.isinstance(t):
        return "f16"
    if ir.F32Type.isinstance(t):
        return "f32"
    if ir.F64Type.isinstance(t):
        return "f64"
    for name, mlir_name in dtypes.MLIR_NAMES.items():
        if str(t) == mlir_name and name in dtypes.FP8:
            return name
    if ir.ComplexType.isinstance(t):
        et = mlir_element_type_name(ir.ComplexType(t).element_type)
        return {"f32": "c64", "f64": "c128"}.get(et, f"complex<{et}>")
    return str(t)


def tensor_type(t: ir.Type, what: str, loc: str = "") -> TensorType:
    if not ir.RankedTensorType.isinstance(t):
        raise UnsupportedError(f"{what} has type {t}, which the chip does not support (only ranked "
                               f"tensors){at(loc)}")
    rt = ir.RankedTensorType(t)
    if not rt.has_static_shape:
        raise UnsupportedError(f"{what} has dynamic shape {t}; the chip needs static shapes{at(loc)}")
    return TensorType(mlir_element_type_name(rt.element_type), tuple(int(d) for d in rt.shape))


# ---- constants -------------------------------------------------------------------------------

def _splat_scalar(attr: ir.DenseElementsAttr, dtype: str) -> np.ndarray:
    v = attr.get_splat_value()
    if ir.FloatAttr.isinstance(v):
        x = ir.FloatAttr(v).value
    elif ir.IntegerAttr.isinstance(v):
        x = ir.IntegerAttr(v).value
    elif ir.BoolAttr.isinstance(v):
        x = ir.BoolAttr(v).value
    else:
        raise UnsupportedError(f"constant of type {dtype} cannot be read")
    if dtype == "pred":
        return np.asarray(bool(x))
    if dtype in dtypes.CHIP_DTYPES and dtypes.info(dtype).is_int:
        return np.asarray(x).astype(np.int64).astype(dtypes.numpy_dtype(dtype))
    if dtype in ("s64", "u64"):
        return np.asarray(x).astype(np.int64).astype(np.int64 if dtype == "s64" else np.uint64)
    if dtype == "f64":
        return np.asarray(x, dtype=np.float64)
    return np.asarray(x, dtype=np.float64).astype(dtypes.numpy_dtype(dtype))


def _elements_via_interpreter(attr: ir.DenseElementsAttr, shape: tuple[int, ...], width: int,
                              bitcast: bool) -> np.ndarray:
    """A non-splat constant's elements as signless integers of `width` bits, via StableHLO's
    interpreter: its exact bits (bitcast_convert) or its integer values (convert)."""
    with ir.Location.unknown():
        module = ir.Module.create()
        t_out = ir.RankedTensorType.get(list(shape), ir.IntegerType.get_signless(width))
        with ir.InsertionPoint(module.body):
            fn = func_dialect.FuncOp("main", ir.FunctionType.get([], [t_out]))
            block = fn.add_entry_block()
            with ir.InsertionPoint(block):
                c = stablehlo.ConstantOp(attr)
                op = stablehlo.BitcastConvertOp if bitcast else stablehlo.ConvertOp
                b = op(t_out, c.result)
                func_dialect.ReturnOp([b.result])
        (res,) = stablehlo.eval_module(module, [])
    return np.array(ir.DenseElementsAttr(res), copy=True).reshape(shape)


def _bf16_elements(attr: ir.DenseElementsAttr, shape: tuple[int, ...]) -> np.ndarray:
    """Exact bits of a non-splat bf16 constant (bitcast to i16)."""
    return _elements_via_interpreter(attr, shape, 16, True).astype(np.int16).view(ml_dtypes.bfloat16)


def _low_precision_elements(attr: ir.DenseElementsAttr, t: TensorType) -> np.ndarray:
    """A non-splat fp8 constant's exact bits (bitcast to i8) or an int4 one's values (convert)."""
    if t.dtype in dtypes.FP8:
        bits = _elements_via_interpreter(attr, t.shape, 8, True).astype(np.int8)
        return bits.view(dtypes.numpy_dtype(t.dtype))
    values = _elements_via_interpreter(attr, t.shape, 8, False).astype(np.int8)
    if t.dtype == "u4":
        values = values.view(np.uint8)
    return values.astype(dtypes.numpy_dtype(t.dtype))


def read_complex_constant(op: ir.Operation, t: TensorType) -> tuple[np.ndarray, bool]:
    """(value, splat) of a complex64 `stablehlo.constant`, value complex64 (0-d for splats).

    jaxlib aborts the process when it downcasts a complex dense attribute, so the attribute is
    never touched from Python: the constant's own text is evaluated with stablehlo.real/imag by
    StableHLO's interpreter (a splat as a 0-d constant)."""
    text = str(op)
    m = re.search(r"stablehlo\.constant (dense<.*>) : tensor<([0-9x]*)complex<f32>>", text, re.S)
    if m is None:
        raise UnsupportedError(f"complex constant {t.mlir_str()} cannot be read")
    value = m.group(1)
    splat = re.fullmatch(r"dense<\([^()]*\)>", value) is not None
    shape = () if splat else t.shape
    tc = "tensor<" + "".join(f"{d}x" for d in shape) + "complex<f32>>"
    tf = tc.replace("complex<f32>", "f32")
    module = ir.Module.parse(
        f"func.func @main() -> ({tf}, {tf}) {{\n  %c = stablehlo.constant {value} : {tc}\n"
        f"  %r = stablehlo.real %c : ({tc}) -> {tf}\n  %i = stablehlo.imag %c : ({tc}) -> {tf}\n"
        f"  func.return %r, %i : {tf}, {tf}\n}}")
    re_, im = (np.array(ir.DenseElementsAttr(r), copy=True).astype(np.float32).reshape(shape)
               for r in stablehlo.eval_module(module, []))
    return (re_ + np.complex64(1j) * im).astype(np.complex64), splat


BUFFER_DTYPES = {"pred", "s8", "u8", "s16", "u16", "s32", "u32", "f16", "f32", "s64", "u64", "f64"}


def constant_readable(dtype: str) -> bool:
    """Whether read_constant reads constants of `dtype` (others are reported by check_types)."""
    return dtype in BUFFER_DTYPES or dtype == "bf16" or dtype in dtypes.LOW_PRECISION


def read_constant(attr: ir.Attribute, t: TensorType, loc: str) -> tuple[np.ndarray | None, bool]:
    """(value, splat): value is 0-d for splats, else of shape t.shape; None when the element type
    is not one the chip could ever hold (check_types reports it)."""
    if not ir.DenseElementsAttr.isinstance(attr):
        kind = str(attr).split("<", 1)[0] or type(attr).__name__
        raise UnsupportedError(f"stablehlo.constant with a {kind} value of type {t.mlir_str()} "
                               f"is not supported (only dense constants){at(loc)}")
    dense = ir.DenseElementsAttr(attr)
    if not constant_readable(t.dtype):
        return None, False
    if dense.is_splat:
        return _splat_scalar(dense, t.dtype), True
    if t.dtype == "bf16":
        return _bf16_elements(dense, t.shape), False
    if t.dtype in dtypes.LOW_PRECISION:
        return _low_precision_elements(dense, t), False
    arr = np.array(dense, copy=True)
    if t.dtype == "pred":
        arr = arr.astype(np.bool_)
    return arr.reshape(t.shape), False


# ---- attribute readers ---------------------------------------------------------------------------

def i64s(attr: ir.Attribute) -> tuple[int, ...]:
    """A DenseI64ArrayAttr or 1-d DenseIntElementsAttr as a tuple."""
    if ir.DenseI64ArrayAttr.isinstance(attr):
        return tuple(int(x) for x in ir.DenseI64ArrayAttr(attr))
    if ir.DenseIntElementsAttr.isinstance(attr):
        return tuple(int(x) for x in ir.DenseIntElementsAttr(attr))
    raise UnsupportedError(f"unexpected attribute {attr}")


def int_attr(attr: ir.Attribute) -> int:
    return int(ir.IntegerAttr(attr).value)
