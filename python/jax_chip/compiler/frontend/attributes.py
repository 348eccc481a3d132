"""Attributes of the ops that become kernels of their own or are rewritten by a pass: MLIR
attributes -> plain Python node attributes (jaxlib.mlir), by op (IMPORTERS; the core ops' own
importers are in graph_builder.py). Regions evaluated per element (scatter update, sort
comparator, reduce and reduce_window bodies) are imported as 0-d graphs kept in
node.attrs["region"] (not node.regions, which holds control-flow regions that passes run on);
the indexing_lowering pass compiles them into register programs (lowering/regions.py).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from jaxlib.mlir import ir
from jaxlib.mlir.dialects import chlo, stablehlo

from jax_chip.compiler.frontend.mlir_types import (
    i64s,
    int_attr,
    mlir_element_type_name,
    read_constant,
    tensor_type,
)
from jax_chip.compiler.ir.custom_calls import CustomCallAttr
from jax_chip.compiler.ir.errors import UnsupportedError, at
from jax_chip.compiler.ir.graph import Graph, Output
from jax_chip.compiler.ir.ops import COLLECTIVES, PERMUTE

# importer(importer, mlir op, loc) -> node attributes (None: the importer recorded an
# unsupported feature)
Importer = Callable[[Any, ir.Operation, str], "dict[str, Any] | None"]


# ---- regions evaluated per element (scatter update, sort comparator, reduce bodies) ------------

def import_region(imp: Any, region: ir.Region, name: str, loc: str) -> Graph:
    """Imports the single block of `region` with the importer `imp` (graph_builder._Importer)."""
    blocks = list(region.blocks)
    if len(blocks) != 1:
        raise UnsupportedError(f"a region with {len(blocks)} blocks is not supported{at(loc)}")
    block = blocks[0]
    g = Graph(name)

    class _RegionImporter(type(imp)):  # type: ignore[misc]
        def value(self, v: ir.Value) -> Any:
            found = self.values.get(v)
            if found is not None:
                return found
            # MLIR's canonicalizer hoists constants out of these regions (they are not isolated
            # from above): such a constant is cloned into the region; anything else is an error
            c = _outer_constant(g, v, loc)
            if c is None:
                raise KeyError(v)
            self.values[v] = c
            return c

    sub = _RegionImporter(g, imp.funcs)
    for i, a in enumerate(block.arguments):
        sub.values[a] = g.add_param(tensor_type(a.type, f"region argument {i}", loc), f"arg{i}")
    ops = [o.operation for o in block.operations]
    try:
        for op in ops[:-1]:
            sub.import_op(op)
        ret = ops[-1]
        if ret.name not in ("stablehlo.return", "func.return"):
            raise UnsupportedError(f"region of {name} ends with {ret.name}{at(loc)}")
        g.outputs = [Output(sub.value(v)) for v in ret.operands]
    except KeyError:
        raise UnsupportedError(f"the {name} region reads a value defined outside it, which is "
                               f"not supported{at(loc)}") from None
    imp.unsupported.extend(sub.unsupported)
    return g


def _outer_constant(g: Graph, v: ir.Value, loc: str) -> Any:
    owner = v.owner
    if isinstance(owner, ir.Block):
        return None
    op = owner.operation if hasattr(owner, "operation") else owner
    if op.name != "stablehlo.constant":
        return None
    t = tensor_type(v.type, "constant", loc)
    value, splat = read_constant(op.attributes["value"], t, loc)
    if value is None:
        return None
    node = g.add_node("stablehlo.constant", [], [t], {"value": value, "splat": splat}, loc)
    return node.result


# ---- attribute readers ---------------------------------------------------------------------------

def _opt_i64s(op: ir.Operation, name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    return i64s(op.attributes[name]) if name in op.attributes else default


def _bool(op: ir.Operation, name: str) -> bool:
    if name not in op.attributes:
        return False
    return bool(ir.BoolAttr(op.attributes[name]).value)


def _int(op: ir.Operation, name: str) -> int:
    return int_attr(op.attributes[name])


def _rank(v: ir.Value) -> int:
    return ir.RankedTensorType(v.type).rank


# ---- importers -------------------------------------------------------------------------------------

def _import_gather(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    d = stablehlo.GatherDimensionNumbers(op.attributes["dimension_numbers"])
    return {"offset_dims": tuple(d.offset_dims),
            "collapsed_slice_dims": tuple(d.collapsed_slice_dims),
            "operand_batching_dims": tuple(d.operand_batching_dims),
            "start_indices_batching_dims": tuple(d.start_indices_batching_dims),
            "start_index_map": tuple(d.start_index_map),
            "index_vector_dim": int(d.index_vector_dim),
            "slice_sizes": i64s(op.attributes["slice_sizes"]),
            "indices_are_sorted": _bool(op, "indices_are_sorted")}


def _import_scatter(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    d = stablehlo.ScatterDimensionNumbers(op.attributes["scatter_dimension_numbers"])
    body = import_region(imp, op.regions[0], "scatter update", loc)
    return {"update_window_dims": tuple(d.update_window_dims),
            "inserted_window_dims": tuple(d.inserted_window_dims),
            "input_batching_dims": tuple(d.input_batching_dims),
            "scatter_indices_batching_dims": tuple(d.scatter_indices_batching_dims),
            "scatter_dims_to_operand_dims": tuple(d.scattered_dims_to_operand_dims),
            "index_vector_dim": int(d.index_vector_dim),
            "indices_are_sorted": _bool(op, "indices_are_sorted"),
            "unique_indices": _bool(op, "unique_indices"),
            "region": body}


def _import_dynamic_slice(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"slice_sizes": i64s(op.attributes["slice_sizes"])}


def _import_pad(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"edge_low": i64s(op.attributes["edge_padding_low"]),
            "edge_high": i64s(op.attributes["edge_padding_high"]),
            "interior": i64s(op.attributes["interior_padding"])}


def _import_reverse(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"dimensions": i64s(op.attributes["dimensions"])}


def _import_sort(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    rank = _rank(op.operands[0])
    dim = _int(op, "dimension") if "dimension" in op.attributes else -1
    return {"dimension": dim % rank if rank else 0,
            "is_stable": _bool(op, "is_stable"),
            "region": import_region(imp, op.regions[0], "sort comparator", loc)}


def _import_reduce_window(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    rank = _rank(op.operands[0])
    ones = (1,) * rank
    padding = ((0, 0),) * rank
    if "padding" in op.attributes:
        flat = i64s(op.attributes["padding"])
        padding = tuple((flat[2 * i], flat[2 * i + 1]) for i in range(rank))
    return {"window_dimensions": i64s(op.attributes["window_dimensions"]),
            "window_strides": _opt_i64s(op, "window_strides", ones),
            "base_dilations": _opt_i64s(op, "base_dilations", ones),
            "window_dilations": _opt_i64s(op, "window_dilations", ones),
            "padding_low": tuple(p[0] for p in padding),
            "padding_high": tuple(p[1] for p in padding),
            "region": import_region(imp, op.regions[0], "reduce_window body", loc)}


def _import_triangular_solve(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    # transpose_a: NO_TRANSPOSE, TRANSPOSE or ADJOINT (the transpose for the chip's real types)
    transpose = stablehlo.TransposeAttr(op.attributes["transpose_a"]).value
    return {"left_side": _bool(op, "left_side"), "lower": _bool(op, "lower"),
            "unit_diagonal": _bool(op, "unit_diagonal"), "transpose_a": transpose != "NO_TRANSPOSE"}


# CHLO ops without a StableHLO equivalent that jaxlib's serializer writes as
# `stablehlo.custom_call @chlo.<op>` with the op's attributes in `mhlo.attributes`; the frontend
# imports them as the op itself.
CHLO_CUSTOM_CALLS = frozenset({"chlo.ragged_dot"})
_RAGGED_DIMS = ("lhs_batching", "rhs_batching", "lhs_contracting", "rhs_contracting",
                "lhs_ragged", "rhs_group")


def _ragged_dot_dims(op: ir.Operation) -> dict[str, list[int]]:
    if "ragged_dot_dimension_numbers" in op.attributes:      # the chlo op itself
        d = chlo.RaggedDotDimensionNumbers(op.attributes["ragged_dot_dimension_numbers"])
        return {name: list(getattr(d, f"{name}_dimensions")) for name in _RAGGED_DIMS}
    # the custom call: mhlo.attributes = {ragged_dot_dimension_numbers = [6 dense i64 arrays in
    # the order of _RAGGED_DIMS], precision_config = [...]}
    attrs = ir.DictAttr(op.attributes["mhlo.attributes"])
    dims = ir.ArrayAttr(attrs["ragged_dot_dimension_numbers"])
    return {name: [int(x) for x in np.array(ir.DenseElementsAttr(a)).reshape(-1)]
            for name, a in zip(_RAGGED_DIMS, dims)}


def _import_ragged_dot(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    """chlo.ragged_dot in lax.ragged_dot's grouped-matmul mode only: lhs [m, k] ragged along m,
    rhs [g, k, n] or [g, n, k] with its groups along dim 0, no batch dims."""
    dims = _ragged_dot_dims(op)
    ok = (len(op.operands) == 3 and _rank(op.operands[0]) == 2 and _rank(op.operands[1]) == 3
          and _rank(op.operands[2]) == 1 and not dims["lhs_batching"]
          and not dims["rhs_batching"] and dims["lhs_contracting"] == [1]
          and dims["lhs_ragged"] == [0] and dims["rhs_group"] == [0]
          and dims["rhs_contracting"] in ([1], [2]))
    if not ok:
        shapes = ", ".join(str(v.type) for v in op.operands)
        raise UnsupportedError(
            f"chlo.ragged_dot of {shapes} with dimension numbers {dims}: the chip's RaggedDot "
            "kernel takes the grouped-matmul mode only (lhs [m, k] ragged along m, rhs "
            f"[g, k, n] or [g, n, k], group_sizes [g], no batch dims){at(loc)}")
    return {"rhs_contracting": dims["rhs_contracting"][0]}


def _import_chlo_top_k(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"k": _int(op, "k"), "largest": True}


def import_general_reduce(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    """stablehlo.reduce with several operands or a body that is not one binary op: keeps the
    body as a region (the indexing_lowering pass makes it a chip.variadic_reduce)."""
    return {"dimensions": i64s(op.attributes["dimensions"]), "reduce_op": None,
            "region": import_region(imp, op.regions[0], "reduce body", loc)}


# ---- convolution -------------------------------------------------------------------------------

def import_convolution(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any] | None:
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


# ---- random bits ---------------------------------------------------------------------------------

def _import_rng(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    return {"rng_algorithm": str(stablehlo.RngAlgorithmAttr(op.attributes["rng_algorithm"]).value)}


# ---- collectives ---------------------------------------------------------------------------------

def _groups(op: ir.Operation, key: str) -> np.ndarray | None:
    if key not in op.attributes:
        return None
    attr = op.attributes[key]
    if not ir.DenseIntElementsAttr.isinstance(attr):
        return None
    return np.array(ir.DenseIntElementsAttr(attr), dtype=np.int64)


def _import_collective(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    groups = _groups(op, "replica_groups")
    size = 1
    if groups is not None and groups.ndim == 2 and groups.size:
        size = int(groups.shape[1])
    return {"group_size": size}


def _import_permute(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    pairs = _groups(op, "source_target_pairs")
    pairs_list = [] if pairs is None else [tuple(int(x) for x in p) for p in pairs.reshape(-1, 2)]
    return {"source_target_pairs": tuple(pairs_list)}


# ---- custom calls to the chip's kernels ---------------------------------------------------------

def _attr_from_mlir(name: str, a: Any, what: str, loc: str) -> CustomCallAttr:
    if ir.BoolAttr.isinstance(a):
        return CustomCallAttr(name, "INT", "pred", int(ir.BoolAttr(a).value))
    if ir.IntegerAttr.isinstance(a):
        ia = ir.IntegerAttr(a)
        return CustomCallAttr(name, "INT", mlir_element_type_name(ia.type), int(ia.value))
    if ir.FloatAttr.isinstance(a):
        fa = ir.FloatAttr(a)
        return CustomCallAttr(name, "FLOAT", mlir_element_type_name(fa.type),
                              float(fa.value))
    if ir.StringAttr.isinstance(a):
        return CustomCallAttr(name, "STRING", "", ir.StringAttr(a).value)
    if ir.DenseI64ArrayAttr.isinstance(a):
        return CustomCallAttr(name, "INTS", "s64", tuple(int(x) for x in ir.DenseI64ArrayAttr(a)))
    if ir.DenseI32ArrayAttr.isinstance(a):
        return CustomCallAttr(name, "INTS", "s32", tuple(int(x) for x in ir.DenseI32ArrayAttr(a)))
    if ir.DenseF32ArrayAttr.isinstance(a):
        return CustomCallAttr(name, "FLOATS", "f32",
                              tuple(float(x) for x in ir.DenseF32ArrayAttr(a)))
    if ir.DenseF64ArrayAttr.isinstance(a):
        return CustomCallAttr(name, "FLOATS", "f64",
                              tuple(float(x) for x in ir.DenseF64ArrayAttr(a)))
    if ir.DenseIntElementsAttr.isinstance(a) or ir.DenseFPElementsAttr.isinstance(a):
        dense = ir.DenseElementsAttr(a)
        et = mlir_element_type_name(ir.ShapedType(dense.type).element_type)
        if ir.ShapedType(dense.type).rank <= 1 and et != "bf16":
            values = np.array(dense, copy=True).reshape(-1)
            if ir.DenseFPElementsAttr.isinstance(a):
                return CustomCallAttr(name, "FLOATS", et, tuple(float(x) for x in values))
            return CustomCallAttr(name, "INTS", et, tuple(int(x) for x in values))
    raise UnsupportedError(f"{what}: attribute {name} = {a} has a type the chip's custom calls "
                           f"do not support (integers, floats, strings and 1-d arrays of them)"
                           f"{at(loc)}")


def _is_row_major(layout: Any) -> bool:
    minor_to_major = [int(x) for x in np.array(layout).reshape(-1)]
    return minor_to_major == list(range(len(minor_to_major) - 1, -1, -1))


def import_attributes(op: Any, loc: str) -> dict[str, Any]:
    """Graph attributes of a stablehlo.custom_call (jaxlib.mlir op), beyond the target name:
    `ffi_attributes` (tuple of CustomCallAttr, from mhlo.backend_config) and
    `output_operand_aliases` (tuple of (result index, operand index))."""
    target = ir.StringAttr(op.attributes["call_target_name"]).value
    what = f"stablehlo.custom_call @{target}"
    out: dict[str, Any] = {}
    if "mhlo.backend_config" in op.attributes:
        cfg = op.attributes["mhlo.backend_config"]
        if ir.DictAttr.isinstance(cfg):
            d = ir.DictAttr(cfg)
            named = [d[i] for i in range(len(d))]
            out["ffi_attributes"] = tuple(_attr_from_mlir(n.name, n.attr, what, loc)
                                          for n in named)
    aliases: list[tuple[int, int]] = []
    if "output_operand_aliases" in op.attributes:
        for a in ir.ArrayAttr(op.attributes["output_operand_aliases"]):
            alias = stablehlo.OutputOperandAlias(a)
            out_idx = list(alias.output_tuple_indices)
            if list(alias.operand_tuple_indices) or len(out_idx) > 1:
                raise UnsupportedError(f"{what}: output/operand aliases into tuples are not "
                                       f"supported on the chip{at(loc)}")
            aliases.append((out_idx[0] if out_idx else 0, int(alias.operand_index)))
    out["output_operand_aliases"] = tuple(aliases)
    for key in ("operand_layouts", "result_layouts"):
        if key in op.attributes:
            for i, layout in enumerate(ir.ArrayAttr(op.attributes[key])):
                if not _is_row_major(ir.DenseElementsAttr(layout)):
                    side = "operand" if key == "operand_layouts" else "result"
                    raise UnsupportedError(f"{what}: {side} {i} has a non-row-major layout "
                                           f"{layout}; the chip's custom calls take row-major "
                                           f"arrays{at(loc)}")
    return out


IMPORTERS: dict[str, Importer] = {
    "stablehlo.gather": _import_gather,
    "stablehlo.scatter": _import_scatter,
    "stablehlo.dynamic_slice": _import_dynamic_slice,
    "stablehlo.pad": _import_pad,
    "stablehlo.reverse": _import_reverse,
    "stablehlo.sort": _import_sort,
    "stablehlo.reduce_window": _import_reduce_window,
    "chlo.top_k": _import_chlo_top_k,
    "chlo.ragged_dot": _import_ragged_dot,
    "stablehlo.convolution": import_convolution,
    "stablehlo.triangular_solve": _import_triangular_solve,
    "stablehlo.rng_bit_generator": _import_rng,
    PERMUTE: _import_permute,
    **{name: _import_collective for name in COLLECTIVES},
}
