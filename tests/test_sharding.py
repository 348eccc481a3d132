"""jax.sharding on one chip: NamedSharding in/out shardings, sharding constraints and shard_map
with collectives (psum, all_gather, ppermute, pmax, psum_scatter, axis_index) compile and match
the cpu backend; the annotations and the single-member collectives are removed by the compiler
(strip_sharding, single_device_collectives). Both partitioners: GSPMD and Shardy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental.shard_map import shard_map
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

RNG = np.random.default_rng(5)


@pytest.fixture(params=[False, True], ids=["gspmd", "shardy"])
def partitioner(request):
    old = jax.config.jax_use_shardy_partitioner
    jax.config.update("jax_use_shardy_partitioner", request.param)
    yield
    jax.config.update("jax_use_shardy_partitioner", old)


def _mesh(platform: str) -> Mesh:
    return Mesh(np.array(jax.devices(platform)[:1]).reshape(1, 1), ("data", "tensor"))


def _on_both(build, x):
    """Runs build(mesh) on a one-device mesh of each platform with x placed by its sharding."""
    outs = []
    for platform in ("chip", "cpu"):
        mesh = _mesh(platform)
        f, sharding = build(mesh)
        outs.append(np.asarray(f(jax.device_put(x, sharding))))
    return outs


def test_named_shardings_and_constraints(partitioner):
    def build(mesh):
        s = NamedSharding(mesh, P("data", "tensor"))
        inner = NamedSharding(mesh, P(None, "tensor"))
        f = jax.jit(lambda x: jax.lax.with_sharding_constraint(jax.nn.gelu(x @ x.T), inner) + 1,
                    in_shardings=s, out_shardings=s)
        return f, s
    got, want = _on_both(build, RNG.standard_normal((8, 8)).astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_shard_map_collectives_on_one_device(partitioner):
    def body(a):
        b = jax.lax.psum(a, "tensor") + jax.lax.axis_index("tensor")
        c = jax.lax.all_gather(b, "data", axis=0, tiled=True)
        d = jax.lax.ppermute(c, "tensor", [(0, 0)])
        e = jax.lax.pmax(d * 2.0, ("data", "tensor"))
        return jax.lax.psum_scatter(e, "tensor", scatter_dimension=1, tiled=True) + jnp.sin(e)

    def build(mesh):
        f = jax.jit(shard_map(body, mesh=mesh, in_specs=P(None, "tensor"),
                              out_specs=P(None, None), check_rep=False))
        return f, NamedSharding(mesh, P(None, "tensor"))
    got, want = _on_both(build, RNG.standard_normal((4, 6)).astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_tensor_parallel_mlp_as_sglang_jax_writes_it(partitioner):
    """Column-parallel up projection, row-parallel down projection with a psum over 'tensor'."""
    def build(mesh):
        def mlp(x, w_up, w_down):
            h = jax.nn.silu(x @ w_up)
            return jax.lax.psum(h @ w_down, "tensor")
        f = jax.jit(shard_map(mlp, mesh=mesh, in_specs=(P(), P(None, "tensor"), P("tensor", None)),
                              out_specs=P()))
        return f, NamedSharding(mesh, P())
    x = RNG.standard_normal((4, 16)).astype(np.float32)
    w_up = RNG.standard_normal((16, 32)).astype(np.float32) * 0.2
    w_down = RNG.standard_normal((32, 16)).astype(np.float32) * 0.2
    outs = []
    for platform in ("chip", "cpu"):
        mesh = _mesh(platform)
        f, s = build(mesh)
        outs.append(np.asarray(f(*jax.device_put((x, w_up, w_down), s))))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)


def test_collective_across_devices_is_a_compile_error():
    from jax_chip.compiler import driver
    from jax_chip.compiler.ir.errors import CompileError
    text = """
    func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
      %0 = "stablehlo.all_reduce"(%x) ({
        ^bb0(%a: tensor<f32>, %b: tensor<f32>):
          %s = stablehlo.add %a, %b : tensor<f32>
          stablehlo.return %s : tensor<f32>
      }) {replica_groups = dense<[[0, 1]]> : tensor<1x2xi64>} : (tensor<4xf32>) -> tensor<4xf32>
      return %0 : tensor<4xf32>
    }"""
    with pytest.raises(CompileError, match="all_reduce over replica groups of 2 devices"):
        driver.compile_program(text, "mlir")
