#!/usr/bin/env bash
# Install claude-pm with its development tools, then lint, type-check and test it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/setup-env.sh" dev
cd "$repo"
echo "== ruff"; ruff check src tests benchmarks; ruff format --check src tests benchmarks
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"; python -m pytest -p no:cacheprovider "$@"
