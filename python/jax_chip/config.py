"""The chip configuration a process runs with.

The chip model's defaults live in one place, the C++ runtime (pjrt_plugin/runtime/chip_config.h,
documented in docs/chip-model.md). A user overrides them with a TOML file named by
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

# Fields the plugin accepts, with their value kind. Kept in step with ChipConfig::FromNamedOptions.
INT_FIELDS: tuple[str, ...] = ("num_devices", "hbm_bytes", "sram_bytes", "chip_links", "matrix_tile")
FLOAT_FIELDS: tuple[str, ...] = (
    "hbm_bandwidth",
    "sram_bandwidth",
    "matrix_bf16_flops",
    "matrix_int8_ops",
    "matrix_f32_flops",
    "vector_flops",
    "transcendental_ratio",
    "kernel_launch_s",
    "host_link_bandwidth",
    "chip_link_bandwidth",
)
FIELDS: tuple[str, ...] = INT_FIELDS + FLOAT_FIELDS

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
    if name not in FIELDS:
        raise ChipConfigError(f"{source}: unknown chip config field {name!r}; known: {', '.join(FIELDS)}")
    try:
        if name in INT_FIELDS:
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
        for name in FIELDS:
            key = "CHIP_" + name.upper()
            if key in env:
                values[name] = _coerce(name, env[key], key)
        return ChipConfig(values)

    def plugin_options(self) -> dict[str, int | float]:
        """The PJRT client-create options (NamedValues) for these overrides."""
        return dict(self.overrides)
