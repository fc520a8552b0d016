"""``python -m claude_pm``: the CLI."""

from claude_pm.cli import main

raise SystemExit(main())
