"""stablehlo.rng_bit_generator's counter-based generators, written as u32 graph ops.

The chip has no random-number kernel and no 64-bit integers: xla_passes/rng_bit_generator_expansion.py
replaces each rng_bit_generator by the ops built here (u32 add/xor/shift/multiply, iota,
compare, reshape/concatenate/slice), which elementwise fusion turns into a few Elementwise
kernels. The bits are those XLA's CPU and GPU backends produce (their RngBitGeneratorExpander):

- THREE_FRY: Threefry-2x32 with 20 rounds. State u64[2] = [key, counter]. The output is split in
  two halves along its first even dimension (or its largest one); element i of the halves is the
  block (counter + i) and its two words fill the two halves. The counter advances by the number
  of blocks.
- PHILOX (and DEFAULT, which XLA:CPU maps to PHILOX): Philox-4x32 with 10 rounds. State u64[2]
  = [key, c] or u64[3] = [key, c_lo, c_hi]; the 128-bit counter is (c, key) or (c_lo, c_hi).
  Block j = counter + j gives output elements 4j..4j+3. The new state keeps the key and the
  counter advanced by the number of blocks (only its low 64 bits for u64[2]).

8- and 16-bit results take the low bits of the 32-bit result, as XLA does. Philox's 32x32->64
multiply is the chip's MUL_HI instruction (high word) and a wrapping MUL (low word).

A u64 is held as two u32 words (lo, hi); 64- and 128-bit additions carry through u32 compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from jax_chip.compiler.ir.graph import Graph, Node, TensorType, Value

U32 = "u32"

THREEFRY_PARITY = 0x1BD11BDA
THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
PHILOX_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
PHILOX_WEYL = (0x9E3779B9, 0xBB67AE85)
PHILOX_ROUNDS = 10

ALGORITHMS = ("DEFAULT", "THREE_FRY", "PHILOX")
DEFAULT_ALGORITHM = "PHILOX"      # what XLA's CPU and GPU compilers choose for DEFAULT


class U32Builder:
    """Emits u32 ops into `nodes` (in order). 0-d operands broadcast to the other operand's
    shape, so per-call scalars (key words) mix with per-element vectors."""

    def __init__(self, graph: Graph, loc: str):
        self.graph = graph
        self.loc = loc
        self.nodes: list[Node] = []

    def emit(self, op: str, operands: list[Value], t: TensorType,
             attrs: dict[str, Any] | None = None) -> Value:
        n = self.graph.make_node(op, operands, [t], attrs or {}, self.loc)
        self.nodes.append(n)
        return n.result

    # ---- leaves ------------------------------------------------------------------------------

    def const(self, x: int, dtype: str = U32) -> Value:
        np_dtype = {"u32": np.uint32, "u8": np.uint8, "u16": np.uint16}.get(dtype, np.uint32)
        return self.emit("stablehlo.constant", [], TensorType(dtype, ()),
                         {"value": np.asarray(x & 0xFFFFFFFF, np_dtype), "splat": False})

    def iota(self, shape: tuple[int, ...] | int, dim: int = 0) -> Value:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self.emit("stablehlo.iota", [], TensorType(U32, shape), {"iota_dimension": dim})

    # ---- shapes ------------------------------------------------------------------------------

    def broadcast(self, v: Value, shape: tuple[int, ...]) -> Value:
        if v.type.shape == shape:
            return v
        assert v.type.rank == 0, (v.type, shape)
        return self.emit("stablehlo.broadcast_in_dim", [v], v.type.with_shape(shape),
                         {"broadcast_dimensions": ()})

    def reshape(self, v: Value, shape: tuple[int, ...]) -> Value:
        if v.type.shape == tuple(shape):
            return v
        return self.emit("stablehlo.reshape", [v], v.type.with_shape(shape))

    def slice(self, v: Value, start: tuple[int, ...], limit: tuple[int, ...]) -> Value:
        if tuple(start) == (0,) * v.type.rank and tuple(limit) == v.type.shape:
            return v
        shape = tuple(hi - lo for lo, hi in zip(start, limit))
        return self.emit("stablehlo.slice", [v], v.type.with_shape(shape),
                         {"start_indices": tuple(start), "limit_indices": tuple(limit),
                          "strides": (1,) * v.type.rank})

    def concatenate(self, vs: list[Value], dim: int) -> Value:
        shape = list(vs[0].type.shape)
        shape[dim] = sum(v.type.shape[dim] for v in vs)
        return self.emit("stablehlo.concatenate", vs, vs[0].type.with_shape(shape),
                         {"dimension": dim})

    def convert(self, v: Value, dtype: str) -> Value:
        if v.type.dtype == dtype:
            return v
        return self.emit("stablehlo.convert", [v], v.type.with_dtype(dtype))

    def bitcast(self, v: Value, dtype: str) -> Value:
        if v.type.dtype == dtype:
            return v
        return self.emit("stablehlo.bitcast_convert", [v], v.type.with_dtype(dtype))

    # ---- arithmetic --------------------------------------------------------------------------

    def _binary_attrs(self, op: str, a: Value, b: Value, dtype: str,
                      attrs: dict[str, Any]) -> Value:
        shape = a.type.shape if a.type.rank else b.type.shape
        a, b = self.broadcast(a, shape), self.broadcast(b, shape)
        return self.emit(op, [a, b], TensorType(dtype, shape), attrs)

    def _binary(self, op: str, a: Value, b: Value) -> Value:
        return self._binary_attrs(op, a, b, U32, {})

    def add(self, a: Value, b: Value) -> Value:
        return self._binary("stablehlo.add", a, b)

    def mul(self, a: Value, b: Value) -> Value:
        return self._binary("stablehlo.multiply", a, b)

    def xor(self, a: Value, b: Value) -> Value:
        return self._binary("stablehlo.xor", a, b)

    def or_(self, a: Value, b: Value) -> Value:
        return self._binary("stablehlo.or", a, b)

    def and_(self, a: Value, mask: int) -> Value:
        return self._binary("stablehlo.and", a, self.const(mask))

    def shl(self, a: Value, k: int) -> Value:
        return self._binary("stablehlo.shift_left", a, self.const(k))

    def shr(self, a: Value, k: int) -> Value:
        return self._binary("stablehlo.shift_right_logical", a, self.const(k))

    def rotl(self, a: Value, k: int) -> Value:
        return self.or_(self.shl(a, k), self.shr(a, 32 - k))

    def _compare(self, direction: str, a: Value, b: Value) -> Value:
        return self._binary_attrs("stablehlo.compare", a, b, "pred",
                                  {"comparison_direction": direction, "compare_type": "UNSIGNED"})

    def eq(self, a: Value, b: Value) -> Value:
        return self._compare("EQ", a, b)

    def select(self, pred: Value, a: Value, b: Value) -> Value:
        return self.emit("stablehlo.select", [pred, a, b], a.type)

    def carry(self, total: Value, addend: Value) -> Value:
        """1 where the wrapping u32 sum `total` (= addend + something) overflowed, else 0."""
        return self.convert(self._compare("LT", total, addend), U32)

    def add64(self, lo: Value, hi: Value, x: Value) -> tuple[Value, Value, Value]:
        """(lo, hi) + x for a u32 x: the new (lo, hi) and the carry out of the 64 bits."""
        new_lo = self.add(lo, x)
        new_hi = self.add(hi, self.carry(new_lo, lo))
        return new_lo, new_hi, self.carry(new_hi, hi)

    def mul_hi_lo(self, x: Value, m: int) -> tuple[Value, Value]:
        """(high, low) words of the 64-bit product x * m: the chip's MUL_HI and a wrapping MUL."""
        c = self.const(m)
        return self._binary("chip.mul_hi", x, c), self.mul(x, c)


