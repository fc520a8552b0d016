#!/usr/bin/env bash
# The main job: install claude-pm, then run an agent on a task in a copy of the demo
# project and print the result and the tickets it produced.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/setup-env.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$repo/examples/review-demo" "$work/project"
cd "$work/project"
echo "== claude-pm agents list"
claude-pm agents list
echo
echo "== claude-pm run code-scanner"
status=0
claude-pm run code-scanner "Review src/ for syntax errors and open work items" \
    --file src --timeout 60 --memory-limit 256 || status=$?
echo
echo "== claude-pm tickets list"
claude-pm tickets list
exit "$status"
