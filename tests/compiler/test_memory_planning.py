"""memory_planning: storage kinds, aliases, liveness-based TEMP packing."""

import jax.numpy as jnp
import numpy as np
import pytest

from .helpers import check_against_jax, compiled_graph, randn, transformer_args, transformer_block
from jax_chip.compiler.ir.context import CompileOptions
from xla_passes.memory_planning import ALIGNMENT, BestFitArena


def _no_overlap(intervals):
    for i, (o1, s1, a1, b1) in enumerate(intervals):
        for o2, s2, a2, b2 in intervals[i + 1:]:
            live_together = a1 <= b2 and a2 <= b1
            overlap = o1 < o2 + s2 and o2 < o1 + s1
            assert not (live_together and overlap), ((o1, s1, a1, b1), (o2, s2, a2, b2))


def test_chain_reuses_memory():
    def f(x, w):
        for _ in range(6):
            x = jnp.tanh(x @ w)      # dot + elementwise per step
        return x
    g = compiled_graph(f, randn((64, 64)), randn((64, 64)))
    intervals = g.attrs["temp_intervals"]
    total = sum(s for _, s, _, _ in intervals)
    assert len(intervals) == 11
    assert g.attrs["arena_bytes"] <= 2 * 64 * 64 * 4 < total
    _no_overlap(intervals)
    check_against_jax(f, randn((64, 64)), randn((64, 64), scale=0.1))


@pytest.mark.parametrize("fusion", [True, False])
def test_transformer_block_plan(fusion):
    g = compiled_graph(transformer_block, *transformer_args(),
                       options=CompileOptions(fusion=fusion))
    intervals = g.attrs["temp_intervals"]
    _no_overlap(intervals)
    assert all(o % ALIGNMENT == 0 for o, _, _, _ in intervals)
    assert all(o + s <= g.attrs["arena_bytes"] for o, s, _, _ in intervals)
    assert g.attrs["arena_bytes"] < sum(s for _, s, _, _ in intervals)


def test_storage_kinds_and_reshape_alias():
    def f(x, w):
        h = (x @ w).reshape(2, 32)     # reshape of a TEMP is an alias
        return h @ jnp.ones((32, 3)) * 2.0, x.reshape(-1) @ jnp.asarray(np.linspace(-1, 1, 64, dtype=np.float32)).reshape(64, 1)
    g = compiled_graph(f, randn((4, 16)), randn((16, 16)))
    st = g.attrs["storage"]
    for n in g.nodes:
        if n.op == "stablehlo.reshape":
            assert st[n.result] == st[n.operands[0]]
    kinds = {k for k, _ in st.values()}
    assert kinds == {"PARAMETER", "TEMP", "OUTPUT", "CONSTANT"}
    for j, o in enumerate(g.outputs):
        assert st[o.value] == ("OUTPUT", j)
    check_against_jax(f, randn((4, 16)), randn((16, 16)))


def test_identical_constants_are_shared():
    c = np.arange(12, dtype=np.float32).reshape(3, 4)
    f = lambda x: (x @ jnp.asarray(c).T, (x * 2) @ jnp.asarray(c).T)
    g = compiled_graph(f, randn((5, 4)))
    assert len(g.attrs["constants"]) == 1


def test_best_fit_arena():
    a = BestFitArena()
    x = a.alloc(100)       # 128
    y = a.alloc(1000)      # 1024
    z = a.alloc(64)
    assert (x, y, z) == (0, 128, 1152) and a.end == 1216
    a.release(y, 1000)
    small = a.alloc(200)   # best fit: inside the freed 1024 block
    assert small == 128
    a.release(x, 100)
    a.release(small, 200)  # coalesces with x's block: [0, 1152) free
    assert a.free == [(0, 1152)]
    big = a.alloc(1100)
    assert big == 0
    a.release(z, 64)
    a.release(big, 1100)
    assert a.free == [(0, 1216)]
    assert a.alloc(2000) == 0 and a.end == 2048   # grows the trailing free block


def test_zero_size_and_scalar_values():
    f = lambda x, y: (x.sum() * 2.0, y[:0] + 1.0)
    check_against_jax(f, randn((3, 3)), randn((4,)))
