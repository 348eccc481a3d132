"""The chip's timeline in jax.profiler's XSpace (the trace TensorBoard's profile plugin, XProf and
Perfetto read).

The plugin's PJRT profiler extension (pjrt_plugin/api/profiler_extension.cc) records the chip's
events while a jax.profiler session runs and calls `build_xspace` when jaxlib collects the
session: one device plane per chip, named "/device:CUSTOM:<id>" (XProf's and jaxlib's trace
converters show device planes named "/device:GPU:", "/device:TPU:" or "/device:CUSTOM:"; the
chip is none of the first two), with three lines: "executions" (one event per executable run,
named by the program), "kernels" (one event per kernel, named as the compiler named it) and
"transfers" (host<->device copies). Every event's duration is its modeled chip time; its stats are
the kernel's work as jax_chip.profiler records it (category, source, program, bound, bytes, flops,
the modeled breakdown) plus XProf's "flops" and "bytes_accessed".

Timestamps (docs/profiling.md): the chip's modeled clock only advances while the chip works, so
it is placed on the host's clock execution by execution: each execution starts at the host wall
time the emulator began it (or at the end of the chip's previous execution, if that is later: the
chip runs one execution at a time) and its kernels follow on the modeled clock from there. The
host's python and runtime events sit beside them on the same clock.

The schema is XPlane's own (tsl/profiler/protobuf/xplane.proto), read from its descriptor set
(`lib/xplane.descriptor-set.bin`, taken from the tensorflow-cpu wheel at setup, like the PJRT
headers) with the protobuf package: no generated or hand-written wire code.
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from jax_chip.profiler import Profile

DESCRIPTOR_SET = pathlib.Path(__file__).parent / "lib" / "xplane.descriptor-set.bin"
PLANE_PREFIX = "/device:CUSTOM:"
LINES = {"execution": (1, "executions"), "kernel": (2, "kernels"), "transfer": (3, "transfers")}
_PLACEMENT_ARGS = {"host_start_ns"}   # where an event was placed, not a stat of it
_KERNEL_ONLY_ARGS = {"matrix_dtype"}


def _is_stat(kind: str, key: str, value: Any) -> bool:
    """Which of an event's args become stats: all of a kernel's; of an execution or a transfer,
    its launch id and the work it has (nonzero), not the kernel-only fields."""
    if key in _PLACEMENT_ARGS:
        return False
    if kind == "kernel" or key == "launch_id":
        return True
    return key not in _KERNEL_ONLY_ARGS and value not in (0, "")


@functools.cache
def xspace_class() -> Any:
    """The XSpace message class, from xplane.proto's descriptor set, in a pool of its own (a
    loaded xprof or tensorboard may hold the same file in protobuf's default pool)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    if not DESCRIPTOR_SET.is_file():
        raise FileNotFoundError(f"{DESCRIPTOR_SET} is missing: tools/setup.sh installs it from the "
                                "tensorflow-cpu wheel (tools/fetch_pjrt_headers.py)")
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.profiler.XSpace"))


def _kind(event: dict[str, Any]) -> str:
    cat = event.get("cat", "")
    return cat if cat in ("execution", "transfer") else "kernel"


def _ps(us: float) -> int:
    return round(us * 1e6)


@dataclass
class _Launch:
    """One execution's events on one chip: where its modeled start lands on the host clock."""
    host_ps: int
    start_ps: int   # modeled
    end_ps: int     # modeled
    offset_ps: int = 0   # placed time - modeled time


def _place(events: list[dict[str, Any]], session_start_ns: int) -> dict[int, int]:
    """For one chip's execution and kernel events: launch id -> offset from the modeled clock to
    the host clock (module docstring). Kernels of an execution outside the session (it ended after
    the session stopped) are placed from the session's start."""
    launches: dict[int, _Launch] = {}
    for e in events:
        if _kind(e) == "execution":
            launches[int(e["args"].get("launch_id", 0))] = _Launch(
                int(e["args"].get("host_start_ns", 0)) * 1000, _ps(e["ts"]), _ps(e["ts"]) + _ps(e["dur"]))
    orphans: dict[int, _Launch] = {}
    for e in events:
        launch_id = int(e["args"].get("launch_id", 0))
        if _kind(e) == "kernel" and launch_id not in launches:
            start, end = _ps(e["ts"]), _ps(e["ts"]) + _ps(e["dur"])
            launch = orphans.setdefault(launch_id, _Launch(session_start_ns * 1000, start, end))
            launch.start_ps, launch.end_ps = min(launch.start_ps, start), max(launch.end_ps, end)
    launches.update(orphans)
    cursor = 0
    for launch in sorted(launches.values(), key=lambda l: (l.host_ps, l.start_ps)):
        placed = max(launch.host_ps, cursor)
        launch.offset_ps = placed - launch.start_ps
        cursor = placed + launch.end_ps - launch.start_ps
    return {launch_id: launch.offset_ps for launch_id, launch in launches.items()}


