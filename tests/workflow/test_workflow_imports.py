"""The workflow modules stay pure and light: the engine and the tool schema import them."""

from __future__ import annotations

import subprocess
import sys

MODULES = ("spec", "parse", "fields", "graph", "writes", "plan", "scheduler")
HEAVY = (
    "yaml",
    "jsonschema",
    "sqlite3",
    "subprocess",
    "psutil",
    "anthropic",
    "mcp",
    "ray",
    "claude_pm.tools",
    "claude_pm.process",
    "claude_pm.state",
)


def test_workflow_modules_import_nothing_heavy_or_impure() -> None:
    imports = "; ".join(f"import claude_pm.workflow.{m}" for m in MODULES)
    code = f"import sys; {imports}; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