# ---- the block functions ---------------------------------------------------------------------

def threefry2x32(b: U32Builder, key: tuple[Value, Value],
                 x: tuple[Value, Value]) -> tuple[Value, Value]:
    """Threefry-2x32, 20 rounds (Salmon et al., SC'11), on counter words x with key words."""
    ks = (key[0], key[1], b.xor(b.xor(b.const(THREEFRY_PARITY), key[0]), key[1]))
    x0, x1 = b.add(x[0], ks[0]), b.add(x[1], ks[1])
    for group in range(5):
        for r in THREEFRY_ROTATIONS[group % 2]:
            x0 = b.add(x0, x1)
            x1 = b.xor(x0, b.rotl(x1, r))
        x0 = b.add(x0, ks[(group + 1) % 3])
        x1 = b.add(x1, b.add(ks[(group + 2) % 3], b.const(group + 1)))
    return x0, x1


def philox4x32(b: U32Builder, key: tuple[Value, Value],
               x: tuple[Value, Value, Value, Value]) -> tuple[Value, ...]:
    """Philox-4x32, 10 rounds (Salmon et al., SC'11)."""
    k0, k1 = key
    x0, x1, x2, x3 = x
    for r in range(PHILOX_ROUNDS):
        if r:
            k0, k1 = b.add(k0, b.const(PHILOX_WEYL[0])), b.add(k1, b.const(PHILOX_WEYL[1]))
        hi0, lo0 = b.mul_hi_lo(x0, PHILOX_MULTIPLIERS[0])
        hi1, lo1 = b.mul_hi_lo(x2, PHILOX_MULTIPLIERS[1])
        x0, x1, x2, x3 = b.xor(b.xor(hi1, x1), k0), lo1, b.xor(b.xor(hi0, x3), k1), lo0
    return x0, x1, x2, x3


