#!/usr/bin/env bash
# The README's main job: sets everything up (tools/setup.sh), then runs sglang-jax's offline
# generation on the chip with a small Qwen3 model (tools/sglang_job.py): the generated text, and
# the profile of where the chip's time went. Arguments are passed to sglang_job.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
exec "$ROOT/.venv/bin/python" tools/sglang_job.py "$@"
