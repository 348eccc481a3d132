"""XLA's SPMD partitioner behind a jaxlib cpu client (frontend/spmd_partition.py): programs jax
lowers with NamedSharding over 2- and 8-device meshes (GSPMD and Shardy annotations, a sharding
constraint, shard_map with collectives) become one per-device StableHLO module with per-device
shapes and explicit collectives, which the chip's frontend reads."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest
from jaxlib import xla_client
from jaxlib.mlir import ir

from jax_chip.compiler import driver
from jax_chip.compiler.backend.inspect_executable import dump, read_executable
from jax_chip.compiler.frontend import parse, spmd_partition
from jax_chip.compiler.ir.errors import CompileError
from subproc import run_python

# Lowered in a process of its own: the test process's jax has one cpu device.
LOWER = r"""
import pathlib, sys
import numpy as np
import jax, jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
from jax.experimental.shard_map import shard_map
from jax._src.interpreters import mlir
out = pathlib.Path(sys.argv[1])
f32 = lambda *s: jax.ShapeDtypeStruct(s, jnp.float32)

def save(name, lowered):
    (out / f"{name}.mlirbc").write_bytes(mlir.module_to_bytecode(lowered.compiler_ir("stablehlo")))

mesh = jax.make_mesh((2,), ("x",))
row = lambda a, b: jnp.tanh(a @ b)
for shardy in (False, True):
    jax.config.update("jax_use_shardy_partitioner", shardy)
    tag = "sdy" if shardy else "gspmd"
    save(f"row_parallel_{tag}", jax.jit(
        row, in_shardings=(NamedSharding(mesh, P(None, "x")), NamedSharding(mesh, P("x", None))),
        out_shardings=NamedSharding(mesh, P())).lower(f32(8, 16), f32(16, 4)))
    save(f"column_parallel_{tag}", jax.jit(
        lambda a, b: jax.lax.with_sharding_constraint(jnp.tanh(a @ b), NamedSharding(mesh, P(None, "x"))),
        in_shardings=(NamedSharding(mesh, P()), NamedSharding(mesh, P(None, "x"))),
        out_shardings=NamedSharding(mesh, P(None, "x"))).lower(f32(8, 16), f32(16, 4)))
jax.config.update("jax_use_shardy_partitioner", False)

c = np.random.RandomState(0).randn(64, 32).astype(np.float32)
np.save(out / "constant.npy", c)
save("constant", jax.jit(lambda a: a @ c, in_shardings=NamedSharding(mesh, P("x", None)),
                         out_shardings=NamedSharding(mesh, P("x", None))).lower(f32(8, 64)))

heads = NamedSharding(mesh, P(None, "x", None))
kv = jax.ShapeDtypeStruct((64, 8, 16), jnp.bfloat16)
save("kv_update", jax.jit(
    lambda k, v, new, pos: (pos + 1, jax.lax.dynamic_update_slice(k, new, (pos, 0, 0)),
                            jax.lax.dynamic_update_slice(v, new, (pos, 0, 0))),
    in_shardings=(heads, heads, heads, NamedSharding(mesh, P())),
    out_shardings=(NamedSharding(mesh, P()), heads, heads), donate_argnums=(0, 1)).lower(
        kv, kv, jax.ShapeDtypeStruct((1, 8, 16), jnp.bfloat16), jax.ShapeDtypeStruct((), jnp.int32)))

attn = lambda q, k: jax.ffi.ffi_call("chip.attention_decode",
                                     jax.ShapeDtypeStruct(q.shape, q.dtype))(q, k)
qk = jax.ShapeDtypeStruct((4, 8, 16), jnp.float32)
save("custom_call", jax.jit(lambda q, k: attn(q * 2, k) + 1, in_shardings=(heads, heads),
                            out_shardings=heads).lower(qk, qk))
save("custom_call_shard_map", jax.jit(shard_map(
    attn, mesh=mesh, in_specs=(P(None, "x", None),) * 2, out_specs=P(None, "x", None))).lower(qk, qk))

mesh2 = jax.make_mesh((2, 4), ("a", "b"))
def body(x):
    s = jax.lax.psum(x, "a")
    g = jax.lax.all_gather(x, "b", tiled=True)
    rs = jax.lax.psum_scatter(x, "b", scatter_dimension=1, tiled=True)
    t = jax.lax.all_to_all(x, "b", 1, 1, tiled=True)
    p = jax.lax.ppermute(x, "b", [(0, 1), (1, 2), (2, 3), (3, 0)])
    i = jax.lax.axis_index("b").astype(jnp.float32)
    return s.sum() + g.sum() + rs.sum() + t.sum() + p.sum() + i
for shardy in (False, True):
    jax.config.update("jax_use_shardy_partitioner", shardy)
    save(f"shard_map_{'sdy' if shardy else 'gspmd'}", jax.jit(shard_map(
        lambda x: body(x)[None, None], mesh=mesh2, in_specs=P("a", "b"),
        out_specs=P("a", "b"))).lower(f32(8, 16)))
