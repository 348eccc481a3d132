"""SRAM placement (xla_passes/sram_placement.py): the arena's first sram_bytes are the on-chip
SRAM; kernel bytes to and from temporaries placed there are SRAM bytes, the rest HBM."""

from __future__ import annotations

import jax.numpy as jnp
from .helpers import compiled_graph, randn

from jax_chip.compiler.ir.context import CompileOptions
from jax_chip.compiler.kernels.registry import is_kernel
from xla_passes.cost_annotation import total


def mlp(x, w1, w2):
    h = jnp.tanh(x @ w1)
    return jnp.tanh(h @ w2) @ w2.T


ARGS = (randn((64, 128)), randn((128, 256)), randn((256, 128)))


def _moved(c):
    return c.bytes_read + c.bytes_written + c.sram_bytes_read + c.sram_bytes_written


def test_temporaries_in_sram_parameters_and_outputs_in_hbm():
    g = compiled_graph(mlp, *ARGS)
    storage = g.attrs["storage"]
    kernels = [n for n in g.walk() if is_kernel(n) and n.attrs.get("cost") is not None]
    assert kernels
    for n in kernels:
        c = n.attrs["cost"]
        temps_written = sum(r.type.nbytes for r in n.results if storage[r][0] == "TEMP")
        outs_written = sum(r.type.nbytes for r in n.results if storage[r][0] != "TEMP")
        assert c.sram_bytes_written == temps_written, n
        assert c.bytes_written == outs_written, n
        # every parameter (weights, x) is read from HBM
        params_read = sum(o.type.nbytes for o in n.operands if storage[o][0] == "PARAMETER")
        assert c.bytes_read >= min(params_read, c.bytes_read + c.sram_bytes_read) - 1e-6, n
    t = total(g)
    assert t.sram_bytes_read > 0 and t.sram_bytes_written > 0


def test_bytes_moved_are_conserved_and_no_sram_means_all_hbm():
    with_sram, without = compiled_graph(mlp, *ARGS), compiled_graph(mlp, *ARGS,
                                                                      chip={"sram_bytes": 0})
    a, b = total(with_sram), total(without)
    assert b.sram_bytes_read == b.sram_bytes_written == 0
    assert abs(_moved(a) - _moved(b)) < 1e-6 * _moved(b)
    assert a.bytes_read + a.bytes_written < b.bytes_read + b.bytes_written


def test_only_slots_below_sram_bytes_are_on_chip():
    """A small SRAM holds the temporaries whose whole slot lies below it; memory planning's
    packing keeps more of them there than one slot per temporary does."""
    sram = 96 << 10
    planned = compiled_graph(mlp, *ARGS, chip={"sram_bytes": sram})
    unplanned = compiled_graph(mlp, *ARGS, chip={"sram_bytes": sram},
                               options=CompileOptions(memory_reuse=False))
    storage = planned.attrs["storage"]
    for n in planned.walk():
        c = n.attrs.get("cost")
        if not is_kernel(n) or c is None:
            continue
        on_chip = sum(r.type.nbytes for r in n.results
                      if storage[r][0] == "TEMP" and storage[r][1] + r.type.nbytes <= sram)
        assert c.sram_bytes_written == on_chip, n
    p, u = total(planned), total(unplanned)
    assert p.sram_bytes_written > u.sram_bytes_written
    assert abs(_moved(p) - _moved(u)) < 1e-6 * _moved(u)
