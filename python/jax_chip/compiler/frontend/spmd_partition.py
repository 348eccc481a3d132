"""SPMD partitioning by XLA's own partitioner, run through a jaxlib cpu client.

A program jax hands a PJRT plugin for several devices is one global-shape StableHLO module with
sharding annotations (`mhlo.sharding` strings for GSPMD, `sdy.sharding` / `sdy.mesh` for Shardy,
`@Sharding` custom calls and copies for sharding constraints, `@SPMDFullToShardShape` /
`@SPMDShardToFullShape` or `sdy.manual_computation` around shard_map bodies) plus the compile
options (num_partitions, num_replicas, device assignment, whether XLA may choose the input and
output shardings). `partition` turns it into the per-device program: one StableHLO module with
per-device shapes and explicit collectives (all_reduce, all_gather, reduce_scatter, all_to_all,
collective_permute; replica groups over flattened ids replica * num_partitions + partition),
partition_id / replica_id where a device's share depends on its position. Every device runs
that same module.

jaxlib 0.6.2 has no partitioner callable from Python, but its cpu client runs XLA's (sharding
propagation or Shardy's `shardy-xla`, then `spmd-partitioning`) when it compiles a
multi-partition module; the compile options' debug options can dump the module right after the
partitioner. We read that dump (HloProto, so large constants are exact) and convert it with
jaxlib's `hlo_to_stablehlo`. Only the partitioner's own pipeline is enabled
(`XLA_PASSES_ONLY`) and LLVM runs at -O0: what the cpu backend does after the dump is not
needed, and its errors there (a bf16 all-reduce, a custom call it has no handler for) are
ignored. The per-device module gets two fix-ups for the chip's frontend: mhlo.copy (no StableHLO
form) becomes its operand, and donation (back from HLO as mhlo.input_output_alias) becomes
tf.aliasing_output again.

`replicated_custom_calls` names the custom calls the partitioner could only run replicated (no
partitioning rule for them), from the propagated module.

docs/multichip.md has the survey behind this, the timings and the design; not wired into the
driver yet.
"""

from __future__ import annotations

import functools
import glob
import io
import os
import pathlib
import tempfile
from dataclasses import dataclass

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from jaxlib import _jax, xla_client
from jaxlib.mlir import ir

from jax_chip.compiler.frontend import parse
from jax_chip.compiler.ir.errors import CompileError, at
from jax_chip.compiler.ir.locations import format_location

# The passes of the cpu compiler's "spmd-partitioner" pipeline (call-inliner matters: without
# it jax's private functions are partitioned conservatively, with extra all-gathers).
XLA_PASSES_ONLY = ",".join((
    "hlo-verifier", "call-inliner", "zero_sized_hlo_elimination", "conditional-canonicalizer",
    "sharding-propagation", "shardy-xla", "spmd-partitioning", "spmd-cleanup",
    "flatten-call-graph", "dce", "tuple-simplifier", "hlo-dce"))
_PARTITIONED = "*spmd-partitioner.after_spmd-partitioning*"
_PROPAGATED = "*spmd-partitioner.after_*.before_spmd-partitioning*"


@dataclass
class PartitionedProgram:
    """The per-device program of a partitioned module."""
    stablehlo: bytes            # MLIR bytecode: per-device shapes, explicit collectives
    hlo: str                    # the HLO right after spmd-partitioning (large constants elided)
    propagated_hlo: str         # the HLO before it: every instruction's (propagated) sharding
    propagated_stablehlo: bytes  # the same as StableHLO (global shapes, mhlo.sharding per op)
    hlo_module_proto: bytes     # the partitioned HloModuleProto: spmd_parameters_shardings and
                                # spmd_output_sharding, what jax reads from an executable's
                                # optimized program when XLA chose shardings
    num_partitions: int
    num_replicas: int
    shardy: bool                # Shardy (sdy) annotations, partitioned by shardy-xla


@functools.cache
def _hlo_proto_class():
    """xla.HloProto reduced to its field 1 (`HloModuleProto hlo_module`), read as bytes: the
    dumps are HloProto messages and hlo_to_stablehlo takes the HloModuleProto inside."""
    f = descriptor_pb2.FileDescriptorProto(name="jax_chip_hlo_envelope.proto", package="jax_chip")
    m = f.message_type.add(name="HloProto")
    m.field.add(name="hlo_module", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("jax_chip.HloProto"))


@functools.cache
def _cpu_client(num_devices: int):
    return _jax.get_tfrt_cpu_client(asynchronous=False, num_devices=num_devices)


def compile_options(num_partitions: int, num_replicas: int = 1, *, shardy: bool = False,
                    propagate_to_output: bool = False) -> xla_client.CompileOptions:
    """Compile options like jax's for a program over num_replicas x num_partitions devices
    (tests and direct calls; the plugin has jax's own, serialized)."""
    co = xla_client.CompileOptions()
    co.num_partitions, co.num_replicas = num_partitions, num_replicas
    eb = co.executable_build_options
    eb.num_partitions, eb.num_replicas = num_partitions, num_replicas
    eb.use_spmd_partitioning = True
    eb.use_shardy_partitioner = shardy
    eb.allow_spmd_sharding_propagation_to_output = [propagate_to_output]
    return co


