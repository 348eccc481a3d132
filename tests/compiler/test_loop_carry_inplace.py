"""loop_carry_inplace: a while body that updates a carried value in place writes the loop-carried
storage directly (no per-iteration carry copy), and only when that is safe. Every case runs in
the reference interpreter, whose memory is real byte buffers, against jax on CPU."""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .helpers import check_against_jax, compiled_graph, randn
from jax_chip.compiler.ir.context import CompileOptions
from jax_chip.compiler.ir.graph import Graph, Node

L, T, H, D = 2, 16, 2, 8


def _whiles(g: Graph) -> list[Node]:
    return [n for n in g.walk() if n.op == "stablehlo.while"]


def _in_place_slots(g: Graph, w: Node) -> list[int]:
    """Carried slots whose body result lives in the loop-carried storage (no carry copy)."""
    st = g.attrs["storage"]
    body = w.regions[1]
    return [i for i, r in enumerate(w.results) if st[body.outputs[i].value] == st[r]]


def _slot(w: Node, shape: tuple[int, ...]) -> int:
    (i,) = [i for i, r in enumerate(w.results) if r.type.shape == shape]
    return i


def _slots(w: Node, shape: tuple[int, ...]) -> list[int]:
    return [i for i, r in enumerate(w.results) if r.type.shape == shape]


def _dus_nodes(w: Node) -> list[Node]:
    return [n for n in w.regions[1].nodes if n.op == "stablehlo.dynamic_update_slice"]


def decode(cache, q, wk, xs, pos0):
    """A decode-like scan: each step writes one position of every layer's cache and attends
    over the whole cache."""
    def step(carry, x):
        cache, pos = carry
        k = jnp.tanh(jnp.einsum("hd,lde->lhe", x, wk))[:, None]         # [L, 1, H, D]
        cache = lax.dynamic_update_slice(cache, k.astype(cache.dtype), (0, pos, 0, 0))
        s = jnp.einsum("hd,lthd->lht", q, cache)
        o = jnp.einsum("lht,lthd->hd", jax.nn.softmax(s, axis=-1), cache)
        return (cache, pos + 1), o
    (cache, pos), ys = lax.scan(step, (cache, pos0), xs)
    return cache, ys, pos


def _decode_args(steps: int = 5):
    return (randn((L, T, H, D)), randn((H, D)), randn((L, D, D), scale=0.3),
            randn((steps, H, D)), np.int32(3))


def test_scan_kv_cache_is_updated_in_place():
    args = _decode_args()
    g = compiled_graph(decode, *args)
    (w,) = _whiles(g)
    cache_slot = _slot(w, (L, T, H, D))
    # every carried value: the cache (dynamic_update_slice), the stacked ys (dynamic_update_slice)
    # and the counters (i + 1)
    assert _in_place_slots(g, w) == list(range(len(w.results)))
    st = g.attrs["storage"]
    body = w.regions[1]
    assert st[body.params[cache_slot].value] == st[w.results[cache_slot]]
    cache_bytes = L * T * H * D * 4
    for n in _dus_nodes(w):
        assert n.attrs.get("in_place") and n.attrs["shares_storage"] == ((0, 0),)
        c = n.attrs["cost"]
        # the update only (HBM or on-chip SRAM bytes: xla_passes/sram_placement.py)
        assert c.bytes_written + c.sram_bytes_written == n.operands[1].type.nbytes < cache_bytes
    check_against_jax(decode, *args)


def test_disabled_keeps_the_carry_copies():
    args = _decode_args()
    opts = CompileOptions(loop_carry_in_place=False)
    g = compiled_graph(decode, *args, options=opts)
    (w,) = _whiles(g)
    assert _in_place_slots(g, w) == []
    assert not any("shares_storage" in n.attrs for n in g.walk())
    for n in _dus_nodes(w):
        c = n.attrs["cost"]      # copies its operand (to HBM or on-chip SRAM)
        assert c.bytes_written + c.sram_bytes_written >= n.result.type.nbytes
    check_against_jax(decode, *args, options=opts)


