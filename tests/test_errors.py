"""Bad input gets a clear error that names what was wrong, never a crash."""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parity import chip


def test_unsupported_op_names_op_and_source_location():
    def uses_rng(x):
        return x * lax.rng_uniform(0.0, 1.0, x.shape)      # stablehlo.rng has no chip lowering

    with pytest.raises(Exception) as info:
        jax.jit(uses_rng)(jnp.ones((8,), jnp.float32)).block_until_ready()
    msg = str(info.value)
    assert "stablehlo.rng" in msg
    assert "test_errors.py" in msg, f"no source location in: {msg}"


def test_64bit_types_rejected_with_suggestion():
    from jax.experimental import enable_x64
    with enable_x64():
        with pytest.raises(Exception) as info:
            jax.jit(lambda x: x * 2)(np.ones(4, np.float64)).block_until_ready()
    msg = str(info.value)
    assert "f64" in msg or "float64" in msg
    assert "32" in msg, msg


def test_64bit_host_buffer_rejected():
    from jax.experimental import enable_x64
    with enable_x64():
        with pytest.raises(Exception, match="(?i)int64|s64|64-bit"):
            jax.device_put(np.ones(3, np.int64), chip()).block_until_ready()


def test_malformed_executable_rejected():
    backend = jax.extend.backend.get_backend("chip")
    opts = jax._src.lib.xla_client.CompileOptions()
    for junk in (b"", b"CHPX" * 8, bytes(range(256)) * 4):
        with pytest.raises(Exception, match="(?i)INVALID_ARGUMENT.*(chip executable|flatbuffer)"):
            backend.deserialize_executable(junk, jax.devices("chip")[:1], opts)


def test_wrong_version_executable_rejected():
    backend = jax.extend.backend.get_backend("chip")
    exe = jax.jit(lambda x: x + 1).lower(jnp.ones(3)).compile()
    blob = bytearray(backend.serialize_executable(exe.runtime_executable()))
    # Serialized: the FlatBuffer and its 16-byte seal (docs/executable-format.md); a different
    # version is a different FlatBuffer, so the test patches the bare FlatBuffer.
    assert blob[-8:] == b"CHIPSEAL"
    blob = blob[:-16]
    import flatbuffers
    root = flatbuffers.table.Table(blob, flatbuffers.encode.Get(flatbuffers.packer.uoffset, blob, 0))
    field = root.Offset(4)                    # vtable slot of Executable.format_version (field 0)
    assert field, "format_version must be stored"
    off = root.Pos + field
    assert int.from_bytes(blob[off:off + 4], "little") == 1
    opts = jax._src.lib.xla_client.CompileOptions()
    good = backend.deserialize_executable(bytes(blob), jax.devices("chip")[:1], opts)
    assert good is not None                   # the untouched executable loads
    blob[off:off + 4] = (999).to_bytes(4, "little")
    with pytest.raises(Exception, match="version"):
        backend.deserialize_executable(bytes(blob), jax.devices("chip")[:1],
                                       jax._src.lib.xla_client.CompileOptions())
