"""Compiler passes over the chip graph IR, one pass per file."""
