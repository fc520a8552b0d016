"""Settings: defaults, framework context, environment, flags — later wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_pm.config import load_settings
from claude_pm.errors import ContextError, InvalidInput


def test_precedence(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    s = load_settings({"project_root": str(a), "ticket_auto_create": False}, environ={})
    assert s.project_root == a.resolve()
    assert s.ticket_auto_create is False
    assert s.db_path == a.resolve() / ".claude-pm" / "state.db"
    s = load_settings(
        {"project_root": str(a)},
        environ={"CLAUDE_PM_TICKET_AUTO_CREATE": "false"},
        project_root=b,
        ticket_auto_create=True,
    )
    assert s.project_root == b.resolve()
    assert s.ticket_auto_create is True
    s = load_settings(environ={"CLAUDE_PM_PROJECT_ROOT": str(a), "CLAUDE_PM_USER_AGENTS_DIR": "/u"})
    assert s.project_root == a.resolve()
    assert s.user_agents_dir == Path("/u")


def test_bad_values_say_what_to_fix(tmp_path: Path):
    with pytest.raises(ContextError, match="does not exist"):
        load_settings({"project_root": str(tmp_path / "nope")}, environ={})
    with pytest.raises(InvalidInput, match="true or false"):
        load_settings(environ={"CLAUDE_PM_TICKET_AUTO_CREATE": "maybe"}, project_root=tmp_path)


def test_memory_enforcement_mode(tmp_path: Path):
    assert load_settings(environ={}, project_root=tmp_path).memory_enforcement == "auto"
    env = {"CLAUDE_PM_MEMORY_ENFORCEMENT": "RLIMIT"}
    assert load_settings(environ=env, project_root=tmp_path).memory_enforcement == "rlimit"
    with pytest.raises(InvalidInput, match="auto, rlimit, sampling"):
        load_settings({"memory_enforcement": "magic"}, environ={}, project_root=tmp_path)


def test_the_framework_context_beats_the_environment(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    env = {
        "CLAUDE_PM_PROJECT_ROOT": str(a),
        "CLAUDE_PM_TICKET_AUTO_CREATE": "false",
        "CLAUDE_PM_MEMORY_ENFORCEMENT": "sampling",
        "CLAUDE_PM_USER_AGENTS_DIR": "/from-env",
    }
    ctx = {
        "project_root": str(b),
        "ticket_auto_create": True,
        "memory_enforcement": "auto",
        "user_agents_dir": "/from-context",
    }
    s = load_settings(ctx, environ=env)
    assert s.project_root == b.resolve()
    assert s.ticket_auto_create is True
    assert s.memory_enforcement == "auto"
    assert s.user_agents_dir == Path("/from-context")
    s = load_settings(environ=env)
    assert (s.project_root, s.ticket_auto_create, s.memory_enforcement) == (
        a.resolve(),
        False,
        "sampling",
    )
