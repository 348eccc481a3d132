"""Affine index maps over an Elementwise kernel's iteration space.

A `FlatMap` maps the iteration index (i_0..i_{n-1}) to the row-major flat index of a tensor:
    flat = offset + sum_k i_k * strides[k].
This is exactly the schema's View of a kernel input. A `MultiMap` maps it to a multi-index:
    idx_d = offsets[d] + sum_k i_k * coeffs[d][k].
broadcast_in_dim, transpose, slice and reverse are affine on multi-indices; reshape is the identity on flat
indices. Converting a flat map to a multi map fails (returns None) when an iteration dimension
straddles two tensor dimensions, e.g. a transpose of a reshape that merged dimensions; the fusion
pass then materializes the value instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from jax_chip.compiler.ir.graph import row_major_strides


@dataclass(frozen=True)
class FlatMap:
    offset: int
    strides: tuple[int, ...]

    @staticmethod
    def identity(dims: tuple[int, ...]) -> "FlatMap":
        return FlatMap(0, tuple(s if d != 1 else 0 for s, d in zip(row_major_strides(dims), dims)))

    @staticmethod
    def zero(rank: int) -> "FlatMap":
        return FlatMap(0, (0,) * rank)

    def normalized(self, dims: tuple[int, ...]) -> "FlatMap":
        """Strides of size-1 iteration dims do not matter: set them to 0 (canonical form)."""
        return FlatMap(self.offset, tuple(0 if d == 1 else s for s, d in zip(self.strides, dims)))


@dataclass(frozen=True)
class MultiMap:
    offsets: tuple[int, ...]
    coeffs: tuple[tuple[int, ...], ...]   # [tensor dim][iteration dim]


def flat_to_multi(fm: FlatMap, shape: tuple[int, ...], dims: tuple[int, ...]) -> MultiMap | None:
    """Decomposes a flat map into a multi-index map over `shape`, or None if not affine."""
    n = len(dims)
    if any(d == 0 for d in shape):
        return MultiMap(tuple(0 for _ in shape), tuple((0,) * n for _ in shape))
    rs = row_major_strides(shape)
    total = 1
    for d in shape:
        total *= d
    if fm.offset < 0 or fm.offset >= total:
        return None
    offsets = []
    rem = fm.offset
    for s in rs:
        offsets.append(rem // s)
        rem %= s
    coeffs = [[0] * n for _ in shape]
    for k, s in enumerate(fm.strides):
        if s == 0 or dims[k] == 1:
            continue
        mag = abs(s)                    # negative strides walk a dimension backwards (reverse)
        target = -1
        for d, r in enumerate(rs):      # largest row stride dividing |s| (outermost dim first)
            if shape[d] == 1:
                continue
            if r <= mag and mag % r == 0:
                target = d
                break
        if target < 0:
            return None
        c = mag // rs[target]
        if c >= shape[target]:
            return None
        coeffs[target][k] = c if s > 0 else -c
    for d in range(len(shape)):
        span = [coeffs[d][k] * (dims[k] - 1) for k in range(n)]
        hi = offsets[d] + sum(x for x in span if x > 0)
        lo = offsets[d] + sum(x for x in span if x < 0)
        if hi >= shape[d] or lo < 0:
            return None
    return MultiMap(tuple(offsets), tuple(tuple(c) for c in coeffs))


def multi_to_flat(mm: MultiMap, shape: tuple[int, ...], dims: tuple[int, ...]) -> FlatMap:
    rs = row_major_strides(shape)
    offset = sum(o * r for o, r in zip(mm.offsets, rs))
    strides = tuple(sum(mm.coeffs[d][k] * rs[d] for d in range(len(shape))) for k in range(len(dims)))
    return FlatMap(offset, strides).normalized(dims)


def through_broadcast(mm: MultiMap, operand_shape: tuple[int, ...], result_shape: tuple[int, ...],
                      broadcast_dimensions: tuple[int, ...], n: int) -> MultiMap:
    offsets, coeffs = [], []
    for j, d in enumerate(broadcast_dimensions):
        if operand_shape[j] == 1 and result_shape[d] != 1:
            offsets.append(0)
            coeffs.append((0,) * n)
        else:
            offsets.append(mm.offsets[d])
            coeffs.append(mm.coeffs[d])
    return MultiMap(tuple(offsets), tuple(coeffs))


def through_transpose(mm: MultiMap, permutation: tuple[int, ...]) -> MultiMap:
    # result dim d is operand dim permutation[d]
    rank = len(permutation)
    offsets = [0] * rank
    coeffs: list[tuple[int, ...]] = [()] * rank
    for d, p in enumerate(permutation):
        offsets[p] = mm.offsets[d]
        coeffs[p] = mm.coeffs[d]
    return MultiMap(tuple(offsets), tuple(coeffs))


def through_slice(mm: MultiMap, start: tuple[int, ...], strides: tuple[int, ...]) -> MultiMap:
    offsets = tuple(s + st * o for o, s, st in zip(mm.offsets, start, strides))
    coeffs = tuple(tuple(st * c for c in row) for row, st in zip(mm.coeffs, strides))
    return MultiMap(offsets, coeffs)


def through_reverse(mm: MultiMap, shape: tuple[int, ...], dimensions: tuple[int, ...]) -> MultiMap:
    # result index i along a reversed dim d reads operand index shape[d] - 1 - i
    offsets = list(mm.offsets)
    coeffs = list(mm.coeffs)
    for d in set(dimensions):
        offsets[d] = shape[d] - 1 - offsets[d]
        coeffs[d] = tuple(-c for c in coeffs[d])
    return MultiMap(tuple(offsets), tuple(coeffs))


def is_identity(fm: FlatMap, dims: tuple[int, ...]) -> bool:
    return fm.normalized(dims) == FlatMap.identity(dims)
