"""output_aliasing: outputs are written by exactly one kernel; donated parameters are never read
after their output is written. The reference interpreter shares a donated parameter's buffer
with its aliased output, so breaking the rule gives wrong numbers."""

import jax.numpy as jnp
import numpy as np

from .helpers import check_against_jax, compile_fn, compiled_graph, kernel_types, randn
from .reference_interpreter import execute


def _output_writers(exe):
    writers = {}
    for k in exe.kernels:
        for v in k.outputs:
            writers.setdefault(v, []).append(k.name)
    return writers


def _check_rules(exe):
    writers = _output_writers(exe)
    for j, o in enumerate(exe.outputs):
        v = exe.values[o.value]
        if v.storage == "PARAMETER":
            assert o.aliased_parameter == v.index     # in place, no kernel
            assert o.value not in writers
        else:
            assert v.storage == "OUTPUT" and v.index == j
            assert len(writers[o.value]) == 1
    for j, o in enumerate(exe.outputs):
        p = o.aliased_parameter
        if p < 0 or exe.values[o.value].storage == "PARAMETER":
            continue
        (writer,) = writers[o.value]
        w = [k.name for k in exe.kernels].index(writer)
        param_vals = {i for i, v in enumerate(exe.values)
                      if v.storage == "PARAMETER" and v.index == p}
        for i, k in enumerate(exe.kernels):
            if i > w:
                assert not param_vals & set(k.inputs), f"{k.name} reads donated parameter {p}"


def test_donated_elementwise_update_is_in_place():
    f = lambda x, y: x * 2.0 + y
    exe = check_against_jax(f, randn((4, 8)), randn((4, 8)), donate_argnums=(0,))
    assert kernel_types(exe) == ["Elementwise"]
    assert exe.outputs[0].aliased_parameter == 0
    _check_rules(exe)


def test_donated_parameter_returned_unchanged_needs_no_kernel():
    f = lambda x, y: (x, y + 1.0)
    exe = check_against_jax(f, randn((4,)), randn((4,)), donate_argnums=(0,))
    assert kernel_types(exe) == ["Elementwise"]
    assert exe.values[exe.outputs[0].value].storage == "PARAMETER"
    _check_rules(exe)


def test_transposed_read_of_donated_parameter_goes_through_a_temp():
    f = lambda x: x.T * 2.0
    exe = check_against_jax(f, randn((8, 8)), donate_argnums=(0,))
    assert kernel_types(exe) == ["Elementwise", "Copy"]
    _check_rules(exe)


def test_dot_reading_donated_parameter():
    f = lambda x, w: x @ w
    exe = check_against_jax(f, randn((8, 8)), randn((8, 8)), donate_argnums=(0,))
    assert kernel_types(exe) == ["DotGeneral", "Copy"]
    _check_rules(exe)


def test_later_reader_forces_copy():
    def f(x, w):
        y = x + 1.0               # could be written in place...
        return y, jnp.sum(x @ w)  # ...but x is read later by the dot
    exe = check_against_jax(f, randn((8, 8)), randn((8, 8)), donate_argnums=(0,))
    _check_rules(exe)


def test_swapped_donated_outputs():
    f = lambda a, b: (b, a)
    a, b = randn((3, 5)), randn((3, 5))
    data = compile_fn(f, a, b, donate_argnums=(0, 1))
    from jax_chip.compiler.backend.inspect_executable import read_executable
    exe = read_executable(data)
    assert [o.aliased_parameter for o in exe.outputs] == [0, 1]
    ga, gb = execute(exe, [a, b])
    np.testing.assert_array_equal(ga, b)
    np.testing.assert_array_equal(gb, a)
    _check_rules(exe)


def test_kv_cache_style_update():
    def f(cache, new, w):
        h = new @ w
        return cache * 0.5 + jnp.broadcast_to(h[None], cache.shape), h
    exe = check_against_jax(f, randn((4, 6, 8)), randn((6, 8)), randn((8, 8)),
                            donate_argnums=(0,))
    _check_rules(exe)


def test_parameter_constant_and_repeated_outputs_get_copies():
    def f(x, y):
        z = x * y
        return z, x, z, jnp.float32(3.0) * jnp.ones((2,)), z.reshape(-1), x.reshape(-1)
    exe = check_against_jax(f, randn((3, 4)), randn((3, 4)))
    # copies: x, the second z, reshape(x); the splat constant becomes a broadcast kernel and
    # reshape(z) an output of z's fusion, both writing their outputs directly
    assert kernel_types(exe).count("Copy") == 3
    _check_rules(exe)


def test_reshape_of_donated_parameter_read_after_write():
    def f(x):
        return x + 1.0, jnp.sum(x.reshape(-1) * 2.0)
    exe = check_against_jax(f, randn((4, 4)), donate_argnums=(0,))
    _check_rules(exe)


def test_graph_level_copy_nodes():
    g = compiled_graph(lambda x: (x, x), randn((2,)), stop_after="output_aliasing")
    assert [n.op for n in g.nodes] == ["chip.copy", "chip.copy"]
