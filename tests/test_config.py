"""Settings: defaults, framework context, environment, flags — later wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claude_pm.config import FIELDS, FIELDS_BY_NAME, Field, Source, load_settings
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


def test_reference_framework_keys_are_not_handed_to_agents(tmp_path: Path):
    """``framework_version`` and ``user_preferences`` configure claude-pm; they are no context."""
    ctx = {
        "project_root": str(tmp_path),
        "framework_version": "4.5.1",
        "user_preferences": {"timeout": 42},
        "session_id": "s-1",
        "team_note": "kept",
    }
    s = load_settings(ctx, environ={})
    assert dict(s.extra_context) == {"team_note": "kept"}
    assert s.default_timeout_s == 42.0
    assert s.session_id == "s-1"


@pytest.mark.parametrize("spec", FIELDS, ids=lambda f: f.name)
def test_every_setting_follows_the_one_precedence(tmp_path: Path, spec: Field):
    """For each field of the table: default < environment < framework context < flag."""
    samples = _SAMPLES.get(spec.name)
    if samples is None:
        pytest.fail(f"add sample values for the new setting {spec.name!r} to _SAMPLES")
    env_value, ctx_value, flag_value, parsed = samples(tmp_path)
    base = {"project_root": str(tmp_path)} if spec.name != "project_root" else {}
    s = load_settings(base, environ={})
    assert s.sources[spec.name] is Source.DEFAULT
    if spec.env is not None:
        s = load_settings(base, environ={spec.env: env_value})
        assert s.sources[spec.name] is Source.ENVIRONMENT
        assert getattr(s, spec.name) == parsed(env_value)
    if spec.context_keys:
        key = spec.context_keys[-1]
        s = load_settings({**base, key: ctx_value}, environ={spec.env or "X": env_value})
        assert s.sources[spec.name] is Source.FRAMEWORK_CONTEXT
        assert getattr(s, spec.name) == parsed(ctx_value)
        s = load_settings(
            {**base, key: ctx_value},
            environ={spec.env or "X": env_value},
            **{spec.name: flag_value},
        )
        assert s.sources[spec.name] is Source.FLAG
        assert getattr(s, spec.name) == parsed(flag_value)


def _dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    made = []
    for name in ("e", "c", "f"):
        (tmp_path / name).mkdir(exist_ok=True)
        made.append(tmp_path / name)
    return made[0], made[1], made[2]


def _paths(tmp_path: Path) -> tuple[Any, Any, Any, Any]:
    e, c, f = _dirs(tmp_path)
    return str(e), str(c), str(f), lambda v: Path(v).resolve()


def _plain_paths(tmp_path: Path) -> tuple[Any, Any, Any, Any]:
    return "/from/env", "/from/ctx", "/from/flag", lambda v: Path(v)


def _roots(tmp_path: Path) -> tuple[Any, Any, Any, Any]:
    e, c, f = _dirs(tmp_path)
    return (
        str(e),
        [str(c)],
        [str(f)],
        lambda v: tuple(Path(p).resolve() for p in ([v] if isinstance(v, str) else v)),
    )


def _values(env: Any, ctx: Any, flag: Any, parsed: Any = None) -> Any:
    return lambda tmp_path: (env, ctx, flag, parsed or (lambda v: v))


_SAMPLES: dict[str, Any] = {
    "project_root": _paths,
    "state_dir": _plain_paths,
    "user_agents_dir": _plain_paths,
    "ticket_auto_create": _values("false", True, False, lambda v: v in (True, "true")),
    "log_level": _values("debug", "ERROR", "warning", str.upper),
    "default_timeout_s": _values("10", 20, 30.5, float),
    "default_memory_limit_mb": _values("100", 200, 300, float),
    "memory_enforcement": _values("RLIMIT", "sampling", "auto", str.lower),
    "allowed_project_roots": _roots,
    "sandbox": _values("required", "off", "auto"),
    "sandbox_network": _values("off", True, False, lambda v: v in (True, "on")),
    "allow_bypass_permissions": _values("yes", False, True, lambda v: v in (True, "yes")),
    "default_backend": _values("claude-code", "anthropic", "openai"),
    "model": _values("m-env", "m-ctx", "m-flag"),
    "claude_code_path": _values("/opt/claude", "/ctx/claude", "/flag/claude"),
    "claude_code_idle_timeout_s": _values("60", 120, 5, float),
    "openai_base_url": _values("http://e/v1", "http://c/v1", "http://f/v1"),
    "openai_model": _values("e", "c", "f"),
    "max_report_bytes": _values("1024", 2048, 4096, int),
    "max_tickets_listed": _values("5", 10, 20, int),
    "max_ticket_input_bytes": _values("2048", 4096, 8192, int),
    "run_budget_usd": _values("1.5", 2, 0.25, float),
    "workflow_budget_usd": _values("10", 20, 5, float),
    "executor": _values("ray", "local", "ray"),
    "ray_address": _values("auto", "10.0.0.1:6379", "local"),
    "runs_retention_days": _values("7", 30, 1, float),
}


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("default_timeout_s", "soon", "a number of at least 1"),
        ("max_report_bytes", "12.5", "an integer"),
        ("sandbox", "maybe", "off, auto, required"),
        ("log_level", "loud", "DEBUG, INFO"),
        ("run_budget_usd", "-1", "at least 0"),
        ("allowed_project_roots", "/nonexistent/claude-pm-root", "does not exist"),
    ],
)
def test_a_bad_value_names_the_setting_and_what_it_takes(
    tmp_path: Path, name: str, value: str, fragment: str
):
    env = {FIELDS_BY_NAME[name].env or "": value}
    with pytest.raises(InvalidInput, match=fragment) as info:
        load_settings(environ=env, project_root=tmp_path)
    assert info.value.field == name


def test_an_unknown_flag_is_refused(tmp_path: Path):
    with pytest.raises(InvalidInput, match="Unknown setting"):
        load_settings(environ={}, project_root=tmp_path, colour="blue")


def _files(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "proj"
    (project / ".claude-pm").mkdir(parents=True)
    home = tmp_path / "home"
    (home / ".config" / "claude-pm").mkdir(parents=True)
    return project, {"HOME": str(home)}


def test_files_sit_between_the_defaults_and_the_environment(tmp_path: Path):
    project, env = _files(tmp_path)
    user = Path(env["HOME"]) / ".config" / "claude-pm" / "config.toml"
    user.write_text('backend = "openai"\nmax_report_bytes = 2048\nlog_level = "debug"\n')
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.claude-pm]\nbackend = "claude-code"\n'
        'state_dir = ".cache/pm"\n'
    )
    (project / ".claude-pm" / "config.toml").write_text("max_tickets_listed = 7\n")
    s = load_settings(environ=env, project_root=project)
    assert s.default_backend == "claude-code"  # the project's file beats the user's
    assert s.sources["default_backend"] is Source.PROJECT_FILE
    assert "pyproject.toml" in s.origins["default_backend"]
    assert s.max_report_bytes == 2048 and s.sources["max_report_bytes"] is Source.USER_FILE
    assert s.log_level == "DEBUG"
    assert s.max_tickets_listed == 7
    assert s.state_dir == project.resolve() / ".cache" / "pm"  # relative to the project
    s = load_settings(environ={**env, "CLAUDE_PM_BACKEND": "anthropic"}, project_root=project)
    assert s.default_backend == "anthropic" and s.sources["default_backend"] is Source.ENVIRONMENT
    s = load_settings(environ=env, project_root=project, read_files=False)
    assert s.default_backend == "builtin"


def test_a_project_file_cannot_switch_off_the_protections(tmp_path: Path):
    """A cloned repository's own file never sets a security setting; the user's may."""
    project, env = _files(tmp_path)
    (project / ".claude-pm" / "config.toml").write_text(
        'sandbox = "off"\nallow_bypass_permissions = true\nallowed_project_roots = ["/"]\n'
    )
    s = load_settings(environ=env, project_root=project)
    assert s.sandbox == "auto" and s.allow_bypass_permissions is False
    assert s.allowed_project_roots == ()
    assert len(s.ignored) == 3 and all("security settings" in note for note in s.ignored)
    user = Path(env["HOME"]) / ".config" / "claude-pm" / "config.toml"
    user.write_text('sandbox = "required"\n')
    assert load_settings(environ=env, project_root=project).sandbox == "required"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("colour = 'blue'\n", "Unknown setting 'colour'"),
        ("backend = \n", "not valid TOML"),
        ("max_report_bytes = 'lots'\n", "max_report_bytes must be an integer"),
    ],
)
def test_a_bad_settings_file_says_which_file_and_what_to_fix(
    tmp_path: Path, text: str, fragment: str
):
    project, env = _files(tmp_path)
    (project / ".claude-pm" / "config.toml").write_text(text)
    with pytest.raises(InvalidInput, match=fragment) as info:
        load_settings(environ=env, project_root=project)
    if "must be" not in fragment:
        assert "config.toml" in info.value.message
