"""The compiler's entry point, called by the PJRT plugin from PJRT_Client_Compile (GIL held):

    compile_program(code, fmt, compile_options, chip_config) -> serialized chip executable

`compile_options` are the fields the plugin parsed from the CompileOptionsProto (a dict:
num_replicas, num_partitions, device_ordinal, device_ids); `chip_config` the chip model's fields.

Errors are CompileError subclasses (errors.py) whose `pjrt_code` the plugin returns; anything
else escaping a pass is wrapped as InternalCompilerError, so the plugin never sees a bare
exception. CHIP_DUMP_DIR=dir dumps the input StableHLO, the graph after every pass and the
executable (binary and text) into dir.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Any, Mapping

from jaxlib.mlir import ir

from jax_chip.compiler import chip_eval, pipeline
from jax_chip.compiler.backend import emit
from jax_chip.compiler.backend.inspect_executable import dump, read_executable
from jax_chip.compiler.frontend import graph_builder
from jax_chip.compiler.frontend import parse as frontend
from jax_chip.compiler.ir.context import DEFAULT_CHIP_CONFIG, CompileOptions, PassContext
from jax_chip.compiler.ir.errors import CompileError, InternalCompilerError, UnsupportedError
from jax_chip.compiler.ir.graph import Graph

COMPILER_VERSION = "jax_chip-compiler 0.1.0"
DUMP_ENV = "CHIP_DUMP_DIR"


# The compile options the plugin parsed from the CompileOptionsProto (api/compile_options.h's
# CompileDeviceOptions; api/compiler_bridge.cc hands them over): nothing in Python parses the proto.
DEFAULT_COMPILE_OPTIONS: dict[str, Any] = {
    "num_replicas": 1, "num_partitions": 1, "device_ordinal": -1, "device_ids": []}


def _compile_options(options: Mapping[str, Any] | bytes | None) -> dict[str, Any]:
    """The parsed compile options; None, b"" or {} are the defaults (direct calls, tests)."""
    if not options:
        return dict(DEFAULT_COMPILE_OPTIONS)
    if not isinstance(options, Mapping):
        raise CompileError("compile options must arrive parsed (a mapping from the plugin: "
                           f"api/compiler_bridge.cc), got {type(options).__name__}")
    unknown = set(options) - set(DEFAULT_COMPILE_OPTIONS)
    if unknown:
        raise CompileError(f"unknown compile option(s) {', '.join(sorted(unknown))}")
    return {**DEFAULT_COMPILE_OPTIONS, **options}


def _module_count_attr(parsed: frontend.ParsedProgram, key: str) -> int:
    """A positive integer module attribute (mhlo.num_replicas, mhlo.num_partitions); 1 when
    absent. Anything else is a compile error naming the attribute and its value."""
    attrs = parsed.module.operation.attributes
    if key not in attrs:
        return 1
    attr = attrs[key]
    try:
        value = int(ir.IntegerAttr(attr).value)
    except (TypeError, ValueError):
        value = None
    if value is None or value < 1:
        raise CompileError(f"module attribute {key} = {attr} is not a positive integer")
    return value


def _fingerprint(code: bytes | str, fmt: str, options: Mapping[str, Any],
                 config: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(COMPILER_VERSION.encode())
    h.update(fmt.encode())
    h.update(code.encode() if isinstance(code, str) else bytes(code))
    h.update(repr(sorted((str(k), repr(v)) for k, v in options.items())).encode())
    h.update(repr(sorted((str(k), repr(v)) for k, v in config.items())).encode())
    return h.hexdigest()


class _Dumper:
    def __init__(self, directory: str, name: str, fingerprint: str):
        os.makedirs(directory, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "program"
        self.prefix = os.path.join(directory, f"{safe}.{fingerprint[:12]}")
        self.count = 0

    def write(self, suffix: str, data: str | bytes) -> None:
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(f"{self.prefix}.{suffix}", mode) as f:
            f.write(data)

    def after_pass(self, name: str, graph: Graph) -> None:
        self.count += 1
        self.write(f"{self.count:02d}.{name}.graph.txt", graph.to_text() + "\n")


def _raw_input(code: bytes | str) -> tuple[str, bytes | str]:
    if isinstance(code, str):
        return "input.mlir", code
    data = bytes(code)
    return ("input.mlirbc" if data.startswith(frontend.MLIR_BYTECODE_MAGIC) else "input.mlir"), data


def make_context(chip_config: Mapping[str, Any] | None = None,
                 options: CompileOptions | None = None) -> PassContext:
    """The passes' context: the chip model (defaults completed), the options and the constant
    evaluator (the chip's kernels through the loaded plugin: chip_eval.py)."""
    config = dict(DEFAULT_CHIP_CONFIG)
    config.update({k: v for k, v in dict(chip_config or {}).items() if v is not None})
    return PassContext(config, options or CompileOptions(), chip_eval.evaluate_graph)


def compile_graph(graph: Graph, ctx: PassContext, dumper: _Dumper | None = None,
                  timings: dict[str, float] | None = None) -> Graph:
    return pipeline.run_pipeline(graph, ctx, dumper.after_pass if dumper else None, timings)


def compile_program(code: bytes | str, fmt: str,
                    compile_options: Mapping[str, Any] | bytes | None = None,
                    chip_config: Mapping[str, Any] | None = None,
                    options: CompileOptions | None = None,
                    timings: dict[str, float] | None = None) -> bytes:
    """StableHLO program -> serialized chip executable (FlatBuffer, file identifier CHPX)."""
    try:
        return _compile(code, fmt, compile_options, chip_config, options, timings)
    except CompileError:
        raise
    except RecursionError as e:
        raise InternalCompilerError(f"internal compiler error: program too deeply nested ({e})")
    except Exception as e:
        raise InternalCompilerError(
            f"internal compiler error: {type(e).__name__}: {e}") from e


def _compile(code, fmt, compile_options, chip_config, options, timings) -> bytes:
    t0 = time.perf_counter()
    config = dict(DEFAULT_CHIP_CONFIG)
    config.update({k: v for k, v in dict(chip_config or {}).items() if v is not None})
    device_options = _compile_options(compile_options)
    replicas = int(device_options["num_replicas"])
    partitions = int(device_options["num_partitions"])
    fingerprint = _fingerprint(code, fmt, device_options, config)
    dump_dir = os.environ.get(DUMP_ENV)
    try:
        parsed = frontend.parse_program(code, fmt)
    except CompileError:
        if dump_dir:   # keep what could not be read, for a bug report
            _Dumper(dump_dir, "unparsed", fingerprint).write(*_raw_input(code))
        raise
    replicas = max(replicas, _module_count_attr(parsed, "mhlo.num_replicas"))
    partitions = max(partitions, _module_count_attr(parsed, "mhlo.num_partitions"))
    if replicas > 1 or partitions > 1:
        raise UnsupportedError(
            f"num_replicas={replicas}, num_partitions={partitions}: the chip compiler supports "
            f"only single-device programs (1 replica, 1 partition) for now")
    with parsed.context:
        graph = graph_builder.build_graph(parsed.module)
    dumper = None
    if dump_dir:
        dumper = _Dumper(dump_dir, graph.name, fingerprint)
        dumper.write(*_raw_input(code))
        dumper.write("stablehlo.mlir", parsed.text())
        dumper.write("00.import.graph.txt", graph.to_text() + "\n")
    if timings is not None:
        timings["frontend+import"] = time.perf_counter() - t0
    ctx = make_context(config, options)
    compile_graph(graph, ctx, dumper, timings)
    exe = emit.build_executable(graph, name=graph.name, fingerprint=fingerprint,
                                compiler_version=COMPILER_VERSION)
    data = emit.serialize(exe)
    if dumper:
        dumper.write("chipx", data)
        dumper.write("chipx.txt", dump(read_executable(data)) + "\n")
    if timings is not None:
        timings["total"] = time.perf_counter() - t0
    return data