"""


@pytest.fixture(scope="module")
def lowered(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("spmd")
    run_python(f"import sys; sys.argv = ['lower', {str(out)!r}]\n" + LOWER,
               env={"JAX_PLATFORMS": "cpu",
                    "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}, timeout=240)
    return out


def _partition(lowered: pathlib.Path, name: str, partitions: int, shardy: bool = False,
               propagate_to_output: bool = False):
    code = (lowered / f"{name}.mlirbc").read_bytes()
    # options without use_shardy_partitioner: partition() finds Shardy programs by their sdy.mesh
    options = spmd_partition.compile_options(partitions, propagate_to_output=propagate_to_output)
    result = spmd_partition.partition(code, options)
    assert result.shardy == shardy
    return result


def _main(result) -> tuple[parse.ParsedProgram, list[ir.Operation]]:
    """The per-device program through the chip's own frontend, and main's ops."""
    parsed = parse.parse_program(result.stablehlo, "mlir")
    with parsed.context:
        main = next(op for op in parsed.module.body.operations
                    if ir.StringAttr(op.attributes["sym_name"]).value == "main")
        ops = list(main.regions[0].blocks[0].operations)
    return parsed, ops


def _types(values) -> list[str]:
    return [str(v.type) for v in values]


def _groups(op: ir.Operation, key: str = "replica_groups") -> list[list[int]]:
    return np.array(ir.DenseElementsAttr(op.attributes[key])).tolist()


@pytest.mark.parametrize("tag", ["gspmd", "sdy"])
def test_row_parallel_matmul_is_a_local_dot_and_an_all_reduce(lowered, tag):
    result = _partition(lowered, f"row_parallel_{tag}", 2, shardy=tag == "sdy")
    parsed, ops = _main(result)
    with parsed.context:
        names = [op.name for op in ops]
        assert names.count("stablehlo.all_reduce") == 1, names
        dot = next(op for op in ops if op.name in ("stablehlo.dot", "stablehlo.dot_general"))
        assert _types(dot.operands) == ["tensor<8x8xf32>", "tensor<8x4xf32>"]
        all_reduce = next(op for op in ops if op.name == "stablehlo.all_reduce")
        assert all_reduce.operands[0] == dot.results[0]
        assert _groups(all_reduce) == [[0, 1]]
        body = [o.name for o in all_reduce.regions[0].blocks[0].operations]
        assert body[0] == "stablehlo.add"
        # the output is replicated: full shape on every device, computed after the all-reduce
        ret = ops[-1]
        assert _types(ret.operands) == ["tensor<8x4xf32>"]
        assert ret.operands[0].owner.name == "stablehlo.tanh"
        assert ret.operands[0].owner.operands[0] == all_reduce.results[0]
        assert '"{replicated}"' in str(parsed.module.operation.attributes["mhlo.spmd_output_sharding"])
    # what a plugin's PJRT_Executable_OptimizedProgram would hand jax (it reads the shardings)
    module = xla_client.XlaComputation(result.hlo_module_proto).get_hlo_module()
    assert module.spmd_output_sharding.type == xla_client.OpSharding.Type.REPLICATED
    assert [list(s.tile_assignment_dimensions) for s in module.spmd_parameters_shardings] == \
        [[1, 2], [2, 1]]


@pytest.mark.parametrize("tag", ["gspmd", "sdy"])
def test_column_parallel_matmul_needs_no_collective(lowered, tag):
    result = _partition(lowered, f"column_parallel_{tag}", 2, shardy=tag == "sdy")
    parsed, ops = _main(result)
    with parsed.context:
        assert not [op.name for op in ops if re.search(r"all_|collective|reduce_scatter", op.name)]
        dot = next(op for op in ops if op.name in ("stablehlo.dot", "stablehlo.dot_general"))
        assert _types(dot.operands) == ["tensor<8x16xf32>", "tensor<16x2xf32>"]
        assert _types(ops[-1].operands) == ["tensor<8x2xf32>"]
        # the sharding constraint's copy is gone: the frontend reads the module
        assert "mhlo.copy" not in parsed.text()


def test_the_chip_compiler_reads_the_per_device_program(lowered):
    """Without collectives the per-device program compiles for one chip as it is, with the
    parameters' per-device shapes; with one, the single-device compiler names the collective
    and the user's source line (the partitioner keeps jax's locations)."""
    column = _partition(lowered, "column_parallel_gspmd", 2)
    text = dump(read_executable(driver.compile_program(column.stablehlo, "mlir")))
    assert re.search(r"f32\[8,16\] PARAMETER\[0\]", text)
    assert re.search(r"f32\[16,2\] PARAMETER\[1\]", text)
    row = _partition(lowered, "row_parallel_gspmd", 2)
    # the line of `row = lambda ...` in the lowering script (run with one line in front of it)
    line = 1 + next(i for i, text in enumerate(LOWER.splitlines(), 1) if text.startswith("row ="))
    with pytest.raises(CompileError, match=rf"stablehlo.all_reduce over replica groups of 2 "
                                           rf"devices.*\(at <string>:{line} in <lambda>\)"):
        driver.compile_program(row.stablehlo, "mlir")


def test_a_kv_cache_sharded_by_heads_stays_donated(lowered):
    """XLA returns donation as the module's mhlo.input_output_alias; the per-device program has
    it back as tf.aliasing_output, so the caches are updated in place on every chip."""
    result = _partition(lowered, "kv_update", 2)
    text = dump(read_executable(driver.compile_program(result.stablehlo, "mlir")))
    assert re.search(r"parameter 0: v\d+ bf16\[64,4,16\] aliased_output=1", text), text
    assert re.search(r"parameter 1: v\d+ bf16\[64,4,16\] aliased_output=2", text), text


def test_a_custom_call_without_a_rule_is_reported(lowered):
    """XLA's partitioner runs a custom call it has no rule for replicated (operands
    all-gathered); replicated_custom_calls names it, its operand shardings and the user's line.
    Inside shard_map the call is on per-device shapes already and is not reported."""
    result = _partition(lowered, "custom_call", 2)
    _, ops = _main(result)
    call = next(op for op in ops if op.name == "stablehlo.custom_call")
    assert _types(call.operands) == ["tensor<4x8x16xf32>"] * 2       # gathered: replicated
    # the ffi_call's line in the lowering script (run with one line in front of it)
    line = 1 + next(i for i, text in enumerate(LOWER.splitlines(), 1)
                    if text.startswith("attn = lambda"))
    (message,) = spmd_partition.replicated_custom_calls(result)
    assert re.search(r"custom_call @chip.attention_decode with operands sharded as "
                     r"\[tensor<4x8x16xf32> \{devices=\[1,2,1\]<=\[2\]\}, "
                     r"tensor<4x8x16xf32> \{devices=\[1,2,1\]<=\[2\]\}\] has no partitioning "
                     rf"rule.*\(at <string>:{line} in <lambda>\)", message), message

    manual = _partition(lowered, "custom_call_shard_map", 2)
    _, ops = _main(manual)
    call = next(op for op in ops if op.name == "stablehlo.custom_call")
    assert _types(call.operands) == ["tensor<4x4x16xf32>"] * 2
    assert spmd_partition.replicated_custom_calls(manual) == []


def test_large_constants_survive_exactly(lowered):
    """The dump read back is the HloProto: text dumps elide large constants as {...}."""
    result = _partition(lowered, "constant", 2)
    assert "{...}" in result.hlo
    expected = np.load(lowered / "constant.npy")
    parsed, ops = _main(result)
    with parsed.context:
        constants = [np.array(ir.DenseElementsAttr(op.attributes["value"]))
                     for op in ops if op.name == "stablehlo.constant"]
    assert any(c.shape == expected.shape and np.array_equal(c, expected) for c in constants)


@pytest.mark.parametrize("tag", ["gspmd", "sdy"])
def test_shard_map_collectives_over_a_2d_mesh(lowered, tag):
    result = _partition(lowered, f"shard_map_{tag}", 8, shardy=tag == "sdy")
    parsed, ops = _main(result)
    with parsed.context:
        by_name: dict[str, list[ir.Operation]] = {}
        for op in ops:
            by_name.setdefault(op.name, []).append(op)
        assert "mhlo.copy" not in parsed.text()
        rows, cols = [[0, 1, 2, 3], [4, 5, 6, 7]], [[0, 4], [1, 5], [2, 6], [3, 7]]
        (psum,) = by_name["stablehlo.all_reduce"]
        assert _groups(psum) == cols and _types(psum.operands) == ["tensor<4x4xf32>"]
        (gather,) = by_name["stablehlo.all_gather"]
        assert _groups(gather) == rows and _types(gather.results) == ["tensor<16x4xf32>"]
        (scatter,) = by_name["stablehlo.reduce_scatter"]
        assert _groups(scatter) == rows and _types(scatter.results) == ["tensor<4x1xf32>"]
        (a2a,) = by_name["stablehlo.all_to_all"]
        assert _groups(a2a) == rows and _types(a2a.results) == ["tensor<4x4xf32>"]
        (perm,) = by_name["stablehlo.collective_permute"]
        assert sorted(map(tuple, _groups(perm, "source_target_pairs"))) == sorted(
            [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4)])
        assert "stablehlo.partition_id" in by_name      # axis_index
        assert _types(ops[-1].operands) == ["tensor<1x1xf32>"]


def test_partitioner_error_is_a_compile_error():
    text = """module @bad attributes {mhlo.num_partitions = 2 : i32} {
      func.func public @main(%arg0: tensor<8xf32> {mhlo.sharding = "{devices=[4]<=[4]}"}) -> tensor<8xf32> {
        return %arg0 : tensor<8xf32>
      }
    }"""
    with pytest.raises(CompileError, match="partition"):
        spmd_partition.partition(text, spmd_partition.compile_options(2))
