#!/usr/bin/env bash
# The main job on a fresh machine: set-up, then the full report of the embedded sample
# into out/report/ (report.html, report.md, PNG figures, stats.json).
# Extra arguments go to `spa-vl report` (e.g. a mirror folder, --sample 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/spa-vl report --out out/report --overwrite "$@"