def _module_text(code: bytes | str) -> tuple[str, bool]:
    """The module as StableHLO text with locations (the cpu client reads text or bytecode; the
    portable artifacts jax's PJRT client sends are read by the frontend), and whether it carries
    Shardy annotations."""
    parsed = parse.parse_program(code, "mlir")
    with parsed.context:
        shardy = any(op.operation.name == "sdy.mesh" for op in parsed.module.body.operations)
    return parsed.text(), shardy


def _one(directory: str, pattern: str) -> pathlib.Path:
    files = sorted(glob.glob(os.path.join(directory, pattern)))
    if not files:
        raise FileNotFoundError(pattern)
    return pathlib.Path(files[-1])


def _drop_copies(module: ir.Module) -> None:
    """mhlo.copy (the partitioner's copies around shard_map bodies and sharding constraints) has
    no StableHLO form; on one device it is its operand."""
    copies: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == "mhlo.copy":
            copies.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    for op in copies:
        op.results[0].replace_all_uses_with(op.operands[0])
        op.erase()


def _restore_donation(module: ir.Module) -> None:
    """Donation comes back from HLO as the module's mhlo.input_output_alias; the importer reads
    it where jax writes it: `tf.aliasing_output = k` on the donated parameter of main."""
    aliases = module.operation.attributes["mhlo.input_output_alias"] \
        if "mhlo.input_output_alias" in module.operation.attributes else None
    if aliases is None or not len(ir.ArrayAttr(aliases)):
        return
    main = next(op for op in module.body.operations
                if ir.StringAttr(op.attributes["sym_name"]).value == "main")
    n_args = len(main.regions[0].blocks[0].arguments)
    arg_attrs = [dict((a.name, a.attr) for a in ir.DictAttr(d)) for d in
                 ir.ArrayAttr(main.attributes["arg_attrs"])] if "arg_attrs" in main.attributes \
        else [{} for _ in range(n_args)]
    i32 = ir.IntegerType.get_signless(32)
    for entry in ir.ArrayAttr(aliases):
        entry = ir.DictAttr(entry)
        alias = ir.DictAttr(entry["alias"])
        output = list(ir.DenseI64ArrayAttr(entry["output_index"]))
        if list(ir.DenseI64ArrayAttr(alias["parameter_index"])) or len(output) > 1:
            raise CompileError(f"the partitioned program aliases a tuple element ({entry})")
        param = ir.IntegerAttr(alias["parameter_number"]).value
        arg_attrs[param]["tf.aliasing_output"] = ir.IntegerAttr.get(i32, output[0] if output else 0)
    main.attributes["arg_attrs"] = ir.ArrayAttr.get([ir.DictAttr.get(a) for a in arg_attrs])
    del module.operation.attributes["mhlo.input_output_alias"]


def _per_device_stablehlo(hlo_module_proto: bytes) -> bytes:
    data = _jax.mlir.hlo_to_stablehlo(hlo_module_proto)
    ctx = parse.new_context()
    with ctx:
        module = ir.Module.parse(data)
        _drop_copies(module)
        _restore_donation(module)
        if not module.operation.verify():
            raise CompileError("the partitioned program does not verify after removing copies")
        out = io.BytesIO()
        module.operation.write_bytecode(out)
        return out.getvalue()


