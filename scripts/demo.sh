#!/usr/bin/env bash
# The main job: install claude-pm (with the review tools), then review a copy of the
# sample project with the core agents, print the summary and the tickets they filed,
# and say how to go on (Claude Code, your own agent). The copy is kept, in
# $TMPDIR/claude-pm-demo/ledger (or $CLAUDE_PM_DEMO_DIR/ledger), so the paths printed
# point somewhere; it is outside the clone, whose git ignore rules would hide its files.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/setup-env.sh" review
demo="${CLAUDE_PM_DEMO_DIR:-${TMPDIR:-/tmp}/claude-pm-demo}"
project="$demo/ledger"
rm -rf "$project"
mkdir -p "$demo"
cp -r "$repo/examples/review-sample" "$project"
echo "== claude-pm review $project"
status=0
claude-pm review "$project" || status=$?
echo
echo "== claude-pm tickets list"
claude-pm --project "$project" tickets list
cat <<EOF

== next steps
The sample project and its state stay in $project.
  Full reports:        claude-pm --project $project runs list   (then: runs show RUN_ID)
  As a CI gate:        claude-pm review $project --fail-on high --format sarif --output review.sarif
  Claude Code:         claude mcp add claude-pm -- $repo/.venv/bin/claude-pm --project $project mcp
                       then ask Claude to review the project, or type /mcp__claude-pm__review
  Your own agent:      claude-pm --project $project agents new my-agent
                       (writes .claude/agents/my-agent.md and a script that runs; then:
                        claude-pm --project $project run my-agent "do the thing")
EOF
exit "$status"
