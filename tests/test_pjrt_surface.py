"""The optional PJRT surface as JAX sees it: plugin attributes (xla_version, the StableHLO version
range), the pinned_host memory space, and layouts (the Layouts extension). The C API side, and the
async host-to-device transfer manager (no jax 0.6.2 path uses it), are in
pjrt_plugin/tests/api_{conformance,pinned_host,transfer_manager}_test.cc."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax._src import xla_bridge
from jax.experimental.layout import DeviceLocalLayout, Format
from jaxlib.mlir.dialects import stablehlo

from jax_chip import native
from jax_chip.profiler import device_modeled_time_s
from parity import chip, cpu, random_array


def _version(text: str) -> list[int]:
    return [int(p) for p in text.split(".")]


def _config_default(name: str) -> float:
    return next(f.default for f in native.chip_config_fields() if f.name == name)


def test_plugin_attributes_give_the_compilers_stablehlo_range():
    client = chip().client
    # The compiler reads programs with these bindings, so the plugin's range must be theirs:
    # jaxlib serializes every chip program at stablehlo_current_version.
    assert client.stablehlo_current_version == _version(stablehlo.get_current_version())
    assert client.stablehlo_minimum_version == _version(stablehlo.get_minimum_version())
    assert xla_bridge.backend_stablehlo_version("chip") == client.stablehlo_current_version
    assert xla_bridge.backend_xla_version("chip") == 2
    assert "chip emulator plugin" in client.platform_version


def test_memory_kinds():
    dev = chip()
    assert [m.kind for m in dev.addressable_memories()] == ["device", "pinned_host"]
    assert dev.default_memory().kind == "device"
    assert dev.memory("pinned_host").kind == "pinned_host"


def test_pinned_host_round_trip_leaves_device_memory_and_charges_the_host_link():
    dev = chip()
    rng = np.random.default_rng(7)
    x = random_array(rng, (256, 384), np.float32)
    host = jax.sharding.SingleDeviceSharding(dev, memory_kind="pinned_host")
    device = jax.sharding.SingleDeviceSharding(dev, memory_kind="device")
    link = _config_default("host_link_bandwidth")

    base = dev.memory_stats()["bytes_in_use"]
    t0 = device_modeled_time_s(dev.id)
    h = jax.device_put(x, host)
    h.block_until_ready()
    assert h.sharding.memory_kind == "pinned_host"
    assert dev.memory_stats()["bytes_in_use"] == base  # host-resident
    assert device_modeled_time_s(dev.id) == t0          # host to host: no chip time
    np.testing.assert_array_equal(np.asarray(h), x)

    d = jax.device_put(h, device)
    d.block_until_ready()
    assert d.sharding.memory_kind == "device"
    assert dev.memory_stats()["bytes_in_use"] == base + x.nbytes
    assert device_modeled_time_s(dev.id) - t0 == pytest.approx(x.nbytes / link, rel=1e-9)

    # A result offloaded to pinned host memory and brought back (KV-offload style).
    f = lambda a: jnp.tanh(a) * 3.0 + 1.0
    y = jax.jit(f)(d).block_until_ready()
    t1 = device_modeled_time_s(dev.id)
    y_host = jax.device_put(y, host)
    y_host.block_until_ready()
    assert device_modeled_time_s(dev.id) - t1 == pytest.approx(x.nbytes / link, rel=1e-9)
    del y, d
    assert dev.memory_stats()["bytes_in_use"] == base
    want = np.asarray(jax.jit(f, device=cpu())(x))
    np.testing.assert_allclose(np.asarray(y_host), want, rtol=1e-5, atol=1e-5)
    back = jax.device_put(y_host, device)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda a: a - 1.0)(back)), want - 1.0, rtol=1e-5, atol=1e-5)


def test_programs_refuse_pinned_host_arguments_with_a_clear_error():
    dev = chip()
    h = jax.device_put(np.ones((4, 4), np.float32), jax.sharding.SingleDeviceSharding(dev, memory_kind="pinned_host"))
    with pytest.raises(Exception, match=r"pinned_host memory; chip programs read device memory only"):
        jax.jit(lambda a: a + 1)(h).block_until_ready()


def test_layouts_are_row_major_and_other_layouts_are_refused():
    dev = chip()
    sharding = jax.sharding.SingleDeviceSharding(dev)
    rng = np.random.default_rng(3)
    x = random_array(rng, (6, 5, 4), np.float32)
    a = jax.device_put(x, dev)
    assert a.format.device_local_layout.major_to_minor == (0, 1, 2)
    assert str(dev.client.get_default_layout(np.dtype(np.float32), (6, 5, 4), dev)) == "{2,1,0}"

    # Asking for row-major explicitly, or letting the compiler choose, works.
    row_major = Format(DeviceLocalLayout(major_to_minor=(0, 1, 2)), sharding)
    np.testing.assert_array_equal(np.asarray(jax.device_put(x, row_major)), x)
    auto = jax.jit(lambda v: v * 2, in_shardings=Format(DeviceLocalLayout.AUTO),
                   out_shardings=Format(DeviceLocalLayout.AUTO))
    compiled = auto.lower(jax.ShapeDtypeStruct(x.shape, jnp.float32)).compile()
    np.testing.assert_array_equal(np.asarray(compiled(a)), x * 2)

    # Another layout is refused by name, never silently stored row-major.
    column_major = Format(DeviceLocalLayout(major_to_minor=(2, 1, 0)), sharding)
    with pytest.raises(Exception, match=r"result 0 asks for layout \{0,1,2\}.*row-major, \{2,1,0\}"):
        jax.device_put(x, column_major).block_until_ready()
