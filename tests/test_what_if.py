"""Re-timing a recorded chip run under another config (jax_chip.what_if, docs/what-if.md).

Each recording runs in a fresh process with its config in the environment (CHIP_* variables), so
the re-timed trace of one run is compared with a real run under the other config.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from jax_chip import native, what_if
from jax_chip.profiler import Profile
from subproc import run_python

# A small serving-like program: bf16 and f32 matmuls (matrix), a temporary between them (SRAM),
# transcendentals and reductions (vector), a loop, host transfers both ways and a same-chip copy.
RECORD = """
import json, sys
import numpy as np, jax, jax.numpy as jnp
import jax_chip.profiler as chip_prof

dev = jax.devices("chip")[0]
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 0)

def step(x, w1, w2, v):
    h = jnp.tanh((x @ w1).astype(jnp.float32) * 0.5)
    y = h.astype(jnp.bfloat16) @ w2
    def body(i, c):
        return c * 0.9 + jnp.exp(-c) @ v
    z = jax.lax.fori_loop(0, 3, body, y.astype(jnp.float32)[:, :64])
    return jax.nn.softmax(z, axis=-1).sum(axis=0)

f = jax.jit(step)
with chip_prof.trace() as prof:
    x = jax.device_put(rng.standard_normal((48, 256)).astype(jnp.bfloat16), dev)
    w1 = jax.device_put(rng.standard_normal((256, 512)).astype(jnp.bfloat16), dev)
    w2 = jax.device_put(rng.standard_normal((512, 256)).astype(jnp.bfloat16), dev)
    v = jax.device_put(rng.standard_normal((64, 64)).astype(np.float32), dev)
    for _ in range(3):
        out = f(x, w1, w2, v).block_until_ready()
        x2 = jax.device_put(x, dev, may_alias=False).block_until_ready()
        np.asarray(out)
