"""What the chip cannot run fails at compile time with a message naming it and its JAX source
location; malformed programs are rejected with an error, never a crash.

Two paths: jax (which parses the program itself before handing it to the plugin) and the raw PJRT
C API (PJRT_Client_Compile called through ctypes with arbitrary bytes, as any PJRT client may
send them)."""

from __future__ import annotations

import ctypes

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parity import chip

HERE = "test_compile_errors.py"


def _compile_error(f, *args) -> str:
    with pytest.raises(Exception) as info:
        jax.jit(f).lower(*args).compile()
    return str(info.value)


# ---- ops and types the chip cannot run -----------------------------------------------------

def test_op_without_lowering_names_op_and_location():
    msg = _compile_error(lambda x: x * lax.rng_uniform(0.0, 1.0, x.shape), np.ones(8, np.float32))
    assert "stablehlo.rng" in msg and HERE in msg, msg


def test_linear_algebra_op_names_op_and_location():
    # (triangular_solve has a kernel: tests/test_linalg.py; the factorizations do not yet)
    a = np.eye(4, dtype=np.float32) * 2
    msg = _compile_error(lambda a: lax.linalg.cholesky(a), a)
    assert "stablehlo.cholesky" in msg and HERE in msg, msg


def test_sixty_four_bit_value_names_type_op_and_location():
    from jax.experimental import enable_x64
    with enable_x64():
        msg = _compile_error(lambda x: (x.astype(jnp.float64) * 3.0).astype(jnp.float32),
                             np.ones(4, np.float32))
    assert "f64" in msg and "float32" in msg and HERE in msg, msg


def test_sixty_four_bit_integer_names_type_and_location():
    from jax.experimental import enable_x64
    with enable_x64():
        msg = _compile_error(lambda x: jnp.cumsum(x.astype(jnp.int64)).astype(jnp.int32),
                             np.arange(6, dtype=np.int32))
    assert "s64" in msg and "int32" in msg and HERE in msg, msg


def test_complex128_names_type_and_suggests_complex64():
    from jax.experimental import enable_x64
    with enable_x64():
        msg = _compile_error(lambda z: z * 2, np.ones(4, np.complex128))
    assert "c128" in msg and "parameter 0" in msg and "use complex64" in msg, msg


def test_error_code_is_unimplemented_or_invalid_argument():
    with pytest.raises(Exception, match="UNIMPLEMENTED"):
        jax.jit(lambda x: x * lax.rng_uniform(0.0, 1.0, x.shape)).lower(np.ones(8, np.float32)).compile()
    from jax.experimental import enable_x64
    with enable_x64():
        with pytest.raises(Exception, match="INVALID_ARGUMENT"):
            jax.jit(lambda x: x * 2).lower(np.ones(4, np.float64)).compile()


# ---- malformed programs through jax ------------------------------------------------------------

GOOD = """func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = stablehlo.add %x, %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}"""


def _client_compile(code):
    from jax._src.lib import xla_client
    backend = jax.extend.backend.get_backend("chip")
    devices = xla_client.DeviceList(tuple(jax.devices("chip")[:1]))
    return backend.compile_and_load(code, devices, xla_client.CompileOptions())


@pytest.mark.parametrize("code", ["garbage", GOOD[:40], GOOD.replace("add", "frobnicate"),
                                  b"ML\xefR\x00\x01junk"])
def test_malformed_text_through_jax_is_an_error(code):
    with pytest.raises(Exception, match="(?i)error"):
        _client_compile(code)
    # the process is fine afterwards: the plugin still compiles and runs programs
    out = _client_compile(GOOD)
    assert out is not None
    assert np.allclose(jax.jit(lambda x: x + 1)(np.ones(3, np.float32)), 2)


def test_program_without_main_reaches_the_plugin_and_is_rejected():
    with pytest.raises(Exception, match=r"INVALID_ARGUMENT.*no func.func @main"):
        _client_compile("module {}")


# ---- malformed programs through the raw PJRT C API ----------------------------------------------

def _struct(name, fields):
    cls = type(name, (ctypes.Structure,), {"_fields_": [("struct_size", ctypes.c_size_t),
                                                        ("extension_start", ctypes.c_void_p)]
                                           + fields})
    return cls


ErrorDestroy = _struct("ErrorDestroy", [("error", ctypes.c_void_p)])
ErrorMessage = _struct("ErrorMessage", [("error", ctypes.c_void_p), ("message", ctypes.c_char_p),
                                        ("message_size", ctypes.c_size_t)])
ErrorGetCode = _struct("ErrorGetCode", [("error", ctypes.c_void_p), ("code", ctypes.c_int)])
ClientCreate = _struct("ClientCreate", [
    ("create_options", ctypes.c_void_p), ("num_options", ctypes.c_size_t),
    ("kv_get_callback", ctypes.c_void_p), ("kv_get_user_arg", ctypes.c_void_p),
    ("kv_put_callback", ctypes.c_void_p), ("kv_put_user_arg", ctypes.c_void_p),
    ("client", ctypes.c_void_p), ("kv_try_get_callback", ctypes.c_void_p),
    ("kv_try_get_user_arg", ctypes.c_void_p)])
