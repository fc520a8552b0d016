"""The child side of an agent run: ``python -m claude_pm.agents.executor --agent-type T``.

Reads the hand-off (``--handoff PATH``, else the file named by
``CLAUDE_PM_CONTEXT_FILE``) as a :class:`~claude_pm.agents.handoff.Handoff`,
refusing a version it does not know, checks it is for this agent, and runs the
hand-off's backend. It imports only the standard library and the one backend
it needs: every agent run pays for its start-up. It never imports the tool
layer, the state database, tickets, workflows or the registry.

Exit codes: the backend's own, or 2 (usage), 78 (the hand-off or backend is
unusable: the message on stderr says why).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from claude_pm.agents.backends import load_backend, unavailable_reason
from claude_pm.agents.handoff import ENV_HANDOFF_FILE, Handoff, HandoffError

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
    handoff_path = handoff_path or os.environ.get(ENV_HANDOFF_FILE)
    if not agent_type or not handoff_path:
        print(
            f"executor: needs --agent-type and a hand-off file (--handoff or "
            f"{ENV_HANDOFF_FILE}); it is started by claude-pm, not by hand",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        handoff = Handoff.read(handoff_path)
    except HandoffError as e:
        print(f"executor: {e}", file=sys.stderr)
        return EXIT_CONFIG
    if handoff.agent.agent_type != agent_type:
        print(
            f"executor: hand-off is for agent {handoff.agent.agent_type!r}, not {agent_type!r}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    reason = unavailable_reason(handoff.backend)
    if reason is not None:
        print(f"executor: agent {agent_type!r} cannot run: {reason}", file=sys.stderr)
        return EXIT_CONFIG
    return load_backend(handoff.backend).run(handoff)


if __name__ == "__main__":
    raise SystemExit(main())