prof.profile.save(sys.argv[1])
"""

CHANGED = [  # rate changes a fresh run is compared with: every field the cost model reads
    {"hbm_bandwidth": 2 * 819e9, "kernel_launch_s": 4e-6, "host_link_bandwidth": 16e9},
    {"matrix_bf16_flops": 50e12, "matrix_f32_flops": 5e12, "vector_flops": 3e12,
     "transcendental_ratio": 0.5, "sram_bandwidth": 1e12, "kernel_launch_s": 0.25e-6},
]


def _record(tmp_path: pathlib.Path, name: str, config: dict[str, float]) -> Profile:
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    out = tmp_path / f"{name}.json"
    env = {"JAX_PLATFORMS": "chip,cpu"}
    env.update({"CHIP_" + k.upper(): repr(v) for k, v in config.items()})
    run_python(f"import runpy, sys; sys.argv = [{str(script)!r}, {str(out)!r}]; "
               f"runpy.run_path({str(script)!r}, run_name='__main__')", env=env, timeout=240)
    return Profile(json.loads(out.read_text()))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Profile]:
    tmp = tmp_path_factory.mktemp("what_if")
    runs = {"default": _record(tmp, "default", {})}
    for i, config in enumerate(CHANGED):
        runs[f"changed{i}"] = _record(tmp, f"changed{i}", config)
    return runs


def _end_us(p: Profile) -> float:
    return max(e["ts"] + e["dur"] for e in p.events)


def test_retiming_under_the_recorded_config_reproduces_it_exactly(recordings):
    for name, config in [("default", {})] + [(f"changed{i}", c) for i, c in enumerate(CHANGED)]:
        rec = recordings[name]
        again = what_if.retime(rec, config, recorded=config)
        assert len(again.events) == len(rec.events)
        for a, b in zip(rec.events, again.events):
            assert (a["name"], a["cat"], a["pid"]) == (b["name"], b["cat"], b["pid"])
            assert b["ts"] == a["ts"] and b["dur"] == a["dur"], (name, a, b)
            for key in ("modeled_us", "launch_us", "matrix_us", "vector_us", "memory_us", "sram_us",
                        "bound"):
                assert b["args"].get(key) == a["args"].get(key), (name, key, a, b)


def test_retiming_a_changed_rate_equals_a_fresh_run_with_it(recordings):
    base = recordings["default"]
    cats = {e["cat"] for e in base.events}
    assert {"dot_general", "transfer", "execution"} <= cats, cats
    assert any(float(e["args"].get("sram_bytes_read") or 0) > 0 for e in base.events)
    assert any(float(e["args"].get("transcendentals") or 0) > 0 for e in base.events)
    for i, config in enumerate(CHANGED):
        fresh = recordings[f"changed{i}"]
        # the change matters: the fresh run's timeline is not the default one
        assert abs(_end_us(fresh) - _end_us(base)) > 0.05 * _end_us(base)
        for source, target, cfg, rec_cfg in ((base, fresh, config, None),
                                             (fresh, base, {}, config)):
            retimed = what_if.retime(source, cfg, recorded=rec_cfg)
            assert len(retimed.events) == len(target.events)
            span = _end_us(target)
            for a, b in zip(target.events, retimed.events):
                assert (a["name"], a["cat"]) == (b["name"], b["cat"])
                assert b["dur"] == pytest.approx(a["dur"], rel=1e-3), (i, a, b)
                assert abs(b["ts"] - a["ts"]) <= 1e-3 * span, (i, a, b)
                if a["cat"] not in ("execution", "transfer"):
                    assert b["args"]["bound"] == a["args"]["bound"], (i, a, b)
            assert _end_us(retimed) == pytest.approx(span, rel=1e-3)
            assert retimed.summary().device_time_us == pytest.approx(
                target.summary().device_time_us, rel=1e-3)


def test_fields_that_change_compilation_need_a_rerun(recordings):
    base = recordings["default"]
    for field, value in (("sram_bytes", 32 << 20), ("matrix_tile", 256), ("hbm_bytes", 8 << 30)):
        assert what_if.rerun_fields({field: value}) == [field]
        with pytest.raises(what_if.NeedsRerun, match=field):
            what_if.retime(base, {field: value})
    assert what_if.rerun_fields({"sram_bytes": 32 << 20, "hbm_bandwidth": 1e12},
                                recorded={"sram_bytes": 32 << 20}) == []
    with pytest.raises(ValueError, match="unknown chip config field 'hbm_speed'"):
        what_if.rerun_fields({"hbm_speed": 1.0})


def test_cost_model_fields_are_the_fields_the_formula_reads():
    """native.cost_model_fields() (what decides re-time vs re-run) against the formula itself:
    changing a listed field changes some price, changing any other field changes none."""
    rng = np.random.default_rng(7)
    dtypes = ["bf16", "f16", "s8", "u8", "pred", "f32", "s32", "f8e4m3fn", "f8e5m2", "s4"] * 4
    work = rng.uniform(1e3, 1e9, size=(len(dtypes), len(native.KERNEL_WORK_FIELDS)))
    transfers = ["host_to_device", "device_to_host", "device_copy", "chip_to_chip"]
    tbytes = np.array([[0, 4096], [8192, 0], [1 << 20, 1 << 20], [3 << 20, 3 << 20]], float)
    base = native.model_work({}, work, dtypes, transfers, tbytes)
    listed = set(native.cost_model_fields())
    for f in native.chip_config_fields():
        if f.kind == "int":
            value: int | float = int(f.default) + 1 if f.max >= f.default + 1 else int(f.default) - 1
        else:
            value = f.default / 2 if f.default > 0 else 1e-6
        other = native.model_work({f.name: value}, work, dtypes, transfers, tbytes)
        changed = (not np.array_equal(other.kernel_times, base.kernel_times)
                   or not np.array_equal(other.transfer_seconds, base.transfer_seconds))
        assert changed == (f.name in listed), f.name


def test_model_work_errors_name_the_bad_input():
    work = np.ones((1, len(native.KERNEL_WORK_FIELDS)))
    with pytest.raises(native.NativeError, match="hbm_bandwidth"):
        native.model_work({"hbm_bandwidth": -1.0}, work, ["bf16"])
    with pytest.raises(native.NativeError, match="unknown chip option 'hbm_speed'"):
        native.model_work({"hbm_speed": 1.0}, work, ["bf16"])
    with pytest.raises(native.NativeError, match="unknown matrix dtype 'f8'"):
        native.model_work({}, work, ["f8"])
    with pytest.raises(native.NativeError, match="unknown transfer 'teleport'"):
        native.model_work({}, work, ["bf16"], ["teleport"], np.ones((1, 2)))
    with pytest.raises(ValueError, match="1 kernels but 2 dtypes"):
        native.model_work({}, work, ["bf16", "f32"])


def test_time_by_bound_splits_kernel_time(recordings):
    base = recordings["default"]
    split = what_if.time_by_bound(base.events)
    assert sum(split.values()) == pytest.approx(base.summary().kernel_time_us, rel=1e-12)
    slower_hbm = what_if.retime(base, {"hbm_bandwidth": 819e9 / 64})
    assert what_if.time_by_bound(slower_hbm.events)["memory"] > 10 * split["memory"]


# tools/what_if.py's sweep, table and plots on a saved recording of its --quick workload (sglang-jax
# serving a tiny Qwen3 on the chip; written by
# `tools/what_if.py --quick --no-write --save-recording tests/data/what_if_tiny.json.gz`).
TOOLS = pathlib.Path(__file__).resolve().parent.parent / "tools"
RECORDING = pathlib.Path(__file__).resolve().parent / "data" / "what_if_tiny.json.gz"


def test_what_if_tool_sweeps_a_recording(tmp_path):
    import sys
    sys.path.insert(0, str(TOOLS))
    try:
        import what_if as tool
    finally:
        sys.path.remove(str(TOOLS))
    name, base = tool.load_recording(RECORDING)
    mixes = tool.WORKLOADS[name].mixes
    d = what_if.full_config()
    points = [tool.Point("default", "default", 1, {}, "recorded"),
              tool.Point("default", "re-timed", 1, {}, "re-timed")]
    points += [tool.Point("HBM bandwidth", f"x{m:g}", m, {"hbm_bandwidth": d["hbm_bandwidth"] * m},
                          "re-timed") for m in (1 / 8, 1 / 256)]
    points += [tool.Point("launch cost", f"{us:g} us", us, {"kernel_launch_s": us * 1e-6}, "re-timed")
               for us in (0.25, 4)]
    # sglang-jax dispatches ahead: some host transfers were issued while an execution ran, and the
    # re-laid timeline keeps them overlapping it (every event as recorded, bit for bit)
    for mix in mixes:
        rec = base[mix.name]["profile"]
        # the recording is the workload as meant: each mix prefilled as one batch (the tool serves
        # a mix again when its requests reached the scheduler in two batches)
        assert tool.served_schedule(rec.events) == tool.expected_schedule(mix, 2048)
        spans = [(e["ts"], e["ts"] + e["dur"]) for e in rec.events if e["cat"] == "execution"]
        assert any(a <= e["ts"] < b for e in rec.events if e["cat"] == "transfer" for a, b in spans)
        again = what_if.retime(rec, {})
        assert [(e["ts"], e["dur"]) for e in again.events] == [(e["ts"], e["dur"]) for e in rec.events]
    sweep = tool.sweep(base, points, mixes)
    rows = {pt.label: m for pt, m in sweep}
    for mix in mixes:
        name = mix.name
        rec, same = rows["default"][name], rows["re-timed"][name]
        assert (same.ttft_us, same.tpot_us, same.tokens_per_s) == (rec.ttft_us, rec.tpot_us, rec.tokens_per_s)
        assert rec.decode_steps == mix.new_tokens - 1 and rec.ttft_us > 0
        # less HBM bandwidth: slower, until memory takes over from launch as the binding bound
        assert rows["x0.125"][name].tokens_per_s < rec.tokens_per_s
        slow = rows["x0.00390625"][name]
        assert max(slow.decode_bound, key=slow.decode_bound.get) == "memory"
        assert slow.tpot_us > rows["x0.125"][name].tpot_us > rec.tpot_us
        # the launch cost moves every point the way it should
        assert rows["0.25 us"][name].tokens_per_s > rec.tokens_per_s > rows["4 us"][name].tokens_per_s
        assert max(rows["4 us"][name].decode_bound, key=rows["4 us"][name].decode_bound.get) == "launch"
    text = tool.table(sweep, mixes)
    assert "| default | default | recorded |" in text and "| HBM bandwidth | x0.125 | re-timed |" in text
    assert "**memory**" in text and "**launch**" in text
    tool.plot_tokens_per_s(sweep, mixes, tmp_path / "tokens_per_s.png")
    tool.plot_roofline(base, mixes, tmp_path / "roofline.png")
    assert (tmp_path / "tokens_per_s.png").stat().st_size > 10_000
    assert (tmp_path / "roofline.png").stat().st_size > 10_000
