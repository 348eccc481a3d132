"""Compiler errors. The plugin maps `pjrt_code` onto the PJRT error code it returns."""

from __future__ import annotations


class CompileError(Exception):
    """The program cannot be compiled for the chip (bad input, 64-bit types, malformed text, ...)."""

    pjrt_code = "INVALID_ARGUMENT"


class UnsupportedError(CompileError):
    """The program uses an op or feature the chip compiler does not implement (yet)."""

    pjrt_code = "UNIMPLEMENTED"


class InternalCompilerError(CompileError):
    """A bug in the compiler (never the user's fault); the message says what failed."""

    pjrt_code = "INTERNAL"


def at(loc: str) -> str:
    """Formats a source location for an error message: " (at file.py:12 in f)" or ""."""
    return f" (at {loc})" if loc else ""
