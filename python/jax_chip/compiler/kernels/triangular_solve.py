"""The TriangularSolve kernel: `stablehlo.triangular_solve` (jax.scipy.linalg.solve_triangular,
lax.linalg.triangular_solve), batched over the leading dimensions.

Cost: forward/back substitution on the vector unit, per batch m(m-1)/2 multiply-adds and m
divisions per right-hand side (m x m matrix, n right-hand sides); reads a and b, writes x."""

from __future__ import annotations

import math

import numpy as np

from jax_chip.compiler.ir.executable import KernelCost
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels.base import Evaluation, as_compute, to_storage
from jax_chip.compiler.kernels.table_op import TableOp, table_kind

FIELDS = [("left_side", "bool"), ("lower", "bool"), ("unit_diagonal", "bool"),
          ("transpose_a", "bool")]


def _lower(node: Node) -> dict:
    return {name: bool(node.attrs[name]) for name, _ in FIELDS}


def _cost(node: Node) -> KernelCost:
    a, b = node.operands
    m = a.type.shape[-1]
    batch = math.prod(a.type.shape[:-2])
    rhs = b.type.shape[-1] if node.attrs["left_side"] else b.type.shape[-2]
    return KernelCost(vector_flops=float(batch * rhs * (m * (m - 1) + m)),
                      bytes_read=float(a.type.nbytes + b.type.nbytes),
                      bytes_written=float(node.result.type.nbytes))


def _evaluate(op: TableOp, ev: Evaluation) -> list[np.ndarray]:
    """The solution in float64 (numpy's dense solve of the triangle), rounded once."""
    f = op.fields
    a = as_compute(ev.inputs[0], ev.input_types[0].dtype).astype(np.float64)
    b = as_compute(ev.inputs[1], ev.input_types[1].dtype).astype(np.float64)
    tri = np.tril(a, -1) if f["lower"] else np.triu(a, 1)
    m = a.shape[-1]
    diag = np.ones(m) if f["unit_diagonal"] else np.diagonal(a, axis1=-2, axis2=-1)
    tri = tri + diag[..., None] * np.eye(m) if not f["unit_diagonal"] else tri + np.eye(m)
    t = np.swapaxes(tri, -1, -2) if f["transpose_a"] else tri
    if f["left_side"]:
        x = np.linalg.solve(t, b)
    else:   # x t = b  <=>  t^T x^T = b^T
        x = np.swapaxes(np.linalg.solve(np.swapaxes(t, -1, -2), np.swapaxes(b, -1, -2)), -1, -2)
    return [to_storage(x.astype(np.float32), ev.output_types[0].dtype)]


KIND = table_kind("TriangularSolve", ("stablehlo.triangular_solve",), FIELDS, _lower, _cost,
                  evaluate=_evaluate)
