"""JAX source locations from MLIR locations, for error messages and kernel names.

jax 0.6.2 writes an op's location as NameLoc("jit(f)/jit(main)/add", CallSiteLoc(
NameLoc("f", FileLineColLoc(file, line)), caller...)): the innermost user frame first.
"""

from __future__ import annotations


def frames(loc) -> list[tuple[str, int, str]]:
    """(file, line, function) frames of an MLIR location, innermost first."""
    try:
        if loc.is_a_file():
            return [(loc.filename, loc.start_line, "")]
        if loc.is_a_name():
            child = loc.child_loc
            if child.is_a_file():
                return [(child.filename, child.start_line, loc.name_str)]
            return frames(child)
        if loc.is_a_callsite():
            return frames(loc.callee) + frames(loc.caller)
        if loc.is_a_fused():
            out: list[tuple[str, int, str]] = []
            for sub in loc.locations:
                for fr in frames(sub):
                    if fr not in out:
                        out.append(fr)
            return out
    except Exception:  # unknown location kinds: no frames rather than a failed compile
        return []
    return []


def op_path(loc) -> str:
    """The jax op path ("jit(f)/jit(main)/add") of a NameLoc, or ""."""
    try:
        if loc.is_a_name() and not loc.child_loc.is_a_file():
            return loc.name_str
        if loc.is_a_fused():
            for sub in loc.locations:
                p = op_path(sub)
                if p:
                    return p
    except Exception:
        return ""
    return ""


def format_location(loc) -> str:
    """"/path/file.py:12 in f" for the innermost frame, or "" when the location has none."""
    fr = frames(loc)
    if not fr:
        return ""
    file, line, fn = fr[0]
    return f"{file}:{line} in {fn}" if fn else f"{file}:{line}"
