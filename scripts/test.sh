#!/usr/bin/env bash
# Set up .venv (pinned) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# pytest exits 5 when it collects no test: that is a failure here too.
.venv/bin/python -m pytest "$@"
