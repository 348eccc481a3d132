"""JAX's persistent compilation cache with damaged entries: a truncated, overwritten or
bit-flipped chip executable in the cache is detected (JAX's zlib framing, the FlatBuffer
verifier, the loader's checks, the executable's seal: pjrt_plugin/api/serialized_executable.h),
JAX recompiles, and the result is right. Never a crash, never a wrong answer from a damaged
entry. Each case runs in a fresh process (the cache is configured once per process)."""

from __future__ import annotations

import json

import pytest

from subproc import run_python

# Populates the cache (first process), or damages the one entry and runs again.
SCRIPT = r"""
import json, pathlib, sys, warnings, zlib
import jax, jax.numpy as jnp, numpy as np
cache = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else {cache!r})
jax.config.update("jax_compilation_cache_dir", str(cache))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
mode = {mode!r}
W = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32)
x = np.random.default_rng(2).standard_normal((8, 64)).astype(np.float32)
entries = sorted(cache.glob("*-cache"))
if mode not in ("populate", "no damage"):
    assert len(entries) == 1, entries
    path = entries[0]
    blob = path.read_bytes()
    raw = zlib.decompress(blob)
    head, exe = raw[:4], bytearray(raw[4:])
    seal = exe[-16:]
    assert seal[8:] == b"CHIPSEAL", seal
    body = len(exe) - 16
    rng = np.random.default_rng(0)
    if mode == "empty":
        path.write_bytes(b"")
    elif mode == "truncated file":
        path.write_bytes(blob[: len(blob) // 2])
    elif mode == "garbage":
        path.write_bytes(rng.integers(0, 256, len(blob), dtype=np.uint8).tobytes())
    else:
        if mode == "truncated executable":
            exe = exe[: body // 2]
        elif mode == "damaged seal":
            exe[body + 3] ^= 0x01
        elif mode == "flipped constant":
            # A byte of the weights' constant data: still a well-formed FlatBuffer.
            w = np.asarray(W, np.float32).tobytes()
            at = bytes(exe).find(w[64:96])
            assert at > 0, "constant not found"
            exe[at + 1] ^= 0x10
        elif mode == "flipped bytes":
            for i in rng.integers(0, body, 8):
                exe[int(i)] ^= 0xFF
        elif mode == "zeroed executable":
            exe = bytearray(len(exe))
        else:
            raise SystemExit("unknown mode " + mode)
        path.write_bytes(zlib.compress(head + bytes(exe)))
f = jax.jit(lambda x: jnp.tanh(x @ jnp.asarray(W)) + 1.0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    y = np.asarray(f(x))
want = np.tanh(x.astype(np.float64) @ W.astype(np.float64)) + 1.0
cache_warnings = [str(w.message) for w in caught if "persistent compilation cache" in str(w.message)]
print(json.dumps({{"max_err": float(np.max(np.abs(y - want))), "warnings": cache_warnings,
                  "entries": len(list(cache.glob("*-cache")))}}))
"""


def run(cache: str, mode: str) -> dict:
    out = run_python(SCRIPT.format(cache=cache, mode=mode), env={"JAX_PLATFORMS": "chip"}, timeout=240)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A cache directory holding the program's one entry, and that entry's pristine bytes. (The
    directory's path is part of JAX's cache key, through the XLA cache options JAX derives from
    it, so every case reuses this directory rather than a copy.)"""
    cache = tmp_path_factory.mktemp("jax_cache")
    first = run(str(cache), "populate")
    assert first["entries"] == 1 and first["max_err"] < 1e-4 and not first["warnings"]
    (entry,) = cache.glob("*-cache")
    return cache, entry, entry.read_bytes()


def fresh_copy(populated, tmp_path) -> str:
    """The cache directory with only the pristine entry."""
    cache, entry, pristine = populated
    for path in cache.glob("*-cache"):
        path.unlink()
    entry.write_bytes(pristine)
    return str(cache)


def test_pristine_entry_is_used(populated, tmp_path):
    result = run(fresh_copy(populated, tmp_path), "no damage")
    assert result["max_err"] < 1e-4 and not result["warnings"] and result["entries"] == 1, result


@pytest.mark.parametrize("mode", ["truncated file", "garbage", "truncated executable", "damaged seal",
                                  "flipped constant", "flipped bytes"])
def test_damaged_entry_is_recompiled(populated, tmp_path, mode):
    result = run(fresh_copy(populated, tmp_path), mode)
    # The right answer (recompiled), and JAX said it could not use the entry.
    assert result["max_err"] < 1e-4 and result["entries"] == 1, result
    assert result["warnings"], f"{mode}: the damaged entry was used without an error: {result}"
    if mode in ("flipped constant", "flipped bytes", "truncated executable", "damaged seal"):
        msg = result["warnings"][0]
        assert "chip executable" in msg, msg
