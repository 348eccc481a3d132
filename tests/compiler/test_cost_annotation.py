"""cost_annotation: KernelCost values per kernel."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from .helpers import compile_fn, compiled_graph, randn
from jax_chip.compiler.ir.context import DEFAULT_CHIP_CONFIG, PassContext
from jax_chip.compiler.backend.inspect_executable import read_executable
from jax_chip.compiler.kernels.dot_general import pad


def costs(f, *args):
    exe = read_executable(compile_fn(f, *args))
    return [(k.op_type, k.cost) for k in exe.kernels]


def test_dot_flops_are_padded():
    ((kind, c),) = costs(lambda a, b: a @ b, randn((5, 200)), randn((200, 130)))
    assert kind == "DotGeneral"
    assert c.matrix_flops == 2 * 8 * 256 * 256      # M 5->8, N 130->256, K 200->256
    assert c.matrix_dtype == "f32"
    assert c.bytes_read == (5 * 200 + 200 * 130) * 4 and c.bytes_written == 5 * 130 * 4
    assert c.vector_flops == 0


def test_batched_bf16_dot():
    f = lambda a, b: jnp.einsum("bmk,bkn->bmn", a, b)
    ((_, c),) = costs(f, randn((3, 16, 64), ml_dtypes.bfloat16),
                      randn((3, 64, 128), ml_dtypes.bfloat16))
    assert c.matrix_flops == 2 * 3 * 16 * 128 * 128
    assert c.matrix_dtype == "bf16"


def test_int8_dot_dtype():
    f = lambda a, b: jax.lax.dot(a, b, preferred_element_type=jnp.int32)
    ((_, c),) = costs(f, randn((8, 128), np.int8), randn((128, 128), np.int8))
    assert c.matrix_dtype == "s8" and c.matrix_flops == 2 * 8 * 128 * 128


def test_matrix_tile_comes_from_the_chip_config():
    g = compiled_graph(lambda a, b: a @ b, randn((8, 100)), randn((100, 100)),
                       stop_after="memory_planning")
    from xla_passes import cost_annotation
    ctx = PassContext(dict(DEFAULT_CHIP_CONFIG, matrix_tile=64))
    cost_annotation.run(g, ctx)
    (dot,) = [n for n in g.nodes if n.op == "stablehlo.dot_general"]
    assert dot.attrs["cost"].matrix_flops == 2 * 8 * 128 * 128   # 100 -> 128 with 64-tiles


def test_elementwise_flops_and_transcendentals():
    ((kind, c),) = costs(lambda x, y: jnp.exp(x) * y + 1.0, randn((4, 8)), randn((4, 8)))
    assert kind == "Elementwise"
    assert c.transcendentals == 32            # exp
    assert c.vector_flops == 2 * 32           # mul, add
    assert c.bytes_read == 2 * 32 * 4 and c.bytes_written == 32 * 4


def test_broadcast_view_reads_input_once():
    ((_, c),) = costs(lambda x, b: x + b[None, :], randn((64, 32)), randn((32,)))
    assert c.bytes_read == (64 * 32 + 32) * 4


def test_slice_reads_only_its_part():
    ((_, c),) = costs(lambda x: jax.lax.slice(x, (0, 0), (4, 8)) * 2.0, randn((16, 32)))
    assert c.bytes_read == 4 * 8 * 4


def test_reduce_and_copy_costs():
    kinds = costs(lambda x: (jnp.sum(x, axis=1), x), randn((6, 10)))
    (red,) = [c for k, c in kinds if k == "Reduce"]
    assert red.vector_flops == 60 and red.bytes_read == 60 * 4 + 4 and red.bytes_written == 24
    (cp,) = [c for k, c in kinds if k == "Copy"]
    assert cp.bytes_read == cp.bytes_written == 240


def test_pad():
    assert [pad(x, 8) for x in (0, 1, 8, 9)] == [0, 8, 8, 16]
