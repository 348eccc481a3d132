"""The CustomCall kernel of the executable (schema: CustomCall, CustomCallAttribute): its
description, FlatBuffer writer and reader, text form, and evaluation in the reference
interpreter (custom_call_eval.py).

A `chip.custom_call` node (lower_custom_call.py) is emitted as a CustomCallOp through the op
registry's `emit` hook; the runtime runs it with the native kernel registered under `target`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from xla_passes.custom_call_lowering import ATTR_KINDS, CustomCallAttr


@dataclass
class CustomCallOp:
    target: str
    attributes: tuple[CustomCallAttr, ...] = ()
    output_operand_alias: tuple[int, ...] = ()
    has_side_effect: bool = False
    OP_TYPE: str = field(default="CustomCall", init=False, repr=False)

    def write(self, w: Any) -> int:
        """Writes the CustomCall table with the emitter's _Writer `w`; returns its offset."""
        from jax_chip.compiler.kernels import schema as executable_schema  # noqa: F401  (chip.exe aliases)
        from chip.exe import CustomCall as cc_mod
        from chip.exe import CustomCallAttribute as attr_mod

        b = w.b
        attrs = []
        for a in self.attributes:
            name = w.string(a.name)
            element = w.string(a.element)
            s = w.string(str(a.value)) if a.kind == "STRING" else None
            ints = w.i64s(a.value) if a.kind == "INTS" else None
            floats = (b.CreateNumpyVector(np.asarray(list(a.value), dtype=np.float64))
                      if a.kind == "FLOATS" else None)
            attr_mod.CustomCallAttributeStart(b)
            attr_mod.CustomCallAttributeAddName(b, name)
            attr_mod.CustomCallAttributeAddKind(b, ATTR_KINDS.index(a.kind))
            attr_mod.CustomCallAttributeAddElement(b, element)
            if a.kind == "INT":
                attr_mod.CustomCallAttributeAddI(b, int(a.value))
            elif a.kind == "FLOAT":
                attr_mod.CustomCallAttributeAddF(b, float(a.value))
            elif s is not None:
                attr_mod.CustomCallAttributeAddS(b, s)
            elif ints is not None:
                attr_mod.CustomCallAttributeAddInts(b, ints)
            elif floats is not None:
                attr_mod.CustomCallAttributeAddFloats(b, floats)
            attrs.append(attr_mod.CustomCallAttributeEnd(b))
        attrs_vec = w.offsets(cc_mod.CustomCallStartAttributesVector, attrs)
        alias = w.i32s(self.output_operand_alias)
        target = w.string(self.target)
        cc_mod.CustomCallStart(b)
        cc_mod.CustomCallAddTarget(b, target)
        cc_mod.CustomCallAddAttributes(b, attrs_vec)
        cc_mod.CustomCallAddOutputOperandAlias(b, alias)
        cc_mod.CustomCallAddHasSideEffect(b, self.has_side_effect)
        return cc_mod.CustomCallEnd(b)

    @staticmethod
    def read(tab: Any) -> "CustomCallOp":
        """From the union table of a Kernel (flatbuffers Table)."""
        from jax_chip.compiler.kernels import schema as executable_schema  # noqa: F401
        from chip.exe.CustomCall import CustomCall

        c = CustomCall()
        c.Init(tab.Bytes, tab.Pos)
        attrs = []
        for i in range(c.AttributesLength()):
            a = c.Attributes(i)
            kind = ATTR_KINDS[a.Kind()]
            value: Any
            if kind == "INT":
                value = int(a.I())
            elif kind == "FLOAT":
                value = float(a.F())
            elif kind == "STRING":
                value = _str(a.S())
            elif kind == "INTS":
                value = tuple(int(a.Ints(j)) for j in range(a.IntsLength()))
            else:
                value = tuple(float(a.Floats(j)) for j in range(a.FloatsLength()))
            attrs.append(CustomCallAttr(_str(a.Name()), kind, _str(a.Element()), value))
        alias = tuple(int(c.OutputOperandAlias(j)) for j in range(c.OutputOperandAliasLength()))
        return CustomCallOp(_str(c.Target()), tuple(attrs), alias, bool(c.HasSideEffect()))

    def to_text(self) -> str:
        attrs = ", ".join(str(a) for a in self.attributes)
        alias = [(r, o) for r, o in enumerate(self.output_operand_alias) if o >= 0]
        return (f"@{self.target}({attrs})" + (f" in_place={alias}" if alias else "")
                + (" side_effect" if self.has_side_effect else ""))

    def evaluate(self, inputs: Sequence[np.ndarray], input_dtypes: Sequence[str],
                 output_dtypes: Sequence[str]) -> list[np.ndarray]:
        """The outputs, computed in numpy with the chip's semantics (reference interpreter)."""
        from jax_chip.compiler.kernels import custom_call_eval

        attrs = {a.name: a.value for a in self.attributes}
        return custom_call_eval.evaluate(self.target, attrs, list(inputs), list(input_dtypes),
                                         list(output_dtypes))


def _str(x: Any) -> str:
    if x is None:
        return ""
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)
