#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, then pytest. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  # pytest's 5 means "no test collected": fine for a selection (-k/-m/path), a failure for the suite.
  if [ "$#" -gt 0 ]; then
    echo "scripts/test.sh: no test matched the selection '$*'" >&2
    exit 0
  fi
  echo "scripts/test.sh: pytest collected no tests at all; the suite is broken" >&2
  exit 1
fi
exit "$rc"