def test_donated_cache_runs_without_copying_it():
    args = _decode_args()
    g = compiled_graph(decode, *args, donate_argnums=(0,))
    (w,) = _whiles(g)
    st = g.attrs["storage"]
    cache_slot = _slot(w, (L, T, H, D))
    # the loop's carried cache is the output, which is the donated parameter's memory: the
    # initial copy has source == destination and no copy writes the output afterwards
    assert st[w.results[cache_slot]] == ("OUTPUT", 0)
    assert g.outputs[0].aliased_parameter == 0 and g.outputs[0].value is w.results[cache_slot]
    assert not [n for n in g.nodes if n.op == "chip.copy"]
    assert cache_slot in _in_place_slots(g, w)
    check_against_jax(decode, *args, donate_argnums=(0,))


def _update_and_readers(w: Node, slot: int) -> tuple[Node, list[Node], dict[Node, int]]:
    """The body's update of carried param `slot`, the body's other readers of that param and
    the body's kernel positions."""
    body = w.regions[1]
    param = body.params[slot].value
    (update,) = [n for n in _dus_nodes(w) if n.operands[0] is param]
    readers = [n for n in body.nodes if param in n.operands and n is not update]
    return update, readers, {n: i for i, n in enumerate(body.nodes)}


def test_read_of_the_old_value_after_the_update_is_moved_before_it():
    def f(cache, xs):
        def step(c, x):
            new = lax.dynamic_update_slice(c, x[None], (1, 2))
            return new, jnp.sum(c * c)          # reads the old cache, after the update
        return lax.scan(step, cache, xs)
    args = (randn((6, 8)), randn((4, 3)))
    before = compiled_graph(f, *args, stop_after="output_aliasing")
    (w,) = _whiles(before)
    update, readers, pos = _update_and_readers(w, _slot(w, (6, 8)))
    assert readers and all(pos[r] > pos[update] for r in readers)     # jax's order
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    update, readers, pos = _update_and_readers(w, _slot(w, (6, 8)))
    assert readers and all(pos[r] < pos[update] for r in readers)     # re-sorted
    assert _slot(w, (6, 8)) in _in_place_slots(g, w)
    assert update.attrs.get("in_place")
    check_against_jax(f, *args)


def test_read_of_old_and_new_value_keeps_the_copy():
    def f(cache, xs):
        def step(c, x):
            new = lax.dynamic_update_slice(c, x[None], (1, 2))
            return new, jnp.sum(new * c)        # needs both: the update cannot be in place
        return lax.scan(step, cache, xs)
    args = (randn((6, 8)), randn((4, 3)))
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    assert _slot(w, (6, 8)) not in _in_place_slots(g, w)
    update, _, _ = _update_and_readers(w, _slot(w, (6, 8)))
    assert "shares_storage" not in update.attrs and not update.attrs.get("in_place")
    check_against_jax(f, *args)


def test_old_value_carried_on_keeps_the_copy():
    def f(cache, xs):
        def step(c, x):
            cur, prev = c
            return (lax.dynamic_update_slice(cur, x[None], (0, 0)), cur), None
        return lax.scan(step, (cache, cache * 2), xs)[0]
    args = (randn((5, 4)), randn((3, 4)))
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    assert len(_slots(w, (5, 4))) == 2
    assert not set(_slots(w, (5, 4))) & set(_in_place_slots(g, w))
    check_against_jax(f, *args)


def test_two_results_updating_one_param():
    def f(a, b, xs):
        def step(c, x):
            p, _ = c
            return (lax.dynamic_update_slice(p, x[None], (0, 0)),
                    lax.dynamic_update_slice(p, -x[None], (2, 0))), None
        return lax.scan(step, (a, b), xs)[0]
    args = (randn((4, 3)), randn((4, 3)), randn((3, 3)))
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    # only the slot that owns the param, whose update runs after the other one has read it
    p_slot, other_slot = _slots(w, (4, 3))
    assert p_slot in _in_place_slots(g, w) and other_slot not in _in_place_slots(g, w)
    (shared,) = [n for n in _dus_nodes(w) if "shares_storage" in n.attrs]
    body = w.regions[1]
    pos = {n: i for i, n in enumerate(body.nodes)}
    (other,) = [n for n in _dus_nodes(w) if n is not shared]
    assert pos[other] < pos[shared]
    check_against_jax(f, *args)


def test_result_returned_in_two_slots_keeps_the_copies():
    def f(a, xs):
        def step(c, x):
            p, _ = c
            new = lax.dynamic_update_slice(p, x[None], (1, 0))
            return (new, new), None
        return lax.scan(step, (a, a + 1), xs)[0]
    args = (randn((4, 3)), randn((3, 3)))
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    assert not set(_slots(w, (4, 3))) & set(_in_place_slots(g, w))
    check_against_jax(f, *args)


