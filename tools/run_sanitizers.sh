#!/usr/bin/env bash
# The sanitizer runs (README, "Sanitizers"):
#   tools/run_sanitizers.sh          ASan+UBSan: every test (C++ and Python, bazel test --config=asan //...);
#                                    TSan: the C++ concurrency and misuse tests
#   tools/run_sanitizers.sh --ci     what CI runs after the normal suite: ASan+UBSan on the C++ tests and
#                                    the Python reliability subset below; TSan as above
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
export PATH="$ROOT/.venv/bin:$PATH"
export JAX_CHIP_HF_PYTHON="$ROOT/.venv-hf/bin/python"
asan_targets=(//...)
if [[ "${1:-}" == "--ci" ]]; then
  # The C++ tests, and the Python tests that drive the most plugin code per second: golden programs
  # (every kernel family), threads, the compile cache, fuzzing, execution and error paths.
  asan_targets=(//pjrt_plugin/... //tests:test_golden //tests:test_concurrency //tests:test_compile_cache
                //tests:test_fuzz_compiler //tests:test_execution //tests:test_errors //tests:test_attention_chip)
fi
rc=0
bazel test --config=asan "${asan_targets[@]}" || rc=$?
bazel test --config=tsan //pjrt_plugin:api_concurrency_test //pjrt_plugin:api_misuse_test || rc=$?
exit $rc
