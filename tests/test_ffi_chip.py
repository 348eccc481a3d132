"""User XLA FFI handlers on the chip: jax.ffi.register_ffi_target(..., platform="chip") and
jax.ffi.ffi_call run a C++ handler (built here against jax.ffi.include_dir()) as a CustomCall
kernel: typed attributes (scalars, strings, arrays), in-place outputs, handler errors, and
unknown targets."""

from __future__ import annotations

import ctypes
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity import chip

HANDLERS = r"""
#include <cstring>
#include <string>
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

// out = alpha * x + y
static ffi::Error AxpyImpl(float alpha, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> y,
                           ffi::ResultBuffer<ffi::F32> out) {
  if (x.element_count() != y.element_count()) return ffi::Error::InvalidArgument("x and y differ");
  for (size_t i = 0; i < x.element_count(); ++i) {
    out->typed_data()[i] = alpha * x.typed_data()[i] + y.typed_data()[i];
  }
  return ffi::Error::Success();
}
XLA_FFI_DEFINE_HANDLER_SYMBOL(Axpy, AxpyImpl,
                              ffi::Ffi::Bind().Attr<float>("alpha").Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>());

// In place (out aliases x): x[offsets[k]] += step for every k when mode == "add", -= otherwise.
static ffi::Error BumpImpl(int64_t step, std::string_view mode, ffi::Span<const int64_t> offsets,
                           ffi::Buffer<ffi::S32> x, ffi::ResultBuffer<ffi::S32> out) {
  if (out->typed_data() != x.typed_data()) {
    return ffi::Error(ffi::ErrorCode::kInternal, "out does not alias x");
  }
  for (int64_t k : offsets) {
    if (k < 0 || static_cast<size_t>(k) >= x.element_count()) {
      return ffi::Error::InvalidArgument("offset out of range");
    }
    out->typed_data()[k] += mode == "add" ? static_cast<int32_t>(step) : -static_cast<int32_t>(step);
  }
  return ffi::Error::Success();
}
XLA_FFI_DEFINE_HANDLER_SYMBOL(Bump, BumpImpl,
                              ffi::Ffi::Bind().Attr<int64_t>("step").Attr<std::string_view>("mode")
                                  .Attr<ffi::Span<const int64_t>>("offsets")
                                  .Arg<ffi::Buffer<ffi::S32>>().Ret<ffi::Buffer<ffi::S32>>());

static ffi::Error RefuseImpl(ffi::Buffer<ffi::F32> x, ffi::ResultBuffer<ffi::F32> out) {
  return ffi::Error(ffi::ErrorCode::kFailedPrecondition, "the test handler refuses");
}
XLA_FFI_DEFINE_HANDLER_SYMBOL(Refuse, RefuseImpl,
                              ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>());
"""


@pytest.fixture(scope="module")
def handlers(tmp_path_factory) -> ctypes.CDLL:
    d = tmp_path_factory.mktemp("ffi")
    src = d / "handlers.cc"
    src.write_text(HANDLERS)
    lib = d / "libhandlers.so"
    subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", f"-I{jax.ffi.include_dir()}",
                    str(src), "-o", str(lib)], check=True, capture_output=True)
    handlers = ctypes.cdll.LoadLibrary(str(lib))
    for name, symbol in (("chip_test.axpy", handlers.Axpy), ("chip_test.bump", handlers.Bump),
                         ("chip_test.refuse", handlers.Refuse)):
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(symbol), platform="chip")
    return handlers


def test_handler_runs_with_a_float_attribute(handlers) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 3, 5)).astype(np.float32)
    call = jax.ffi.ffi_call("chip_test.axpy", jax.ShapeDtypeStruct(x.shape, jnp.float32))
    f = jax.jit(lambda x, y: call(x, y, alpha=np.float32(2.5)) + 1.0)
    out = f(jax.device_put(x, chip()), jax.device_put(y, chip()))
    assert out.devices() == {chip()}
    np.testing.assert_allclose(np.asarray(out), 2.5 * x + y + 1.0, rtol=1e-6)


def test_handler_updates_a_donated_buffer_in_place(handlers) -> None:
    x = np.arange(10, dtype=np.int32) * 3
    call = jax.ffi.ffi_call("chip_test.bump", jax.ShapeDtypeStruct(x.shape, jnp.int32),
                            input_output_aliases={0: 0})
    f = jax.jit(lambda x: call(x, step=np.int64(7), mode="add",
                               offsets=np.array([1, 4, 4], np.int64)), donate_argnums=0)
    xd = jax.device_put(x, chip())
    ptr = xd.unsafe_buffer_pointer()
    out = f(xd)
    want = x.copy()
    want[1] += 7
    want[4] += 14
    np.testing.assert_array_equal(np.asarray(out), want)
    assert out.unsafe_buffer_pointer() == ptr
    # not donated: the output starts as a copy of x, x itself is unchanged
    g = jax.jit(lambda x: call(x, step=np.int64(2), mode="sub", offsets=np.array([0], np.int64)))
    kept = jax.device_put(x, chip())
    out = g(kept)
    np.testing.assert_array_equal(np.asarray(kept), x)
    assert np.asarray(out)[0] == x[0] - 2 and (np.asarray(out)[1:] == x[1:]).all()


def test_handler_errors_name_the_handler(handlers) -> None:
    call = jax.ffi.ffi_call("chip_test.refuse", jax.ShapeDtypeStruct((4,), jnp.float32))
    with pytest.raises(Exception, match=r"FAILED_PRECONDITION.*XLA FFI handler 'chip_test.refuse' "
                                        r"failed: the test handler refuses"):
        jax.jit(call)(jax.device_put(np.ones(4, np.float32), chip())).block_until_ready()
    bad = jax.ffi.ffi_call("chip_test.axpy", jax.ShapeDtypeStruct((4,), jnp.float32))
    with pytest.raises(Exception, match=r"XLA FFI handler 'chip_test.axpy' failed: Wrong number "
                                        r"of attributes"):   # the handler's own decoding
        x = jax.device_put(np.ones(4, np.float32), chip())
        jax.jit(lambda x: bad(x, x))(x).block_until_ready()


def test_unregistered_target_is_unimplemented(handlers) -> None:
    call = jax.ffi.ffi_call("chip_test.never_registered", jax.ShapeDtypeStruct((4,), jnp.float32))
    with pytest.raises(Exception, match=r"UNIMPLEMENTED.*@chip_test.never_registered.*"
                                        r"jax.ffi.register_ffi_target"):
        jax.jit(call)(jax.device_put(np.ones(4, np.float32), chip()))
