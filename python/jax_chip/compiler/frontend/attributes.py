"""Collectives on one device: what jax emits inside shard_map (psum, all_gather, ppermute,
psum_scatter, pmax, axis_index) when the mesh has one device. Every replica group then has one
member, so each collective is the identity and partition_id / replica_id are 0
(xla_passes/single_device_collectives.py rewrites them). A collective across several devices is
an error: the chip compiler compiles for one device.

This module registers the ops and reads their attributes at import.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from jaxlib.mlir import ir

COLLECTIVES = ("stablehlo.all_reduce", "stablehlo.all_gather", "stablehlo.reduce_scatter",
               "stablehlo.all_to_all", "stablehlo.collective_broadcast")
PERMUTE = "stablehlo.collective_permute"
IDS = ("stablehlo.partition_id", "stablehlo.replica_id")


def _groups(op: ir.Operation, key: str) -> np.ndarray | None:
    if key not in op.attributes:
        return None
    attr = op.attributes[key]
    if not ir.DenseIntElementsAttr.isinstance(attr):
        return None
    return np.array(ir.DenseIntElementsAttr(attr), dtype=np.int64)


def _import_collective(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    groups = _groups(op, "replica_groups")
    size = 1
    if groups is not None and groups.ndim == 2 and groups.size:
        size = int(groups.shape[1])
    return {"group_size": size}


def _import_permute(imp: Any, op: ir.Operation, loc: str) -> dict[str, Any]:
    pairs = _groups(op, "source_target_pairs")
    pairs_list = [] if pairs is None else [tuple(int(x) for x in p) for p in pairs.reshape(-1, 2)]
    return {"source_target_pairs": tuple(pairs_list)}


def register_ops(register: Callable[[Any], Any], spec_cls: type, all_types: frozenset[str]) -> None:
    """Registers the collectives (called by op_registry)."""
    note = ("one device: the identity (every replica group has one member); across several "
            "devices an error")
    for name in COLLECTIVES:
        register(spec_cls(name, "collective", all_types, kernel="(identity)", notes=note,
                          foldable=False, fusible=False, importer=_import_collective))
    register(spec_cls(PERMUTE, "collective", all_types, kernel="(identity)",
                      notes="one device: the identity for pairs [[0, 0]], zeros without pairs",
                      foldable=False, fusible=False, importer=_import_permute))
    for name in IDS:
        register(spec_cls(name, "collective", frozenset({"u32"}), kernel="(constant 0)",
                          notes="one device: 0", foldable=False, fusible=False))
