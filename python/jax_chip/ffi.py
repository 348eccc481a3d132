"""User XLA FFI handlers on the chip: `jax.ffi.register_ffi_target(name, capsule, platform="chip")`.

JAX hands registrations for a platform to the custom-call handler registered for it; install()
registers the chip's, which passes each handler to the plugin's registry
(`chip_ffi_register_handler`, pjrt_plugin/api/README.md) and remembers the target name, so that
the compiler (same process) accepts `stablehlo.custom_call @name` and emits a CustomCall kernel
that the runtime runs through the handler (pjrt_plugin/api/ffi_call.cc). Registrations made
before the plugin initialized are replayed by JAX when install() runs.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Callable

from jax_chip import native

_lock = threading.Lock()
_targets: set[str] = set()
_lib: ctypes.CDLL | None = None


def registered_targets() -> frozenset[str]:
    """Names of the FFI targets registered for platform "chip" in this process."""
    with _lock:
        return frozenset(_targets)


def _capsule_pointer(capsule: Any) -> int | None:
    if capsule is None:
        return None
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get_ptr(capsule, get_name(capsule))


def _raise_if_error(lib: ctypes.CDLL, err: int | None) -> None:
    if err:
        message = ctypes.string_at(err).decode()
        lib.chip_free(err)
        raise RuntimeError(message)


def _handler(lib: ctypes.CDLL) -> Callable[..., None]:
    def register(name: Any, fn: Any, platform: str, api_version: int, traits: Any) -> None:
        stages = fn if isinstance(fn, dict) else {"execute": fn}
        name_b = name.encode() if isinstance(name, str) else bytes(name)
        err = lib.chip_ffi_register_handler(
            name_b, *(_capsule_pointer(stages.get(s))
                      for s in ("execute", "instantiate", "prepare", "initialize")),
            int(api_version), int(traits))
        _raise_if_error(lib, err)
        with _lock:
            _targets.add(name_b.decode())

    return register


def _type_id_handler(lib: ctypes.CDLL) -> Callable[..., None]:
    def register(name: Any, capsule: Any) -> None:
        name_b = name.encode() if isinstance(name, str) else bytes(name)
        ptr = _capsule_pointer(capsule)
        type_id = ctypes.cast(ptr, ctypes.POINTER(ctypes.c_int64))
        _raise_if_error(lib, lib.chip_ffi_register_type_id(name_b, type_id))

    return register


def install(platform: str = "chip") -> None:
    """Connects jax.ffi registrations for `platform` to the plugin library (idempotent)."""
    global _lib
    from jax._src.lib import xla_client

    with _lock:
        if _lib is not None:
            return
        _lib = native.library()
    xla_client.register_custom_call_handler(platform, _handler(_lib))
    if hasattr(xla_client, "register_custom_type_id_handler"):
        xla_client.register_custom_type_id_handler(platform, _type_id_handler(_lib))