class _PlaneBuilder:
    """One chip's device plane, with metadata ids assigned as names are first seen."""

    def __init__(self, plane: Any, device: int) -> None:
        self.plane = plane
        plane.id = device
        plane.name = f"{PLANE_PREFIX}{device}"
        self._events: dict[Any, int] = {}
        self._stats: dict[Any, int] = {}
        self.lines: dict[str, tuple[Any, list[tuple[int, Any]]]] = {}

    @staticmethod
    def _metadata_id(ids: dict[Any, int], table: Any, key: Any, name: str) -> int:
        """The id of `key` in `table` (a plane's event or stat metadata map), added if new."""
        if key not in ids:
            ids[key] = len(ids) + 1
            md = table[ids[key]]
            md.id = ids[key]
            md.name = name
        return ids[key]

    def event_metadata_id(self, kind: str, program: str, name: str) -> int:
        return self._metadata_id(self._events, self.plane.event_metadata, (kind, program, name), name)

    def stat_metadata_id(self, name: str) -> int:
        return self._metadata_id(self._stats, self.plane.stat_metadata, name, name)

    def add_stat(self, event: Any, name: str, value: Any) -> None:
        stat = event.stats.add()
        stat.metadata_id = self.stat_metadata_id(name)
        if isinstance(value, bool) or value is None:
            stat.str_value = json.dumps(value)
        elif isinstance(value, int):
            stat.int64_value = value
        elif isinstance(value, float):
            stat.double_value = value
        else:
            stat.str_value = str(value)

    def add_event(self, kind: str, e: dict[str, Any], start_ps: int) -> None:
        line_id, line_name = LINES[kind]
        if line_name not in self.lines:
            line = self.plane.lines.add()
            line.id = line.display_id = line_id
            line.name = line.display_name = line_name
            self.lines[line_name] = (line, [])
        line, placed = self.lines[line_name]
        args = e.get("args", {})
        event = line.events.add()
        event.metadata_id = self.event_metadata_id(kind, args.get("program", ""), e["name"])
        event.duration_ps = _ps(e["dur"])
        for key, value in args.items():
            if _is_stat(kind, key, value):
                self.add_stat(event, key, value)
        if kind == "kernel":   # XProf's names for a kernel's work
            self.add_stat(event, "flops", float(args.get("matrix_flops", 0)) + float(args.get("vector_flops", 0)))
            self.add_stat(event, "bytes_accessed",
                          float(args.get("bytes_read", 0)) + float(args.get("bytes_written", 0)))
        placed.append((start_ps, event))

    def finish(self) -> None:
        """Sets each line's timestamp (its first event, in ns) and its events' offsets from it."""
        for line, placed in self.lines.values():
            origin_ns = min(ps for ps, _ in placed) // 1000
            line.timestamp_ns = origin_ns
            for ps, event in placed:
                event.offset_ps = ps - origin_ns * 1000


def build_xspace(chrome_json: str, session_start_ns: int) -> bytes:
    """The serialized XSpace of one jax.profiler session's chip events (`chrome_json`: the
    plugin's Chrome trace of them, as jax_chip.profiler reads it; `session_start_ns`: the host
    wall clock when the session started). No chip events: no planes (zero bytes)."""
    events = [e for e in Profile(json.loads(chrome_json)).events
              if e.get("ts") is not None and e.get("dur") is not None]
    if not events:
        return b""
    space = xspace_class()()
    by_device: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_device[int(e["pid"])].append(e)
    for device in sorted(by_device):
        builder = _PlaneBuilder(space.planes.add(), device)
        device_events = by_device[device]
        offsets = _place([e for e in device_events if _kind(e) != "transfer"], session_start_ns)
        transfer_cursor = 0
        for e in sorted(device_events, key=lambda e: e["ts"]):
            kind = _kind(e)
            if kind == "transfer":
                start = max(int(e["args"].get("host_start_ns", session_start_ns)) * 1000, transfer_cursor)
                transfer_cursor = start + _ps(e["dur"])
            else:
                start = _ps(e["ts"]) + offsets[int(e["args"].get("launch_id", 0))]
            builder.add_event(kind, e, start)
        builder.finish()
    return space.SerializeToString()


@dataclass(frozen=True)
class XEventView:
    """One event of a chip plane, read back from an XSpace."""
    plane: str
    line: str
    name: str
    start_ps: int          # host clock (ns since the Unix epoch, in ps)
    duration_ps: int
    stats: dict[str, Any]


def chip_events(serialized: bytes) -> list[XEventView]:
    """The events of every chip plane of a serialized XSpace (a jax.profiler .xplane.pb)."""
    space = xspace_class().FromString(serialized)
    out: list[XEventView] = []
    for plane in space.planes:
        if not plane.name.startswith(PLANE_PREFIX):
            continue
        stat_names = {k: md.name for k, md in plane.stat_metadata.items()}
        for line in plane.lines:
            for ev in line.events:
                stats = {stat_names[s.metadata_id]: getattr(s, s.WhichOneof("value"))
                         for s in ev.stats if s.WhichOneof("value")}
                out.append(XEventView(plane.name, line.name, plane.event_metadata[ev.metadata_id].name,
                                      line.timestamp_ns * 1000 + ev.offset_ps, ev.duration_ps, stats))
    return out
