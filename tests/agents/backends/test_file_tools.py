"""The LLM agents' tools, called directly: confinement, caps, Claude Code's semantics, grants."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from claude_pm.agents.backends.agent_tools import AgentToolbox, BashTool, grant_tools, parse_entry
from claude_pm.agents.backends.file_search import glob_files, grep_files
from claude_pm.agents.backends.file_tools import ProjectFiles, ToolLimits, ToolRefused, glob_regex
from claude_pm.agents.backends.llm_agent import _bash_environment
from claude_pm.agents.backends.llm_options import (
    ANTHROPIC_OPTIONS,
    OPENAI_OPTIONS,
    anthropic_model,
    check_options,
    openai_model,
)
from claude_pm.agents.backends.llm_prompt import CONTEXT_MAX_CHARS, render_context
from claude_pm.agents.backends.rate_limits import RateLimitLog, reset_at
from claude_pm.agents.backends.tool_specs import SCHEMAS
from claude_pm.llm.types import ToolCall


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("the secret\n")
    return folder


@pytest.fixture
def files(project: Path, outside: Path) -> ProjectFiles:
    (project / "app.py").write_text("def add(a, b):\n    return a - b\n")
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "src" / "pkg" / "core.py").write_text("# TODO: speed up\nVALUE = 1\n")
    (project / "README.md").write_text("# Demo\n")
    (project / "file_link").symlink_to(outside / "secret.txt")
    (project / "dir_link").symlink_to(outside, target_is_directory=True)
    (project / "inside_link").symlink_to(project / "app.py")
    return ProjectFiles(project)


# -- confinement ----------------------------------------------------------------------------

ESCAPES: list[tuple[str, Callable[[Path], str], str]] = [
    ("dot-dot", lambda out: "../outside/secret.txt", "outside the project"),
    ("deep dot-dot", lambda out: "src/../../outside/secret.txt", "outside the project"),
    ("absolute", lambda out: str(out / "secret.txt"), "outside the project"),
    ("root itself", lambda out: "/etc/hostname", "outside the project"),
    ("file link", lambda out: "file_link", "symbolic link"),
    ("through a folder link", lambda out: "dir_link/secret.txt", "symbolic link"),
]


@pytest.mark.parametrize(("case", "path_of", "says"), ESCAPES, ids=[c[0] for c in ESCAPES])
@pytest.mark.parametrize("tool", ["Read", "Write", "Edit", "Grep"])
def test_every_way_out_of_the_project_is_refused(
    files: ProjectFiles,
    outside: Path,
    tool: str,
    case: str,
    path_of: Callable[[Path], str],
    says: str,
) -> None:
    path = path_of(outside)
    calls: dict[str, Callable[[], str]] = {
        "Read": lambda: files.read({"file_path": path}),
        "Write": lambda: files.write({"file_path": path, "content": "x"}),
        "Edit": lambda: files.edit(
            {"file_path": path, "old_string": "the secret", "new_string": "gone"}
        ),
        "Grep": lambda: grep_files(files, {"pattern": "secret", "path": path}),
    }
    with pytest.raises(ToolRefused, match=says):
        calls[tool]()
    assert (outside / "secret.txt").read_text() == "the secret\n"


def test_paths_that_stay_inside_are_fine(files: ProjectFiles, project: Path) -> None:
    assert "def add" in files.read({"file_path": "src/../app.py"})
    assert "def add" in files.read({"file_path": str(project / "app.py")})
    assert "def add" in files.read({"file_path": "inside_link"})
    with pytest.raises(ToolRefused, match="outside the project"):
        glob_files(files, {"pattern": "*", "path": ".."})


def test_walks_leave_symbolic_links_out(files: ProjectFiles) -> None:
    listed = glob_files(files, {"pattern": "**/*"}).splitlines()
    assert sorted(listed) == ["README.md", "app.py", "src/pkg/core.py"]
    assert "secret" not in grep_files(files, {"pattern": "secret", "output_mode": "content"})


@pytest.mark.parametrize("folder", [".git", ".claude-pm"])
def test_write_and_edit_refuse_git_and_claude_pm_state(files: ProjectFiles, folder: str) -> None:
    with pytest.raises(ToolRefused, match=folder):
        files.write({"file_path": f"{folder}/hooks/pre-commit", "content": "#!/bin/sh\n"})
    assert not (files.root / folder).exists()


# -- Read -----------------------------------------------------------------------------------


def test_read_numbers_lines_and_reads_on_from_an_offset(project: Path) -> None:
    (project / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    files = ProjectFiles(project)
    assert files.read({"file_path": "long.txt", "limit": 2}) == (
        "     1\tline 1\n     2\tline 2\n[stopped at line 2 (limit=2); read on with offset=3]"
    )
    assert files.read({"file_path": "long.txt", "offset": 10}) == "    10\tline 10"
    assert "has 10 lines" in files.read({"file_path": "long.txt", "offset": 11})


def test_read_output_is_capped_in_lines_line_length_and_bytes(project: Path) -> None:
    limits = ToolLimits(max_output_bytes=1000, max_line_chars=50)
    (project / "wide.txt").write_text("x" * 500 + "\n" + "y\n" * 1000)
    text = ProjectFiles(project, limits).read({"file_path": "wide.txt"})
    assert len(text.encode()) < 1200
    assert "[line cut at 50 characters]" in text.splitlines()[0]
    assert "the output cap of 1000 bytes" in text and "offset=" in text


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("blob.bin", b"\x00\x01\x02", "binary"),
        ("src", None, "folder"),
        ("missing.py", None, "does not exist"),
    ],
)
def test_read_refuses_what_is_not_a_text_file(
    files: ProjectFiles, name: str, content: bytes | None, says: str
) -> None:
    if content is not None:
        (files.root / name).write_bytes(content)
    with pytest.raises(ToolRefused, match=says):
        files.read({"file_path": name})


def test_read_of_an_empty_file_says_so(project: Path) -> None:
    (project / "empty.txt").write_text("")
    assert "is empty" in ProjectFiles(project).read({"file_path": "empty.txt"})


# -- Write and Edit -------------------------------------------------------------------------


def test_write_creates_folders_overwrites_and_keeps_the_mode(files: ProjectFiles) -> None:
    assert files.write({"file_path": "docs/new.md", "content": "a\nb\n"}).startswith(
        "created docs/new.md"
    )
    script = files.root / "run.sh"
    script.write_text("old")
    script.chmod(0o755)
    assert files.write({"file_path": "run.sh", "content": "new"}).startswith("overwrote")
    assert script.read_text() == "new" and stat.S_IMODE(script.stat().st_mode) == 0o755
    with pytest.raises(ToolRefused, match="at most 10 bytes"):
        ProjectFiles(files.root, ToolLimits(write_max_bytes=10)).write(
            {"file_path": "big.txt", "content": "x" * 11}
        )
    assert not list(files.root.glob(".*claude-pm-tmp"))


def test_edit_replaces_one_unique_occurrence_or_every_one_when_asked(project: Path) -> None:
    (project / "crlf.txt").write_bytes(b"a = 1\r\nb = 1\r\nc = 2\r\n")
    files = ProjectFiles(project)
    with pytest.raises(ToolRefused, match="occurs 2 times"):
        files.edit({"file_path": "crlf.txt", "old_string": "= 1", "new_string": "= 3"})
    with pytest.raises(ToolRefused, match="not found"):
        files.edit({"file_path": "crlf.txt", "old_string": "d = 4", "new_string": "d = 5"})
    with pytest.raises(ToolRefused, match="the same"):
        files.edit({"file_path": "crlf.txt", "old_string": "c", "new_string": "c"})
    done = files.edit({"file_path": "crlf.txt", "old_string": "c = 2", "new_string": "c = 9"})
    assert done.startswith("edited crlf.txt: 1 replacement(s)") and "c = 9" in done
    files.edit(
        {"file_path": "crlf.txt", "old_string": "= 1", "new_string": "= 0", "replace_all": True}
    )
    assert (project / "crlf.txt").read_bytes() == b"a = 0\r\nb = 0\r\nc = 9\r\n"


# -- Glob -----------------------------------------------------------------------------------


def test_glob_follows_claude_codes_patterns_newest_first(files: ProjectFiles) -> None:
    os.utime(files.root / "app.py", (1_000_000, 1_000_000))
    (files.root / "node_modules" / "dep").mkdir(parents=True)
    (files.root / "node_modules" / "dep" / "index.py").write_text("")
    assert glob_files(files, {"pattern": "*.py"}).splitlines() == ["app.py"]
    assert glob_files(files, {"pattern": "**/*.py"}).splitlines() == ["src/pkg/core.py", "app.py"]
    assert glob_files(files, {"pattern": "**/*.{md,py}", "path": "src"}) == "src/pkg/core.py"
    assert glob_files(files, {"pattern": "*.rs"}) == "No files found"
    with pytest.raises(ToolRefused, match=r"'\.\.'"):
        glob_files(files, {"pattern": "../*"})


def test_glob_lists_a_bounded_number_of_paths(project: Path) -> None:
    for n in range(30):
        (project / f"f{n:02}.txt").write_text("")
    text = glob_files(ProjectFiles(project, ToolLimits(glob_max_results=10)), {"pattern": "*"})
    assert len(text.splitlines()) == 11 and "20 more of 30 files not shown" in text
    cut = glob_files(ProjectFiles(project, ToolLimits(walk_max_entries=5)), {"pattern": "*"})
    assert "stopped after 5 files" in cut


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/*.py", "a/b/c.py", True),
        ("**/*.py", "c.py", True),
        ("*.py", "a/c.py", False),
        ("src/**", "src/a/b", True),
        ("*.{ts,tsx}", "x.tsx", True),
        ("[!a]*.py", "a.py", False),
        ("file?.txt", "file1.txt", True),
    ],
)
def test_glob_patterns(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches


# -- Grep -----------------------------------------------------------------------------------


def test_grep_modes_filters_and_context(files: ProjectFiles) -> None:
    (files.root / "blob.bin").write_bytes(b"TODO\x00")
    assert grep_files(files, {"pattern": "todo", "-i": True}) == "Found 1 file(s)\nsrc/pkg/core.py"
    content = grep_files(files, {"pattern": "return", "output_mode": "content", "-B": 1})
    assert content == "app.py-1-def add(a, b):\napp.py:2:    return a - b"
    os.utime(files.root / "app.py", (1_000_000, 1_000_000))  # newest first: core.py
    assert grep_files(files, {"pattern": "e", "output_mode": "count", "glob": "*.py"}) == (
        "Found 3 matching line(s) in 2 file(s)\nsrc/pkg/core.py:1\napp.py:2"
    )
    assert "README.md" in grep_files(files, {"pattern": "Demo", "type": "md"})
    assert grep_files(files, {"pattern": "Demo", "type": "py"}) == "No files found"
    multi = {"pattern": r"add.*\n.*return", "multiline": True, "output_mode": "content"}
    assert grep_files(files, multi).count("app.py") == 2
    with pytest.raises(ToolRefused, match="regular expression"):
        grep_files(files, {"pattern": "("})


def test_grep_output_is_bounded(project: Path) -> None:
    (project / "many.txt").write_text("hit\n" * 500)
    (project / "huge.txt").write_text("hit\n" * 1000)
    limits = ToolLimits(grep_max_file_bytes=3000)
    text = grep_files(
        ProjectFiles(project, limits), {"pattern": "hit", "output_mode": "content", "head_limit": 5}
    )
    assert len(text.splitlines()) <= 7 and "head_limit=5" in text
    assert "over 3000 bytes not searched" in text


# -- the grant ------------------------------------------------------------------------------

GRANTS: list[tuple[Any, Any, tuple[str, ...]]] = [
    (None, None, ("Read", "Glob", "Grep", "Write", "Edit", "Bash")),
    (("Read", "Grep"), None, ("Read", "Glob", "Grep")),
    (("Grep", "MultiEdit", "WebFetch"), None, ("Read", "Glob", "Grep", "Edit")),
    (("Write", "Edit", "Bash"), "Bash, Write", ("Read", "Glob", "Grep", "Edit")),
    (None, ["Read"], ("Glob", "Grep", "Write", "Edit", "Bash")),
    (("Bash(git status:*)",), None, ("Read", "Glob", "Grep", "Bash")),
]


@pytest.mark.parametrize(("tools", "disallowed", "granted"), GRANTS)
def test_the_grant_follows_claude_codes_fields(
    tools: Any, disallowed: Any, granted: tuple[str, ...]
) -> None:
    assert grant_tools(tools, disallowed).tools == granted


def test_names_this_backend_lacks_are_reported_not_offered() -> None:
    grant = grant_tools(("Read", "WebFetch", "mcp__github__create_issue"))
    assert grant.unsupported == ("WebFetch", "mcp__github__create_issue")
    assert parse_entry("Bash(npm run test:*)") == ("Bash", "npm run test:*")


def test_bash_rules_allow_and_deny_commands() -> None:
    allowed = grant_tools(("Bash(git status:*)", "Bash(make test)"))
    assert allowed.check_command("git status --short") is None
    assert allowed.check_command("make test") is None
    assert "may run only" in (allowed.check_command("git push") or "")
    assert "one plain command" in (allowed.check_command("git status; rm -rf x") or "")
    assert "one plain command" in (allowed.check_command("git status $(rm x)") or "")
    denied = grant_tools(None, "Bash(rm:*), Bash(git push:*)")
    assert denied.check_command("ls && git status") is None
    assert "git push" in (denied.check_command("git add . && git push origin") or "")
    assert "substitutes another" in (denied.check_command("echo $(rm -rf x)") or "")


def test_path_rules_allow_and_deny_paths(files: ProjectFiles) -> None:
    grant = grant_tools(("Read", "Edit(docs/**)"), "Read(.env)")
    assert grant.check_path("Edit", "docs/guide/a.md") is None
    assert "only use paths" in (grant.check_path("Edit", "app.py") or "")
    assert "disallowedTools" in (grant.check_path("Read", "config/.env") or "")
    (files.root / ".env").write_text("KEY=1\n")
    confined = ProjectFiles(files.root, check=grant.check_path)
    with pytest.raises(ToolRefused, match="disallowedTools"):
        confined.read({"file_path": ".env"})
    assert ".env" not in grep_files(confined, {"pattern": "KEY"})
    only_src = ProjectFiles(files.root, check=grant_tools(("Glob(src/**)",)).check_path)
    assert glob_files(only_src, {"pattern": "**/*.py", "path": "src"}) == "src/pkg/core.py"
    assert glob_files(only_src, {"pattern": "*.py"}) == "No files found"


def test_the_toolbox_refuses_tools_it_does_not_grant(files: ProjectFiles) -> None:
    toolbox = AgentToolbox(grant_tools(("Read",), None), files, None, bash_timeout_s=1)
    assert [t.name for t in toolbox.tools] == ["Read", "Glob", "Grep"]
    assert all(dict(t.input_schema) == SCHEMAS[t.name] for t in toolbox.tools)
    calls = [
        ToolCall("1", "Edit", {"file_path": "app.py"}),
        ToolCall("2", "WebFetch", {}),
        ToolCall("3", "Read", None, "not JSON"),
        ToolCall("4", "Read", {"file_path": "../x"}),
        ToolCall("5", "Read", {"file_path": "app.py"}),
    ]
    outcomes = toolbox.run_calls(calls, max_parallel=2, cancel=None, on_progress=None)
    assert [o.is_error for o in outcomes] == [True, True, True, True, False]
    assert "not allowed for this agent (the agent's tools do not list it)" in outcomes[0].content
    assert "no such tool" in outcomes[1].content


# -- Bash -----------------------------------------------------------------------------------


def _bash(project: Path, tmp_path: Path, **kwargs: Any) -> BashTool:
    options: dict[str, Any] = {"default_timeout_s": 30.0, "output_cap_bytes": 1000, **kwargs}
    return BashTool(project, tmp_path, env=dict(os.environ), **options)


def test_bash_runs_in_the_project_and_reports_exit_codes(project: Path, tmp_path: Path) -> None:
    bash = _bash(project, tmp_path)
    ran = bash.run({"command": "pwd; echo oops >&2"})
    assert not ran.is_error
    assert ran.content == f"{project}\n[stderr]\noops"
    failed = bash.run({"command": "exit 4"})
    assert failed.is_error and failed.content == "[exit code 4]"
    with pytest.raises(ToolRefused, match="milliseconds"):
        bash.run({"command": "true", "timeout": 700_000})
    with pytest.raises(ToolRefused, match="run_in_background"):
        bash.run({"command": "true", "run_in_background": True})


def test_bash_kills_the_command_and_what_it_started_on_timeout(
    project: Path, tmp_path: Path
) -> None:
    # A background sleep holds the output pipe: only killing the group ends the call.
    outcome = _bash(project, tmp_path).run({"command": "sleep 60 & sleep 60", "timeout": 300})
    assert outcome.is_error and "killed after 0.3 s" in outcome.content
    # The fixture checks that neither sleep outlived the call.


def test_bash_output_is_capped_and_credentials_are_hidden(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    env = _bash_environment(str(tmp_path))
    bash = BashTool(project, tmp_path, env=env, default_timeout_s=30, output_cap_bytes=100)
    outcome = bash.run({"command": "env; yes | head -c 5000"})
    assert "sk-test-secret" not in outcome.content
    assert "[output cut at 100 bytes per stream]" in outcome.content


# -- the run's settings ---------------------------------------------------------------------


def test_the_context_block_is_bounded() -> None:
    context = {
        "project_root": "/p",
        "a_big_one": "z" * 5000,
        "ticket_snapshot": [{"id": n, "title": "x" * 50} for n in range(1000)],
        **{f"key_{n}": "v" * 1500 for n in range(20)},
    }
    block = render_context(context)
    assert len(block) < CONTEXT_MAX_CHARS * 1.2
    assert block.splitlines()[1].startswith(' "project_root"')
    assert "more characters not shown" in block and "not shown, too large: " in block


@pytest.mark.parametrize(
    ("definition", "setting", "anthropic", "openai"),
    [
        ("sonnet", None, "claude-sonnet-5-5", None),
        ("haiku", "gpt-x", "claude-haiku-5-5", "gpt-x"),
        ("inherit", "opus", "claude-opus-5-5", "opus"),
        (None, None, "claude-sonnet-5-5", None),
        ("claude-sonnet-4-20250514", None, "claude-sonnet-4-20250514", "claude-sonnet-4-20250514"),
        ("qwen2.5-coder", "gpt-x", "qwen2.5-coder", "qwen2.5-coder"),
    ],
)
def test_models_follow_the_definition_then_the_setting(
    definition: str | None, setting: str | None, anthropic: str, openai: str | None
) -> None:
    assert anthropic_model(definition, setting) == anthropic
    assert openai_model(definition, setting) == openai


def test_backend_options_are_checked_with_what_to_write() -> None:
    assert (
        check_options({"max_retries": 2, "cache_prompt": False}, ANTHROPIC_OPTIONS, backend="a")
        == []
    )
    problems = check_options(
        {"base_url": "localhost:8000", "price": {"input": 1}, "cache_prompt": True},
        OPENAI_OPTIONS,
        backend="openai",
    )
    assert len(problems) == 3
    assert "http:// or https:// URL" in problems[0] and "USD per million" in problems[1]
    assert "not an option of the openai backend" in problems[2]


def test_rate_limit_events_keep_what_the_server_said() -> None:
    log = RateLimitLog("Messages API")
    log.record("rate_limited", 429, {"retry-after": "7"})
    log.record("overloaded", 529, {})
    log.gave_up("overloaded", 4)
    first, last = log.events()
    assert first.retry_after_s == 7 and "SDK retries" in (first.message or "")
    assert "final answer, after 4 retries" in (last.message or "")
    stamp = "2030-01-01T00:00:00Z"
    assert reset_at({"anthropic-ratelimit-requests-reset": stamp}, 0) == 1_893_456_000
    assert (
        reset_at({"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-reset-requests": "20ms"}, 100)
        == 460
    )
