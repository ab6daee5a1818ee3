#!/usr/bin/env bash
# Set up .venv (pinned) and run the main job on the built-in synthetic data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/tagnet demo "$@"
