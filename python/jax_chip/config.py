"""The chip configuration a process runs with.

The chip model's fields and defaults live in one place, the C++ runtime's table
(pjrt_plugin/runtime/chip_config_fields.h, read here through the plugin: jax_chip.native;
docs/chip-model.md is generated from it). A user overrides them with a TOML file named by
``CHIP_CONFIG`` and/or ``CHIP_<FIELD>`` environment variables (the environment wins); only the
fields set are passed to the plugin as PJRT client-create options. The plugin validates them and
rejects unknown fields or bad values with an error that names the option.

Example ``chip.toml``::

    num_devices = 4
    hbm_bytes = "4GiB"
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Mapping

from jax_chip import native


def fields() -> tuple[str, ...]:
    """The fields the plugin accepts, in its table's order (chip_config_fields.h)."""
    return tuple(f.name for f in native.chip_config_fields())


def _is_int_field(name: str) -> bool:
    return any(f.name == name and f.kind == "int" for f in native.chip_config_fields())


_SIZE_UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
               "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


class ChipConfigError(ValueError):
    """A chip configuration value that cannot be used."""


def parse_size(text: str | int, name: str) -> int:
    """'16GiB' -> 17179869184; plain integers pass through."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.match(str(text))
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        raise ChipConfigError(f"chip config {name}={text!r}: expected an integer or a size like '16GiB'")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


def _coerce(name: str, value: object, source: str) -> int | float:
    known = fields()
    if name not in known:
        raise ChipConfigError(f"{source}: unknown chip config field {name!r}; known: {', '.join(known)}")
    try:
        if _is_int_field(name):
            return parse_size(value if isinstance(value, (int, str)) else str(value), name)
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise ChipConfigError(f"{source}: chip config {name}={value!r}: {e}") from None


@dataclass(frozen=True)
class ChipConfig:
    """Overrides of the chip model; fields not set keep the runtime's defaults."""

    overrides: Mapping[str, int | float] = field(default_factory=dict)

    @staticmethod
    def from_environment(environ: Mapping[str, str] | None = None) -> "ChipConfig":
        env = os.environ if environ is None else environ
        values: dict[str, int | float] = {}
        path = env.get("CHIP_CONFIG")
        if path:
            try:
                with open(path, "rb") as f:
                    data = tomllib.load(f)
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise ChipConfigError(f"CHIP_CONFIG={path}: {e}") from None
            for k, v in data.items():
                values[k] = _coerce(k, v, f"CHIP_CONFIG={path}")
        for name in fields():
            key = "CHIP_" + name.upper()
            if key in env:
                values[name] = _coerce(name, env[key], key)
        return ChipConfig(values)

    def plugin_options(self) -> dict[str, int | str]:
        """The PJRT client-create options (NamedValues) for these overrides. Floating fields go
        as decimal text: a PJRT float option is 32-bit and would round them (4e-6 s of launch
        cost would become 3.99999989e-6); the plugin reads the text exactly."""
        return {k: repr(float(v)) if not _is_int_field(k) else v for k, v in self.overrides.items()}
