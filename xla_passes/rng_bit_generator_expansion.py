"""stablehlo.rng_bit_generator -> u32 ops computing XLA:CPU's bits (jax_chip/compiler/lowering/rng_algorithms.py).

jax's "rbg" and "unsafe_rbg" PRNGs and lax.rng_bit_generator hold the generator state as u32[4]
and hand it to the op as u64[2]:

    %s = stablehlo.bitcast_convert(reshape(u32[4] -> u32[2, 2])) : u64[2]
    %new_state, %bits = stablehlo.rng_bit_generator %s, algorithm = ...
    %out = stablehlo.bitcast_convert %new_state : u32[2, 2]

The chip has no 64-bit types, so the pass reads the state's u32 words from the bitcast's operand
([i, 0] is the low word of element i, as on a little-endian host), generates the bits with u32
ops, and builds the new state's words directly as the u32[N, 2] the outgoing bitcasts produced.
Runs before narrow_64bit/check_types, which then see no 64-bit value. A state that does not
come from u32 words (a u64 parameter: jax_enable_x64) or a new state used other than through a
bitcast to u32 is an error naming the op and its source line.
"""

from __future__ import annotations

import numpy as np

from jax_chip.compiler.ir import dtypes
from jax_chip.compiler.ir.context import PassContext
from jax_chip.compiler.ir.errors import CompileError, UnsupportedError, at
from jax_chip.compiler.ir.graph import Graph, Node, Value
from jax_chip.compiler.ir.ops import RNG_RESULT_DTYPES as RESULT_DTYPES
from jax_chip.compiler.ir.pass_api import Pass, Scope
from jax_chip.compiler.lowering.rng_algorithms import (
    ALGORITHMS, DEFAULT_ALGORITHM, GENERATORS, U32, U32Builder)

OP = "stablehlo.rng_bit_generator"


def _state_words(b: U32Builder, node: Node) -> list[tuple[Value, Value]]:
    """(lo, hi) u32 scalars of each u64 element of the state operand."""
    state = node.operands[0]
    n = state.type.shape[0] if state.type.rank == 1 else -1
    p = state.producer
    if (state.type.dtype == "u64" and p is not None and p.op == "stablehlo.constant"
            and p.attrs.get("value") is not None):
        raw = np.asarray(p.attrs["value"], np.uint64).reshape(-1)
        vals = np.broadcast_to(raw, (n,)) if raw.size == 1 else raw
        return [(b.const(int(v) & 0xFFFFFFFF), b.const(int(v) >> 32)) for v in vals]
    if (state.type.dtype == "u64" and p is not None and p.op == "stablehlo.bitcast_convert"
            and p.operands[0].type.dtype == U32 and p.operands[0].type.shape == (n, 2)):
        words = p.operands[0]
        return [(b.reshape(b.slice(words, (i, 0), (i + 1, 1)), ()),
                 b.reshape(b.slice(words, (i, 1), (i + 1, 2)), ())) for i in range(n)]
    raise UnsupportedError(
        f"{OP} with state {state.type.mlir_str()} not made of u32 words (bitcast from "
        f"tensor<{max(n, 1)}x2xui32>) is not supported on the chip{at(node.loc)}: the chip has "
        f"no 64-bit types; pass the state as u32 words as jax.random's rbg keys do")


def _expand(graph: Graph, node: Node, users: dict[Value, list[Node]]) -> list[Node]:
    algorithm = node.attrs.get("rng_algorithm", "DEFAULT")
    if algorithm not in ALGORITHMS:
        raise UnsupportedError(f"{OP} algorithm {algorithm} is not supported{at(node.loc)}")
    if algorithm == "DEFAULT":
        algorithm = DEFAULT_ALGORITHM
    state_t, out_t = node.results[0].type, node.results[1].type
    if out_t.dtype not in RESULT_DTYPES:
        raise UnsupportedError(
            f"{OP} producing {out_t.mlir_str()} is not supported on the chip{at(node.loc)}; "
            f"result element types: {', '.join(sorted(RESULT_DTYPES))}"
            + (" (the chip has no 64-bit types)" if out_t.dtype in dtypes.SIXTY_FOUR_BIT else ""))
    n_state = state_t.shape[0] if state_t.rank == 1 else 0
    allowed = (2,) if algorithm == "THREE_FRY" else (2, 3)
    if n_state not in allowed:
        raise CompileError(f"{OP} {algorithm} needs a state of "
                           f"{' or '.join(f'u64[{k}]' for k in allowed)}, got "
                           f"{state_t.mlir_str()}{at(node.loc)}")
    b = U32Builder(graph, node.loc)
    words = _state_words(b, node)
    key = words[0]
    shape = out_t.shape
    if algorithm == "THREE_FRY":
        counter = words[1]
        bits, new_counter = GENERATORS[algorithm](b, key, counter, shape)
        new_words = [key, new_counter]
    else:
        hi64 = words[2] if n_state == 3 else words[0]
        counter = (*words[1], *hi64)
        bits, c = GENERATORS[algorithm](b, key, counter, shape)
        new_words = [key, (c[0], c[1])] + ([(c[2], c[3])] if n_state == 3 else [])
    if out_t.itemsize < 4:
        bits = b.convert(bits, f"u{8 * out_t.itemsize}")
    bits = b.bitcast(bits, out_t.dtype)
    graph.replace_all_uses(node.results[1], bits)
    _rewrite_state_users(graph, b, node, new_words, users)
    return b.nodes


def _rewrite_state_users(graph: Graph, b: U32Builder, node: Node,
                         new_words: list[tuple[Value, Value]],
                         users: dict[Value, list[Node]]) -> None:
    new_state = node.results[0]
    readers = users.get(new_state, [])
    if new_state in graph.output_values() or any(
            u.op != "stablehlo.bitcast_convert" or u.result.type.dtype != U32 for u in readers):
        raise UnsupportedError(
            f"{OP}: its new state {new_state.type.mlir_str()} is used as a 64-bit value, which the "
            f"chip does not have{at(node.loc)}; read it as u32 words (bitcast_convert to "
            f"tensor<{len(new_words)}x2xui32>), as jax.random's rbg keys do")
    if not readers:
        return
    flat = b.concatenate([b.reshape(w, (1,)) for pair in new_words for w in pair], 0)
    for u in readers:
        graph.replace_all_uses(u.result, b.reshape(flat, u.result.type.shape))


def run(graph: Graph, ctx: PassContext) -> bool:
    if not any(n.op == OP for n in graph.nodes):
        return False
    users = graph.users()
    out: list[Node] = []
    for node in graph.nodes:
        if node.op == OP:
            out.extend(_expand(graph, node, users))
        else:
            out.append(node)
    graph.nodes = out
    graph.remove_dead_nodes()
    return True


PASS = Pass("rng_bit_generator_expansion", Scope.FUNCTION, run)
