#!/usr/bin/env bash
# The README's main job: sets everything up (tools/setup.sh), then runs tools/main_job.py on the
# chip. Arguments are passed to main_job.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
exec "$ROOT/.venv/bin/python" tools/main_job.py "$@"