def test_elementwise_reading_a_shifted_view_is_not_in_place():
    def f(a):
        return lax.fori_loop(0, 4, lambda i, c: c * 0.5 + c[::-1], a)     # a reversed view
    args = (randn((8, 4)),)
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    assert _slot(w, (8, 4)) not in _in_place_slots(g, w)
    check_against_jax(f, *args)


def test_elementwise_identity_update_is_in_place():
    def f(a, m):
        return lax.fori_loop(0, 4, lambda i, c: jnp.where(m, c * 0.5 + 1.0, c), a)
    args = (randn((8, 4)), randn((8, 4)) > 0)
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    assert _in_place_slots(g, w) == list(range(len(w.results)))
    check_against_jax(f, *args)


def test_layer_chain_of_updates_in_one_step():
    def f(cache, xs):
        def step(carry, x):
            c, pos = carry
            outs = []
            for layer in range(L):
                k = jnp.sin(x * (layer + 1))
                c = lax.dynamic_update_slice(c, k[None, None], (layer, pos, 0, 0))
                outs.append(jnp.sum(c[layer] * k))          # reads this version
            return (c, pos + 1), jnp.stack(outs)
        return lax.scan(step, (cache, np.int32(0)), xs)
    args = (randn((L, T, H, D)), randn((6, H, D)))
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    assert _slot(w, (L, T, H, D)) in _in_place_slots(g, w)
    assert len([n for n in _dus_nodes(w) if n.attrs.get("in_place")]) >= L
    check_against_jax(f, *args)


def test_nested_layer_loop_inside_the_decode_loop():
    def f(cache, wk, xs):
        def step(carry, x):
            c, pos = carry
            def layer(l, lc):
                c, h = lc
                k = jnp.tanh(h @ wk[l])
                c = lax.dynamic_update_slice(c, k[None, None], (l, pos, 0, 0))
                att = jax.nn.softmax(jnp.einsum("hd,thd->ht", k, c[l]), axis=-1)
                return c, jnp.einsum("ht,thd->hd", att, c[l])
            c, h = lax.fori_loop(0, L, layer, (c, x))
            return (c, pos + 1), h
        return lax.scan(step, (cache, np.int32(2)), xs)
    args = (randn((L, T, H, D)), randn((L, D, D), scale=0.3), randn((5, H, D)))
    g = compiled_graph(f, *args)
    outer, inner = _whiles(g)
    assert inner in outer.regions[1].nodes
    shape = (L, T, H, D)
    assert _slot(outer, shape) in _in_place_slots(g, outer)
    assert _slot(inner, shape) in _in_place_slots(g, inner)
    st = g.attrs["storage"]
    # one storage for the cache through both loops: the inner loop's initial copy is skipped too
    assert st[inner.results[_slot(inner, shape)]] == st[outer.results[_slot(outer, shape)]]
    assert inner.attrs["shares_storage"] == ((_slot(inner, shape), _slot(inner, shape)),)
    check_against_jax(f, *args)


def test_scatter_update_is_in_place():
    def f(table, idx, xs):
        def step(t, x):
            return t.at[idx].add(x), t.sum()      # reads the old table, before the update
        return lax.scan(step, table, xs)
    args = (randn((10, 4)), np.array([1, 7, 3], np.int32), randn((3, 3, 4)))
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    assert _slot(w, (10, 4)) in _in_place_slots(g, w)
    (sc,) = [n for n in w.regions[1].nodes if n.op == "stablehlo.scatter"]
    assert sc.attrs.get("in_place") and sc.attrs["shares_storage"] == ((0, 0),)
    # (numerics: tests/test_loop_inplace.py on the chip; the interpreter has no Scatter)


def test_cond_reads_the_updated_value():
    def f(a, x):
        def body(c):
            i, v = c
            return i + 1, lax.dynamic_update_slice(v, x[None] * (i + 1).astype(jnp.float32), (i % 4, 0))
        return lax.while_loop(lambda c: jnp.sum(c[1]) < 50.0, body, (0, a))
    args = (np.zeros((4, 3), np.float32), np.abs(randn((3,))) + 0.5)
    g = compiled_graph(f, *args)
    (w,) = _whiles(g)
    assert _in_place_slots(g, w) == [0, 1]
    check_against_jax(f, *args)