def partition(code: bytes | str, options: bytes | xla_client.CompileOptions, *,
              only_partitioner: bool = True) -> PartitionedProgram:
    """The per-device program of `code` (StableHLO, as jax hands it to a plugin) under `options`
    (a serialized CompileOptionsProto, or CompileOptions). Errors of XLA's partitioner (a
    sharding it cannot apply) are CompileErrors carrying XLA's message. only_partitioner=False
    lets the cpu backend run all its passes after the dump (slower; the same dump)."""
    co = xla_client.CompileOptions.ParseFromString(   # a copy: the caller's options stay as they are
        options if isinstance(options, bytes) else options.SerializeAsString())
    eb = co.executable_build_options
    partitions, replicas = max(eb.num_partitions, 1), max(eb.num_replicas, 1)
    if partitions == 1:
        # XLA partitions only for several partitions; a replicated (pmap) program is already
        # per-device: its collectives go to the chip as they are.
        raise ValueError("num_partitions=1: the program is already per-device")
    text, shardy = _module_text(code)
    eb.use_spmd_partitioning = True
    eb.use_shardy_partitioner = shardy or eb.use_shardy_partitioner
    # The per-device program does not depend on which devices run it: collectives name devices
    # by position (replica, partition). The cpu client gets devices 0..n-1 in that order.
    count = partitions * replicas
    co.device_assignment = xla_client.DeviceAssignment.create(
        np.arange(count, dtype=np.int32).reshape(replicas, partitions))
    client = _cpu_client(count)
    with tempfile.TemporaryDirectory(prefix="chip-spmd-") as dump:
        do = eb.debug_options
        do.xla_dump_to = dump
        do.xla_dump_hlo_pass_re = "spmd-partitioning"
        do.xla_dump_hlo_as_text = True
        do.xla_dump_hlo_as_proto = True
        if only_partitioner:
            do.xla_enable_hlo_passes_only = XLA_PASSES_ONLY
        do.xla_backend_optimization_level = 0
        devices = _jax.DeviceList(tuple(client.devices()[:count]))
        xla_error = ""
        try:
            client.compile_and_load(text, devices, co)
        except Exception as e:     # after the dump: the cpu backend's own limits; before: ours
            xla_error = str(e)
        try:
            proto = _one(dump, _PARTITIONED + ".pb").read_bytes()
            hlo = _one(dump, _PARTITIONED + ".txt").read_text(encoding="utf-8")
            pre = _one(dump, _PROPAGATED + ".txt").read_text(encoding="utf-8")
            pre_proto = _one(dump, _PROPAGATED + ".pb").read_bytes()
        except FileNotFoundError:
            raise CompileError(f"XLA's SPMD partitioner failed on the program "
                               f"({partitions} partitions, {replicas} replicas): "
                               f"{xla_error or 'no partitioned module was produced'}") from None
    envelope = _hlo_proto_class()
    module_proto = envelope.FromString(proto).hlo_module
    propagated = _jax.mlir.hlo_to_stablehlo(envelope.FromString(pre_proto).hlo_module)
    return PartitionedProgram(_per_device_stablehlo(module_proto), hlo, pre, propagated,
                              module_proto, partitions, replicas, shardy)


# Custom calls of the partitioner's own protocol (jax's sharding annotations, shard_map's
# boundaries): never "replicated" user calls.
PARTITIONER_TARGETS = frozenset({"Sharding", "SPMDFullToShardShape", "SPMDShardToFullShape",
                                 "CustomSPMDPartitioning"})


def _value_sharding(value: ir.Value, arg_shardings: list[str | None]) -> str | None:
    """A value's propagated sharding (mhlo.sharding of its op, or of main's argument)."""
    if isinstance(value.owner, ir.Block):
        return arg_shardings[ir.BlockArgument(value).arg_number]
    op = value.owner
    if "mhlo.sharding" not in op.attributes:
        return None
    sharding = ir.StringAttr(op.attributes["mhlo.sharding"]).value
    parsed = xla_client.HloSharding.from_string(sharding)
    elements = parsed.tuple_elements()
    if elements:
        return str(elements[ir.OpResult(value).result_number])
    return sharding


def _is_split(sharding: str | None) -> bool:
    if sharding is None:
        return False
    s = xla_client.HloSharding.from_string(sharding)
    return not (s.is_replicated() or s.is_manual() or s.is_maximal() or s.tuple_elements())


def replicated_custom_calls(program: PartitionedProgram) -> list[str]:
    """Custom calls that XLA's partitioner runs replicated although an operand is split across
    devices (it has no rule for them: it all-gathers the operands, runs the call on full shapes
    on every device and slices the result), one message each naming the target, the operands'
    shardings and the source line. A custom call with a rule (jax's custom_partitioning, a
    batch-partitionable target) has a split sharding of its own; one inside shard_map sees
    manual shardings."""
    ctx = parse.new_context()
    found: list[str] = []
    with ctx:
        module = ir.Module.parse(program.propagated_stablehlo)
        main = next(op for op in module.body.operations
                    if ir.StringAttr(op.attributes["sym_name"]).value == "main")
        args = [ir.DictAttr(d) for d in ir.ArrayAttr(main.attributes["arg_attrs"])] \
            if "arg_attrs" in main.attributes else []
        arg_shardings = [ir.StringAttr(d["mhlo.sharding"]).value if "mhlo.sharding" in d else None
                         for d in args]

        def visit(op: ir.Operation) -> ir.WalkResult:
            if op.name != "stablehlo.custom_call":
                return ir.WalkResult.ADVANCE
            target = ir.StringAttr(op.attributes["call_target_name"]).value
            own = (ir.StringAttr(op.attributes["mhlo.sharding"]).value
                   if "mhlo.sharding" in op.attributes else None)
            operands = [_value_sharding(v, arg_shardings) for v in op.operands]
            if target not in PARTITIONER_TARGETS and any(map(_is_split, operands)) \
                    and not _is_split(own):
                shown = ", ".join(f"{v.type} {s or '(unknown)'}" for v, s in zip(op.operands, operands))
                found.append(f"custom_call @{target} with operands sharded as [{shown}] has no "
                             f"partitioning rule: XLA's partitioner would gather its operands "
                             f"and run it whole on every device{at(format_location(op.location))}")
            return ir.WalkResult.ADVANCE

        main.walk(visit)
    return found
