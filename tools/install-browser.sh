#!/usr/bin/env bash
# Install what the browser test (tests/test_browser.py, `make test-browser`) needs:
#   - Debian's Chromium, used as /usr/bin/chromium;
#   - the Python `playwright` package in the project's venv (only its driver is used:
#     never run `playwright install`, which would download browsers of its own).
# Idempotent: installs only what is missing.
# Usage: tools/install-browser.sh [PYTHON | VENV_DIR]   (default: .venv/bin/python)
set -euo pipefail

TARGET=${1:-.venv/bin/python}
if [ -d "$TARGET" ]; then PYTHON="$TARGET/bin/python"; else PYTHON="$TARGET"; fi
[ -x "$PYTHON" ] || { echo "install-browser.sh: no Python at $PYTHON" >&2; exit 1; }

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    echo "installing Debian's chromium" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version >&2

if ! "$PYTHON" -c "import playwright.sync_api" 2>/dev/null; then
    echo "installing playwright for $PYTHON" >&2
    "$PYTHON" -m pip install --quiet "playwright>=1.40"
fi
"$PYTHON" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))" >&2
