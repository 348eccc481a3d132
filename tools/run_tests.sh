#!/usr/bin/env bash
# The README's test command: sets everything up (tools/setup.sh), then runs the whole suite with
# Bazel (C++ runtime/API tests and Python tests) and prints the totals from every test's JUnit XML.
#   tools/run_tests.sh                 everything
#   tools/run_tests.sh //tests:test_ops_shape   some targets
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
export PATH="$ROOT/.venv/bin:$PATH"
# The HF transformers reference (tests/sglang) runs in its own venv, made by setup.sh.
export JAX_CHIP_HF_PYTHON="$ROOT/.venv-hf/bin/python"
targets=("$@")
((${#targets[@]})) || targets=(//...)
rc=0
bazel test "${targets[@]}" || rc=$?
python3 tools/test_totals.py bazel-testlogs
exit $rc
