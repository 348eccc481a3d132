"""The `mhlo.layout_mode` attributes jax puts on func.main's parameters and results.

The plugin offers PJRT's Layouts extension, which tells jax that programs may ask for layouts
(jax.experimental.layout.Format). The chip stores every array dense row-major without tiling, so
a program may ask for "default", "auto" (both mean row-major here) or the row-major layout
itself ("{1,0}" for rank 2, XLA's minor-to-major text); anything else is refused with an
UnsupportedError naming the parameter or result, instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxlib.mlir import ir

from jax_chip.compiler.ir.errors import UnsupportedError

ACCEPTED_MODES = ("default", "auto")


def row_major_layout(rank: int) -> str:
    """XLA's text form of the row-major layout of a rank-`rank` array: "{2,1,0}"."""
    return "{" + ",".join(str(d) for d in range(rank - 1, -1, -1)) + "}"


def check_layout_modes(what: str, attrs: Sequence[ir.DictAttr | None], ranks: Sequence[int]) -> None:
    """Raises UnsupportedError for a `what` ("parameter"/"result") asking for a non-row-major layout."""
    for i, (d, rank) in enumerate(zip(attrs, ranks)):
        if d is None or "mhlo.layout_mode" not in d:
            continue
        mode = ir.StringAttr(d["mhlo.layout_mode"]).value
        if mode in ACCEPTED_MODES or mode == row_major_layout(rank):
            continue
        raise UnsupportedError(
            f"{what} {i} asks for layout {mode} (mhlo.layout_mode); the chip stores every array "
            f"dense row-major, {row_major_layout(rank)} for rank {rank}: use the default layout")
