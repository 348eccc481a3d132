"""The CustomCall kernel (schema: CustomCall, CustomCallAttribute): a `chip.custom_call` node
(xla_passes/custom_call_lowering.py) calls the native kernel, or the user's XLA FFI handler,
registered under `target`. Its description, FlatBuffer writer and reader, text form, evaluation
in the reference interpreter (custom_call_eval.py) and in-place results (`output_operand_alias`).
No static cost: the kernels report their work at run time (it depends on the data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from jax_chip.compiler.ir.custom_calls import ATTR_KINDS, CUSTOM_CALL_OP, CustomCallAttr
from jax_chip.compiler.ir.graph import Node
from jax_chip.compiler.kernels import custom_call_eval
from jax_chip.compiler.kernels import schema as fb
from jax_chip.compiler.kernels.base import Evaluation, KernelKind, Lowerer, Reader, one_line

_TABLE = fb.module("CustomCall")
_ATTRIBUTE = fb.module("CustomCallAttribute")


@dataclass
class CustomCallOp:
    target: str
    attributes: tuple[CustomCallAttr, ...] = ()
    output_operand_alias: tuple[int, ...] = ()
    has_side_effect: bool = False
    OP_TYPE: ClassVar[str] = "CustomCall"

    def write(self, w: Any) -> int:
        """Writes the CustomCall table with the emitter's Writer `w`; returns its offset."""
        cc_mod, attr_mod = _TABLE, _ATTRIBUTE
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
        c = Reader.table(_TABLE.CustomCall, tab)
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
        attrs = {a.name: a.value for a in self.attributes}
        return custom_call_eval.evaluate(self.target, attrs, list(inputs), list(input_dtypes),
                                         list(output_dtypes))


_str = Reader.string


def _lower(node: Node, lowerer: Lowerer) -> CustomCallOp:
    return CustomCallOp(str(node.attrs["target"]), tuple(node.attrs["attributes"]),
                        tuple(node.attrs["output_operand_alias"]),
                        bool(node.attrs["has_side_effect"]))


def _read(tab: Any, reader: Reader) -> CustomCallOp:
    return CustomCallOp.read(tab)


def _evaluate(op: CustomCallOp, ev: Evaluation) -> list[np.ndarray]:
    return op.evaluate([np.array(x, copy=True) for x in ev.inputs],
                       [t.dtype for t in ev.input_types], [t.dtype for t in ev.output_types])


def _in_place(node: Node) -> list[tuple[int, int]]:
    return [(r, o) for r, o in enumerate(node.attrs["output_operand_alias"]) if o >= 0]


def _trace_name(node: Node) -> str:
    """Traces name the native kernel: "paged_kv_write.3"."""
    return str(node.attrs["target"]).split(".", 1)[-1]


KIND = KernelKind("CustomCall", (CUSTOM_CALL_OP,), CustomCallOp, _lower,
                  lambda w, op: op.write(w), _read, one_line, cost=None, evaluate=_evaluate,
                  in_place=_in_place, trace_name=_trace_name)
