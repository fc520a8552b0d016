"""The shared parts: registry, options, the report writer, running tools, walking files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toolchain_support import REPO, git, write_tree

from claude_pm.agents.toolchain import (
    AGENTS,
    CONFIG_KEYS,
    EXIT_BAD_OPTIONS,
    ToolchainRequest,
    check_options,
    make_request,
    merge_options,
    option_specs,
    run_agent,
)
from claude_pm.agents.toolchain.reporting import MARKERS, Report, neutralize
from claude_pm.agents.toolchain.running import run_tool, tool_environment
from claude_pm.agents.toolchain.walking import project_files
from claude_pm.tickets.extractor import extract_text

CORE_AGENTS = {
    "qa",
    "security",
    "documentation",
    "engineer",
    "ops",
    "versioner",
    "researcher",
    "data_engineer",
    "ticketer",
}


def test_the_registry_names_the_nine_core_agents():
    assert set(AGENTS) == CORE_AGENTS
    assert set(CONFIG_KEYS) == CORE_AGENTS
    for agent in AGENTS:
        specs = option_specs(agent)
        names = [spec.name for spec in specs]
        assert len(names) == len(set(names)), agent
        assert check_options(agent, {}) == []
        for spec in specs:
            assert check_options(agent, {spec.name: spec.default}) == [], (agent, spec.name)


def test_the_child_side_imports_stay_light():
    code = (
        "import importlib, json, sys\n"
        "import claude_pm.agents.toolchain as t\n"
        "for name in t.AGENTS.values():\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    forbidden = {
        "claude_pm.tools",
        "claude_pm.state",
        "claude_pm.tickets",
        "claude_pm.workflow",
        "claude_pm.agents.registry",
        "anthropic",
        "mcp",
        "pydantic",
        "yaml",
        "rich",
        "sqlglot",
        "bandit",
        "pytest",
    }
    assert not {m for m in loaded if m.split(".")[0] in forbidden or m in forbidden}


@pytest.mark.parametrize(
    ("agent", "options", "problem"),
    [
        ("qa", {"coverage_threshold": 120}, "at most 100"),
        ("qa", {"coverage": "yes"}, "true or false"),
        ("qa", {"max_files": True}, "an integer"),
        ("qa", {"test_command": "pytest -x"}, "a list of non-empty strings"),
        ("security", {"severity": "critical"}, "one of low, medium, high"),
        ("engineer", {"fixx": True}, "unknown option 'fixx'"),
        ("ticketer", {"duplicate_similarity": 2}, "at most 1"),
        ("nobody", {}, "no built-in agent 'nobody'"),
    ],
)
def test_bad_options_are_named_with_what_to_fix(agent, options, problem, tmp_path: Path):
    problems = check_options(agent, options)
    assert problems and problem in problems[0]
    request = ToolchainRequest(
        project_root=tmp_path, task="t", run_dir=tmp_path / "r", options=options
    )
    err = io.StringIO()
    assert run_agent(agent, request, io.StringIO(), err=err) == EXIT_BAD_OPTIONS
    assert problem in err.getvalue()


def test_merge_takes_known_options_from_the_config_context_key():
    merged = merge_options(
        "security",
        {"severity": "high", "max_files": 10},
        {"security_config": {"severity": "low", "compliance": "PCI"}, "severity": "ignored"},
    )
    assert merged == {"severity": "low", "max_files": 10}
    assert merge_options("data-engineer", None, {"data_config": {"dialect": "duckdb"}}) == {
        "dialect": "duckdb"
    }


def test_make_request_maps_the_hand_off(tmp_path: Path):
    request = make_request(
        "qa",
        project_root=str(tmp_path),
        task="run the tests",
        context={"test_config": {"coverage_threshold": 50}, "file_paths": ["tests"]},
        run_dir=str(tmp_path / "run"),
        backend_options={"python": ".venv/bin/python", "coverage": False},
    )
    assert request.project_root == tmp_path
    assert request.run_dir == tmp_path / "run"
    assert request.options == {
        "python": ".venv/bin/python",
        "coverage": False,
        "coverage_threshold": 50,
    }
    assert request.python == str(tmp_path / ".venv/bin/python")
    assert request.context["file_paths"] == ["tests"]
    default = make_request("ops", project_root=tmp_path, task="t", context={}, run_dir=tmp_path)
    assert default.python == sys.executable


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("TODOFIXMEBUGSECURITYtodo:()[]#/-*;<!•+1 \n\t.x")),
        max_size=80,
    )
)
def test_no_text_line_of_a_report_is_ever_a_ticket(text: str):
    out = io.StringIO()
    report = Report(out, "Heading: TODO: not an item")
    report.line(text)
    report.lines(text.splitlines(), indent="    ")
    report.skipped(text, text)
    report.ran(text, "exit 0")
    report.finish([text])
    assert extract_text(out.getvalue(), "qa") == []


@given(
    st.sampled_from(MARKERS),
    st.sampled_from([None, "high", "medium", "low"]),
    st.text(min_size=1, max_size=60),
)
def test_each_finding_is_exactly_one_ticket(marker, priority, message):
    out = io.StringIO()
    report = Report(out, "Findings")
    report.finding(marker, "src/a b.py", 7, message, priority=priority, details=[message])
    report.finish()
    tickets = extract_text(out.getvalue(), "qa")
    assert len(tickets) == 1
    assert tickets[0].title.startswith("src/a b.py:7: ")
    if priority:
        assert tickets[0].priority.value == priority


def test_neutralize_quotes_markers_wherever_they_stand():
    assert neutralize("x = 1  # TODO: later") == "x = 1  # `TODO`: later"
    assert neutralize("- [ ] fixme(bob): x") == "- [ ] `fixme`(bob): x"
    assert neutralize("DEBUG: fine, a todo list") == "DEBUG: fine, a todo list"


def test_report_caps_the_number_of_findings():
    out = io.StringIO()
    report = Report(out, "Capped", max_findings=3)
    for line in range(1, 6):
        report.finding("BUG", "a.py", line, "same problem")
    report.finding("BUG", "a.py", 1, "same problem")  # a duplicate is written once
    report.finish()
    assert len(extract_text(out.getvalue(), "qa")) == 3
    assert "- findings: 5 (BUG 5)" in out.getvalue()
    assert "2 finding(s) not written: the limit is 3 (option max_findings)" in out.getvalue()


def test_a_tool_that_outlives_its_timeout_is_killed_with_its_children(tmp_path: Path):
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    result = run_tool(
        [sys.executable, "-c", code], cwd=tmp_path, env=tool_environment(tmp_path), timeout_s=1
    )
    assert result.timed_out
    assert result.returncode is None
    assert result.stdout == "started\n"
    assert "killed after" in result.outcome()
    # The autouse fixture fails this test if the grandchild survived.


def test_tool_output_is_capped_while_still_drained(tmp_path: Path):
    code = "import sys\nsys.stdout.write('x' * 3_000_000)\nsys.stderr.write('done')\n"
    result = run_tool(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=tool_environment(tmp_path),
        timeout_s=60,
        output_cap_bytes=1000,
    )
    assert result.returncode == 0
    assert len(result.stdout) == 1000
    assert result.stdout_truncated
    assert result.stderr == "done"


def test_the_walker_skips_environments_caches_and_what_git_ignores(tmp_path: Path):
    project = write_tree(
        tmp_path / "p",
        {
            "a.py": "",
            "pkg/b.py": "",
            ".venv/lib/site.py": "",
            "env/pyvenv.cfg": "home = /usr\n",
            "env/lib/x.py": "",
            "node_modules/m/index.js": "",
            "build/lib/c.py": "",
            "pkg.egg-info/PKG-INFO": "",
            "__pycache__/a.cpython-311.pyc": "",
            ".claude-pm/state.db": "",
            "ignored/d.py": "",
            ".gitignore": "ignored/\n",
        },
    )
    plain = project_files(
        project, tmp_path / "run", want=lambda rel: True, max_files=100, max_file_bytes=100
    )
    assert [f.rel for f in plain.files] == [".gitignore", "a.py", "ignored/d.py", "pkg/b.py"]
    assert ".gitignore not applied" in plain.source
    git(project, "init", "-q")
    ignored = project_files(
        project, tmp_path / "run", want=lambda rel: True, max_files=100, max_file_bytes=100
    )
    assert [f.rel for f in ignored.files] == [".gitignore", "a.py", "pkg/b.py"]
    assert "git ls-files" in ignored.source


def test_the_walker_bounds_files_and_sizes(tmp_path: Path):
    files = {f"m{i:03}.py": "x\n" for i in range(30)}
    files["huge.py"] = "x" * 5000
    project = write_tree(tmp_path / "p", files)
    found = project_files(
        project,
        tmp_path / "run",
        want=lambda rel: rel.endswith(".py"),
        max_files=10,
        max_file_bytes=1000,
    )
    assert [f.rel for f in found.files] == [f"m{i:03}.py" for i in range(10)]
    assert found.over_limit == 20
    assert found.too_large == ["huge.py"]
    notes = found.skipped_notes(10, 1000)
    assert notes[0] == "20 more matching file(s) not read: the limit is 10 (option max_files)"
    only = project_files(
        project,
        tmp_path / "run",
        want=lambda rel: True,
        max_files=10,
        max_file_bytes=1000,
        only=["m005.py"],
    )
    assert [f.rel for f in only.files] == ["m005.py"]


def test_the_readme_documents_every_agent_and_option():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Built-in agents", 1)[1].split("\n## ", 1)[0]
    for agent in AGENTS:
        assert f"`{agent}`" in section, agent
        for spec in option_specs(agent):
            assert f"`{spec.name}`" in section, (agent, spec.name)
    for key in CONFIG_KEYS.values():
        assert f"`{key}`" in section, key


def test_errors_carry_their_facts_through_pickling():
    import pickle

    from claude_pm.agents.toolchain import BadOptions, ToolMissing

    missing = pickle.loads(pickle.dumps(ToolMissing("ruff", "for /usr/bin/python3", "install it")))
    assert (missing.tool, missing.where, missing.exit_code) == ("ruff", "for /usr/bin/python3", 69)
    assert missing.to_dict()["tool"] == "ruff"
    bad = pickle.loads(pickle.dumps(BadOptions("qa", ["option 'x' is wrong"])))
    assert (bad.agent_type, bad.problems, bad.exit_code) == ("qa", ["option 'x' is wrong"], 78)
