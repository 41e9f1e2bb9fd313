#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, the static checks (ruff, mypy; configured in
# pyproject.toml), then pytest. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
checks=0
echo "ruff check:" && .venv/bin/ruff check spa_vl analysis tests benchmarks spa_vl.py || checks=1
echo "mypy:" && .venv/bin/mypy || checks=1
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  # pytest's 5 means "no test collected": fine for a selection (-k/-m/path), a failure for the suite.
  if [ "$#" -gt 0 ]; then
    echo "scripts/test.sh: no test matched the selection '$*'" >&2
    rc=0
  else
    echo "scripts/test.sh: pytest collected no tests at all; the suite is broken" >&2
    exit 1
  fi
fi
if [ "$rc" -eq 0 ] && [ "$checks" -ne 0 ]; then
  echo "scripts/test.sh: ruff or mypy reported findings (above)" >&2
  exit 1
fi
exit "$rc"
