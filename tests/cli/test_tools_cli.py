"""``claude-pm tools``: the definitions on stdout, as JSON, in each provider's format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from claude_pm.cli import main
from claude_pm.tools import as_anthropic, as_mcp, as_openai


@pytest.mark.parametrize(
    ("format_name", "expected"),
    [("anthropic", as_anthropic), ("openai", as_openai), ("mcp", as_mcp)],
)
def test_tools_prints_each_format(
    format_name: str,
    expected: Callable[[], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["tools", "--format", format_name]) == 0
    assert json.loads(capsys.readouterr().out) == expected()


def test_tools_defaults_to_anthropic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools"]) == 0
    assert json.loads(capsys.readouterr().out) == as_anthropic()


def test_an_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--format", "gemini"]) == 2
    captured = capsys.readouterr()
    assert "anthropic" in captured.err and captured.out == ""


def test_the_installed_entry_point_pipes_plain_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "claude_pm", "tools", "--format", "openai"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == as_openai()
