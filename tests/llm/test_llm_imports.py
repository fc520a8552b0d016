"""The model loop stays light: it runs inside agent processes, which start on every run."""

from __future__ import annotations

import subprocess
import sys

import claude_pm.llm


def test_the_loop_and_its_adapters_import_no_sdk_and_nothing_above_them() -> None:
    code = (
        "import sys\n"
        "import claude_pm.llm.loop, claude_pm.llm.anthropic, claude_pm.llm.openai\n"
        "import claude_pm.llm.pricing, claude_pm.testing\n"
        "heavy = ('anthropic', 'openai', 'httpx2', 'pydantic', 'yaml', 'sqlite3', 'psutil',\n"
        "         'claude_pm.tools', 'claude_pm.state', 'claude_pm.process', 'claude_pm.agents')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_exported_name_resolves() -> None:
    for name in claude_pm.llm.__all__:
        assert getattr(claude_pm.llm, name) is not None, name
    assert sorted(claude_pm.llm.__all__) == sorted(set(claude_pm.llm.__all__))
