#!/usr/bin/env bash
# Install claude-pm with its development tools, then lint, type-check and test it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/setup-env.sh" dev
cd "$repo"
# The sandbox tests need bubblewrap; install it where we can (root and apt), else they skip.
if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    timeout 300 apt-get install -y -qq bubblewrap >/dev/null 2>&1 \
        || { timeout 300 apt-get update -qq >/dev/null 2>&1 \
             && timeout 300 apt-get install -y -qq bubblewrap >/dev/null 2>&1; } \
        || echo "== bubblewrap could not be installed: the sandbox tests will skip"
fi
echo "== ruff"; ruff check src tests benchmarks; ruff format --check src tests benchmarks
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"; python -m pytest -p no:cacheprovider "$@"
