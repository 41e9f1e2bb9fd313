#!/usr/bin/env bash
# The main job on a fresh machine: set-up, then the stats of the embedded sample.
# Extra arguments go to `spa-vl stats` (e.g. a mirror folder).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/spa-vl stats "$@"
