"""Custom calls in the IR: the chip's native kernel targets, the attribute values a custom call
carries, and which targets the chip implements.

`stablehlo.custom_call @chip.<kernel>` (what jax_chip.ops emits on the chip, via the typed XLA FFI
form of `jax.ffi.ffi_call`) is checked and becomes a `chip.custom_call` kernel node
(xla_passes/custom_call_lowering.py), emitted as a CustomCall kernel (kernels/custom_call.py),
which the runtime runs with the native kernel registered under the same target name. XLA FFI
handlers a user registers with `jax.ffi.register_ffi_target(..., platform="chip")` are called
the same way. A target the chip does not implement stays a stablehlo.custom_call and
check_supported reports it (UNIMPLEMENTED, naming the target and the chip targets that exist).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from jax_chip.compiler.ir.graph import Node

CUSTOM_CALL_OP = "chip.custom_call"
ATTR_KINDS = ("INT", "FLOAT", "STRING", "INTS", "FLOATS")


@dataclass(frozen=True)
class CustomCallAttr:
    name: str
    kind: str                    # one of ATTR_KINDS (schema AttrKind)
    element: str = ""            # "s64", "f32", "pred", ... for numbers
    value: Any = None            # int, float, str, tuple[int, ...] or tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.name}={self.value!r}:{self.element or self.kind.lower()}"


@dataclass(frozen=True)
class NativeTarget:
    name: str
    aliases: tuple[int, ...]          # per result: the operand it updates in place, or -1
    summary: str


NATIVE_TARGETS: dict[str, NativeTarget] = {
    t.name: t for t in (
        NativeTarget("chip.paged_kv_write", (0, 1),
                     "new K/V into the paged pools at slot indices, in place; -1 and other "
                     "out-of-range slots dropped"),
        NativeTarget("chip.paged_attention_decode", (-1,),
                     "one query token per sequence over its KV pages (page table, seq lens, "
                     "GQA, scale)"),
        NativeTarget("chip.radix_attention_extend", (-1,),
                     "ragged new tokens over their cached prefix plus causal attention among "
                     "themselves"),
    )
}


def user_targets() -> frozenset[str]:
    """XLA FFI targets registered for platform "chip" in this process (jax_chip.ffi)."""
    ffi = sys.modules.get("jax_chip.ffi")   # only set up when the plugin initialized
    return ffi.registered_targets() if ffi is not None else frozenset()


def handles(target: str) -> bool:
    """Does the chip implement `target` (a built-in kernel or a registered FFI handler)?"""
    return target in NATIVE_TARGETS or (not target.startswith("chip.") and target in user_targets())


def is_chip_target(node: Node) -> bool:
    return node.op == "stablehlo.custom_call" and handles(node.attrs.get("call_target_name", ""))


def unsupported_message(node: Node) -> str:
    target = node.attrs.get("call_target_name", "")
    if target.startswith("chip."):
        hint = f"; the chip implements {', '.join(sorted(NATIVE_TARGETS))}"
    else:
        hint = ("; register an XLA FFI handler for it with "
                "jax.ffi.register_ffi_target(..., platform=\"chip\")")
    return f"stablehlo.custom_call @{target} is not supported on the chip{hint}"
