"""The child side of an agent run: ``python -m claude_pm.agents.executor --agent-type T``.

Reads the hand-off file (``--handoff PATH`` or ``CLAUDE_PM_CONTEXT_FILE``),
checks it is for this agent, and runs the agent's backend. It imports only the
standard library and the one backend it needs: every agent run pays for its
start-up.

Exit codes: the backend's own, or 2 (usage), 78 (the hand-off or backend is
unusable: the message on stderr says why).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence

from claude_pm.agents.backends import BACKENDS, unavailable_reason

EXIT_USAGE = 2
EXIT_CONFIG = 78


def _parse(argv: Sequence[str]) -> tuple[str | None, str | None]:
    agent_type = handoff = None
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag in ("--agent-type", "--handoff") and args:
            value = args.pop(0)
            if flag == "--agent-type":
                agent_type = value
            else:
                handoff = value
        elif flag in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(0)
        else:
            print(f"executor: unexpected argument {flag!r}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)
    return agent_type, handoff


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent described by the hand-off; returns the process exit code."""
    agent_type, handoff_path = _parse(sys.argv[1:] if argv is None else argv)
    handoff_path = handoff_path or os.environ.get("CLAUDE_PM_CONTEXT_FILE")
    if not agent_type or not handoff_path:
        print(
            "executor: needs --agent-type and a hand-off file (--handoff or "
            "CLAUDE_PM_CONTEXT_FILE); it is started by claude-pm, not by hand",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        with open(handoff_path, encoding="utf-8") as f:  # noqa: PTH123 - no pathlib import cost
            handoff = json.load(f)
    except (OSError, ValueError) as e:
        print(f"executor: cannot read hand-off {handoff_path!r}: {e}", file=sys.stderr)
        return EXIT_CONFIG
    agent = handoff.get("agent") or {}
    if agent.get("agent_type") != agent_type:
        print(
            f"executor: hand-off is for agent {agent.get('agent_type')!r}, not {agent_type!r}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    backend = agent.get("backend")
    reason = unavailable_reason(backend)
    if reason is not None:
        print(f"executor: agent {agent_type!r} cannot run: {reason}", file=sys.stderr)
        return EXIT_CONFIG
    module = importlib.import_module(BACKENDS[str(backend)])
    code: int = module.run(handoff)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
