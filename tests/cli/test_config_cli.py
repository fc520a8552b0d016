"""``claude-pm config show``: each setting with its value and where it came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _config(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "config", "show", *args],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=60,
        check=False,
    )


def test_show_says_where_each_value_came_from(project: Path, isolated_home: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.claude-pm]\nbackend = "claude-code"\n')
    user = isolated_home / ".config" / "claude-pm"
    user.mkdir(parents=True)
    (user / "config.toml").write_text("max_report_bytes = 4096\nsandbox = 'required'\n")
    (project / ".claude-pm").mkdir()
    (project / ".claude-pm" / "config.toml").write_text("sandbox = 'off'\n")
    out = _config(project, "--json", CLAUDE_PM_LOG_LEVEL="debug")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["settings"]["default_backend"] == "claude-code"
    assert data["sources"]["default_backend"].startswith("project file (")
    assert data["settings"]["max_report_bytes"] == 4096
    assert data["sources"]["max_report_bytes"].startswith("user file (")
    assert data["sources"]["log_level"] == "environment (CLAUDE_PM_LOG_LEVEL)"
    assert data["settings"]["sandbox"] == "required"
    assert any("sandbox" in note for note in data["ignored"])
    text = _config(project)
    assert text.returncode == 0
    assert "ignored: sandbox in" in text.stderr
    # In a pipe: one setting a line, tab-separated (name, value, source).
    fields = next(x for x in text.stdout.splitlines() if x.startswith("default_backend\t"))
    _name, value, source = fields.split("\t")
    assert value == "claude-code" and source.startswith("project file")
    table = _config(project, "--format", "table")
    line = next(x for x in table.stdout.splitlines() if x.startswith("default_backend "))
    assert "claude-code" in line and "project file" in line


def test_a_broken_settings_file_is_an_error_that_names_it(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.claude-pm]\ncolour = 'blue'\n")
    out = _config(project)
    assert out.returncode == 2
    assert "Unknown setting 'colour'" in out.stderr and "pyproject.toml" in out.stderr
    assert "Traceback" not in out.stderr