ClientDestroy = _struct("ClientDestroy", [("client", ctypes.c_void_p)])
Program = _struct("Program", [("code", ctypes.c_char_p), ("code_size", ctypes.c_size_t),
                              ("format", ctypes.c_char_p), ("format_size", ctypes.c_size_t)])
ClientCompile = _struct("ClientCompile", [
    ("client", ctypes.c_void_p), ("program", ctypes.POINTER(Program)),
    ("compile_options", ctypes.c_char_p), ("compile_options_size", ctypes.c_size_t),
    ("executable", ctypes.c_void_p)])
ExecutableDestroy = _struct("ExecutableDestroy", [("executable", ctypes.c_void_p)])

# Slots of PJRT_Api's function pointers (fixed by the C API's ABI: fields are only appended).
SLOT = {"Error_Destroy": 0, "Error_Message": 1, "Error_GetCode": 2, "Client_Create": 10,
        "Client_Destroy": 11, "Client_Compile": 20, "LoadedExecutable_Destroy": 50}
HEADER_WORDS = 2 + 3        # struct_size, extension_start, PJRT_Api_Version (3 words)


class RawPjrt:
    """The plugin's C API driven directly (a PJRT client of our own, separate from jax's)."""

    def __init__(self):
        from jax_chip.plugin import library_path
        lib = ctypes.CDLL(str(library_path()))
        lib.GetPjrtApi.restype = ctypes.c_void_p
        self.api = lib.GetPjrtApi()
        create = ClientCreate(ctypes.sizeof(ClientCreate))
        self._check(self._call("Client_Create", create))
        if not create.client:
            raise RuntimeError("PJRT_Client_Create returned no client")
        self.client = create.client

    def _fn(self, name):
        ptrs = ctypes.cast(self.api, ctypes.POINTER(ctypes.c_void_p))
        return ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(ptrs[HEADER_WORDS + SLOT[name]])

    def _call(self, name, args):
        return self._fn(name)(ctypes.addressof(args))

    def _check(self, err):
        if err:
            raise RuntimeError(self._take_error(err))

    def _take_error(self, err) -> str:
        m = ErrorMessage(ctypes.sizeof(ErrorMessage), None, err)
        self._call("Error_Message", m)
        c = ErrorGetCode(ctypes.sizeof(ErrorGetCode), None, err)
        self._call("Error_GetCode", c)
        text = ctypes.string_at(m.message, m.message_size).decode("utf-8", "replace")
        self._call("Error_Destroy", ErrorDestroy(ctypes.sizeof(ErrorDestroy), None, err))
        return f"code {c.code}: {text}"

    def compile(self, code: bytes, fmt: bytes = b"mlir") -> str | None:
        """None on success, else the error (code and message)."""
        program = Program(ctypes.sizeof(Program), None, code, len(code), fmt, len(fmt))
        args = ClientCompile(ctypes.sizeof(ClientCompile), None, self.client,
                             ctypes.pointer(program), b"", 0, None)
        err = self._call("Client_Compile", args)
        if err:
            return self._take_error(err)
        self._call("LoadedExecutable_Destroy",
                   ExecutableDestroy(ctypes.sizeof(ExecutableDestroy), None, args.executable))
        return None

    def close(self):
        self._call("Client_Destroy", ClientDestroy(ctypes.sizeof(ClientDestroy), None,
                                                   self.client))


@pytest.fixture(scope="module")
def raw():
    chip()                   # jax has loaded and initialized the plugin (and its Python bridge)
    r = RawPjrt()
    yield r
    r.close()


INVALID_ARGUMENT = 3


def test_raw_compile_of_good_text_works(raw):
    assert raw.compile(GOOD.encode()) is None


@pytest.mark.parametrize("code, needle", [
    (b"garbage", "malformed StableHLO text"),
    (GOOD[:40].encode(), "malformed StableHLO text"),
    (GOOD[:-3].encode(), "malformed StableHLO text"),
    (GOOD.replace("add", "frobnicate").encode(), "malformed StableHLO text"),
    (b"", "program is empty"),
    (b"   \n", "empty program"),
    (b"ML\xefR\x00\x01junk", "malformed StableHLO bytecode"),
    (bytes(range(256)), "malformed program"),
    (b"\xff\xfe\x00garbage", "malformed program"),
])
def test_raw_compile_of_malformed_programs_is_an_error(raw, code, needle):
    err = raw.compile(code)
    assert err is not None and err.startswith(f"code {INVALID_ARGUMENT}:"), err
    assert needle in err, err
    assert raw.compile(GOOD.encode()) is None      # still alive and compiling


def test_raw_compile_of_truncated_bytecode_is_an_error(raw):
    lowered = jax.jit(lambda x: jnp.tanh(x) * 2).lower(np.ones(8, np.float32))
    from jax._src.interpreters import mlir as jax_mlir
    data = jax_mlir.module_to_bytecode(lowered.compiler_ir("stablehlo"))
    assert raw.compile(data) is None
    for cut in (len(data) // 2, len(data) - 7, 12):
        err = raw.compile(data[:cut])
        assert err is not None and "malformed" in err, err


def test_raw_compile_with_unknown_format_is_an_error(raw):
    err = raw.compile(GOOD.encode(), b"hlo")
    assert err is not None and "format 'hlo'" in err and "mlir" in err, err
