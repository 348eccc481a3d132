#!/usr/bin/env bash
# Sets up everything the project needs, idempotently, on a fresh Debian machine with only the
# package registries reachable: Debian packages (Bazel, Eigen, FlatBuffers, googletest), the
# pinned Python venv (.venv), the PJRT C API headers (fetched into build/deps/), the generated
# FlatBuffers Python code, the plugin library (bazel) and the editable install of python/.
#
#   tools/setup.sh            full setup
#   tools/setup.sh --no-build skip the Bazel build of the plugin
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_PLUGIN=1
[[ "${1:-}" == "--no-build" ]] && BUILD_PLUGIN=0

log() { printf '[setup] %s\n' "$*" >&2; }

# ---- Debian packages ------------------------------------------------------------------------
APT_PACKAGES=(bazel-bootstrap libeigen3-dev flatbuffers-compiler libflatbuffers-dev libgtest-dev unzip)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- Python venv ----------------------------------------------------------------------------
PY="${CHIP_PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
mkdir -p build/deps
stamp=build/deps/requirements.stamp
SGLANG_JAX="sglang-jax==0.0.1.post1"
if ! cat requirements.lock requirements-sglang.lock | cmp -s - "$stamp"; then
  log "installing pinned Python packages (requirements.lock, requirements-sglang.lock, $SGLANG_JAX)"
  .venv/bin/python -m pip install -q --upgrade pip==25.1.1 >/dev/null
  .venv/bin/python -m pip install -q -r requirements.lock -r requirements-sglang.lock
  # --no-deps: sglang-jax requires jax[tpu] (libtpu); its other requirements are in the lock.
  .venv/bin/python -m pip install -q --no-deps "$SGLANG_JAX"
  .venv/bin/python -m pip check
  cat requirements.lock requirements-sglang.lock > "$stamp"
fi
VPY="$ROOT/.venv/bin/python"

# The HF transformers reference (PyTorch CPU) in a venv of its own: torch must not share an
# environment with sglang-jax 0.0.1.post1.
hf_stamp=build/deps/requirements-hf.stamp
if [[ ! -x .venv-hf/bin/python ]] || ! cmp -s requirements-hf.lock "$hf_stamp"; then
  log "installing the HF reference venv (.venv-hf, requirements-hf.lock)"
  [[ -x .venv-hf/bin/python ]] || "$PY" -m venv .venv-hf
  .venv-hf/bin/python -m pip install -q --upgrade pip==25.1.1 >/dev/null
  .venv-hf/bin/python -m pip install -q -r requirements-hf.lock
  cp requirements-hf.lock "$hf_stamp"
fi

# ---- Bazel offline overrides (absolute paths: Bazel 4 does not expand %workspace% there) ------
{
  for repo in rules_cc rules_java remote_coverage_tools; do
    echo "common --override_repository=$repo=$ROOT/tools/bazel_offline/$repo"
  done
} > build/deps/offline.bazelrc

# ---- third-party headers and generated code --------------------------------------------------
"$VPY" tools/fetch_pjrt_headers.py --out build/deps/pjrt --cache .cache/wheels
ln -sfn "$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" build/deps/python_include
ln -sfn "$("$VPY" -c 'import pybind11; print(pybind11.get_include())')" build/deps/pybind11_include
ln -sfn "$("$VPY" -c 'import jax; print(jax.ffi.include_dir())')" build/deps/xla_ffi

# FlatBuffers Python code for the executable schema (the compiler writes executables with it).
schema=pjrt_plugin/schema/chip_executable.fbs
gen=python/jax_chip/_schema
if [[ ! -f $gen/.stamp ]] || ! cmp -s "$schema" "$gen/.stamp"; then
  log "generating FlatBuffers Python code from $schema"
  rm -rf "$gen" && mkdir -p "$gen"
  flatc --python -o "$gen" "$schema"
  touch "$gen/__init__.py"
  cp "$schema" "$gen/.stamp"
fi

# ---- plugin library and python package -------------------------------------------------------
if ((BUILD_PLUGIN)); then
  log "building the PJRT plugin with Bazel"
  PATH="$ROOT/.venv/bin:$PATH" bazel build //pjrt_plugin:pjrt_plugin_chip.so >&2
  mkdir -p python/jax_chip/lib
  install -m 0755 bazel-bin/pjrt_plugin/pjrt_plugin_chip.so python/jax_chip/lib/pjrt_plugin_chip.so
fi
pkg_stamp=build/deps/package.stamp
if ! cat python/pyproject.toml python/setup.py python/jax_chip_autoload.pth | cmp -s - "$pkg_stamp" \
   || ! "$VPY" -c 'import importlib.metadata as m; m.distribution("jax-chip")' >/dev/null 2>&1; then
  log "installing python/ (editable) into .venv"
  "$VPY" -m pip install -q --no-deps --no-build-isolation -e python/
  # A wheel install carries jax_chip_autoload.pth (python/setup.py); setuptools' editable
  # wheels carry only their own finder, so the editable install gets it here.
  install -m 0644 python/jax_chip_autoload.pth "$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/"
  cat python/pyproject.toml python/setup.py python/jax_chip_autoload.pth > "$pkg_stamp"
fi
log "ready"
