#!/usr/bin/env bash
# Creates .venv/ with everything spa-vl needs, once; later calls return at once unless
# pyproject.toml or this script changed. torch is pinned to the machine's local CPU wheel and
# installed *before* anything else, so sentence-transformers does not pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless Chromium + ChromeDriver (Debian packages) for the browser tests of the report and explorer.
# Checked on every run (cheap once installed), only as root and only when missing; a machine where it fails skips those tests and says so.
if [ "$(id -u)" = 0 ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
    || echo "spa-vl setup: could not install chromium (browser tests will be skipped)" >&2
fi

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${SPA_VL_TORCH:-torch==2.13.0}
stamp_file=.venv/.spa-vl-setup
stamp=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

if [ -x .venv/bin/python ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  exit 0
fi

echo "spa-vl setup: creating .venv (torch: $TORCH_SPEC)" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install() { .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install --upgrade "pip>=24" "setuptools>=68" wheel
pip_install "$TORCH_SPEC"
pip_install -e ".[dev]"
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "$stamp" > "$stamp_file"
echo "spa-vl setup: done" >&2