# ---- output layouts --------------------------------------------------------------------------

@dataclass(frozen=True)
class HalfSplit:
    """Threefry's split of the output shape into two halves along `dim` (XLA's layout)."""
    half_shape: tuple[int, ...]     # the shape with dim d -> (ceil(d/2), 1)
    dim: int

    @staticmethod
    def of(shape: tuple[int, ...]) -> "HalfSplit":
        if not shape:
            return HalfSplit((1,), -1)
        even = [i for i, d in enumerate(shape) if d % 2 == 0]
        dim = even[0] if even else max(range(len(shape)), key=lambda i: (shape[i], -i))
        half = list(shape[:dim]) + [(shape[dim] + 1) // 2, 1] + list(shape[dim + 1:])
        return HalfSplit(tuple(half), dim)

    @property
    def blocks(self) -> int:
        return int(np.prod(self.half_shape))


def threefry_bits(b: U32Builder, key: tuple[Value, Value], counter: tuple[Value, Value],
                  shape: tuple[int, ...]) -> tuple[Value, tuple[Value, Value]]:
    """u32 bits of `shape` and the advanced counter words.

    XLA's layout: along the split dimension, index i holds word i % 2 of the block at i // 2
    (the two halves, concatenated on a new size-2 dimension after it). Each element computes
    its block and keeps its word: one single-output kernel, no concatenate."""
    split = HalfSplit.of(shape)
    n = split.blocks
    if split.dim < 0:                       # 0-d: word 0 of block 0
        lo, hi, _ = b.add64(counter[0], counter[1], b.const(0))
        bits = threefry2x32(b, key, (lo, hi))[0]
    else:
        half = tuple(d for i, d in enumerate(split.half_shape) if i != split.dim + 1)
        strides = [int(np.prod(half[i + 1:])) for i in range(len(half))]
        block = None
        for d, stride in enumerate(strides):
            coord = b.iota(shape, d)
            if d == split.dim:
                coord = b.shr(coord, 1)
            term = b.mul(coord, b.const(stride)) if stride != 1 else coord
            block = term if block is None else b.add(block, term)
        lo, hi, _ = b.add64(counter[0], counter[1], block)
        y0, y1 = threefry2x32(b, key, (lo, hi))
        word = b.and_(b.iota(shape, split.dim), 1)
        bits = b.select(b.eq(word, b.const(0)), y0, y1)
    new_lo, new_hi, _ = b.add64(counter[0], counter[1], b.const(n))
    return bits, (new_lo, new_hi)


def philox_bits(b: U32Builder, key: tuple[Value, Value], counter: tuple[Value, ...],
                shape: tuple[int, ...]) -> tuple[Value, tuple[Value, ...]]:
    """u32 bits of `shape` and the advanced 128-bit counter (four words, low first).

    Element e is word e % 4 of block e // 4. Each element computes its whole block and keeps
    one word: four times the vector work of computing each block once, but a single-output
    expression that fuses into one kernel; four block outputs interleaved by a concatenate
    would need a multi-output fusion shared between four consumers, which costs more kernels
    and HBM round trips than the recomputation."""
    n = int(np.prod(shape))
    blocks = (n + 3) // 4
    e = b.iota(n)
    words = _add128(b, counter, b.shr(e, 2))
    out = philox4x32(b, key, words)
    lane = b.and_(e, 3)
    bits = out[3]
    for i in (2, 1, 0):
        bits = b.select(b.eq(lane, b.const(i)), out[i], bits)
    return b.reshape(bits, shape), _add128(b, counter, b.const(blocks))


def _add128(b: U32Builder, c: tuple[Value, ...], x: Value) -> tuple[Value, ...]:
    """The 128-bit (c0..c3) + x; like XLA, the high half gets the low half's carry."""
    lo0, lo1, carry = b.add64(c[0], c[1], x)
    hi0, hi1, _ = b.add64(c[2], c[3], carry)
    return lo0, lo1, hi0, hi1


GENERATORS: dict[str, Callable[..., Any]] = {"THREE_FRY": threefry_bits, "PHILOX": philox_bits}
