"""emit + inspect_executable: the FlatBuffer round-trips and follows the schema's rules."""

import subprocess
import sys

import jax.numpy as jnp
import numpy as np

from .helpers import compile_fn, randn, transformer_args, transformer_block
from jax_chip.compiler.backend import emit
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.backend.inspect_executable import constant_offsets, dump, read_executable


def test_round_trip_is_lossless():
    data = compile_fn(transformer_block, *transformer_args())
    exe = read_executable(data)
    again = emit.serialize(exe)
    assert read_executable(again) == exe
    assert data[4:8] == b"CHPX"
    assert exe.format_version == 1 and exe.compiler_version
    assert len(exe.fingerprint) == 64


def test_float_constants_round_trip_and_share_by_bits():
    """NaN (jnp.take's fill value) and -0.0 constants: the executable reads back equal, NaN
    constants are shared, -0.0 stays apart from 0.0, and imm_i stays 0 (the schema's rule)."""
    f = lambda x: (jnp.where(x > 0, x, jnp.nan) * jnp.where(x < 1, x, jnp.nan)
                   + x * -0.0 + x * 0.0)
    exe = read_executable(compile_fn(f, randn((8,))))
    assert read_executable(emit.serialize(exe)) == exe
    assert len(exe.kernels) == 1
    consts = [i for i in exe.kernels[0].op.instrs if i.op == "CONST"]
    bits = sorted(np.float64(i.imm_f).view(np.int64) for i in consts)
    assert len(consts) == len(set(bits)) and all(i.imm_i == 0 for i in consts)
    assert {np.float64(-0.0).view(np.int64), np.float64(0.0).view(np.int64)} <= set(bits)
    assert sum(np.isnan(i.imm_f) for i in consts) == 1


def test_fingerprint_is_stable_and_input_dependent():
    f = lambda x: x + 1
    a = read_executable(compile_fn(f, randn((4,))))
    b = read_executable(compile_fn(f, randn((4,))))
    c = read_executable(compile_fn(f, randn((5,))))
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_constants_are_64_byte_aligned():
    c1 = np.linspace(0, 1, 7, dtype=np.float32)
    c2 = np.arange(5, dtype=np.int8)
    f = lambda x, y: (x @ jnp.asarray(np.outer(c1, c1)), y + jnp.asarray(c2))
    data = compile_fn(f, randn((3, 7)), randn((5,), np.int8))
    offsets = constant_offsets(data)
    assert len(offsets) == 2 and all(o % 64 == 0 for o in offsets)
    exe = read_executable(data)
    datas = sorted(exe.constants, key=len)
    assert datas[0] == c2.tobytes() and datas[1] == np.outer(c1, c1).astype(np.float32).tobytes()


def test_value_and_kernel_indices_are_in_range():
    exe = read_executable(compile_fn(transformer_block, *transformer_args()))
    n = len(exe.values)
    for k in exe.kernels:
        assert all(0 <= i < n for i in k.inputs + k.outputs)
    names = [k.name for k in exe.kernels]
    assert len(set(names)) == len(names)
    for v in exe.values:
        if v.storage == "TEMP":
            assert v.index % 64 == 0 and v.index + v.type.nbytes <= exe.arena_bytes
        if v.storage == "CONSTANT":
            assert len(exe.constants[v.index]) == v.type.nbytes


def test_instr_struct_layout():
    exe = read_executable(compile_fn(lambda x: jnp.exp(x) + 2.5, randn((3,))))
    ops = [(i.op, i.dtype) for i in exe.kernels[0].op.instrs]
    assert ("EXP", "f32") in ops and ("CONST", "f32") in ops
    const = [i for i in exe.kernels[0].op.instrs if i.op == "CONST"][0]
    assert const.imm_f == 2.5 and const.imm_i == 0
    assert fb.EwOp.EwOp.ERF == 51


def test_dump_and_cli(tmp_path):
    data = compile_fn(lambda a, b: jnp.tanh(a @ b), randn((4, 8)), randn((8, 2)))
    text = dump(read_executable(data))
    assert "DotGeneral" in text and "TANH" in text and "arena_bytes" in text
    path = tmp_path / "prog.chipx"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-m", "jax_chip.compiler.backend.inspect_executable", str(path)],
                         capture_output=True, text=True, check=True)
    assert "kernels (2)" in out.stdout
    bad = tmp_path / "bad.chipx"
    bad.write_bytes(b"not an executable")
    res = subprocess.run([sys.executable, "-m", "jax_chip.compiler.backend.inspect_executable", str(bad)],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "CHPX" in res.stderr
