#!/usr/bin/env bash
# Create .venv (once) and install claude-pm into it with the given extras.
# Usage: source scripts/setup-env.sh [EXTRAS]   e.g. "dev"
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
py="${PYTHON:-python3}"
if [ ! -x "$repo/.venv/bin/python" ]; then
    "$py" -m venv "$repo/.venv"
fi
spec="$repo"
[ -n "$extras" ] && spec="$repo[$extras]"
stamp="$repo/.venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ "$repo/pyproject.toml" -nt "$stamp" ]; then
    "$repo/.venv/bin/python" -m pip install --quiet --upgrade pip
    "$repo/.venv/bin/python" -m pip install --quiet -e "$spec"
    touch "$stamp"
fi
export PATH="$repo/.venv/bin:$PATH"
