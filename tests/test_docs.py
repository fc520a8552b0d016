"""The pages in docs/ say what the code does: their generated blocks are current, and the
example files they include load, validate and run.

``scripts/sync_docs.py`` renders the blocks (the settings table from ``FIELDS``, each
included example file byte for byte); run it after changing a setting or an example.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from claude_pm.agents.registry import AgentRegistry
from claude_pm.cli import main
from claude_pm.config import FIELDS, Source, load_settings
from claude_pm.workflow.recipes import review_workflow

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
#: The pages this test holds to the code (others, such as docs/mcp.md, may include too).
OWN_PAGES = ("agents.md", "backends.md", "configuration.md", "workflows.md")


def _sync_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_docs", ROOT / "scripts" / "sync_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYNC = _sync_docs()


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_the_pages_exist() -> None:
    assert {p.name for p in PAGES} >= set(OWN_PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_included_block_is_the_file_it_names(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for match in SYNC.INCLUDE.finditer(text):
        path = match["path"]
        assert (ROOT / path).is_file(), f"{page.name} includes {path}, which does not exist"
        assert match[0] == SYNC.render_include(path), (
            f"{page.name}: the block of {path} is not the file; run python scripts/sync_docs.py"
        )
    opened = text.count("<!-- include: ")
    assert opened == len(SYNC.INCLUDE.findall(text)), f"{page.name}: an include is not closed"


def test_an_included_block_holds_the_file_byte_for_byte() -> None:
    block = SYNC.render_include("examples/agents/reviewer.md")
    body = block.split("\n", 2)[2].rsplit("\n", 2)[0] + "\n"
    assert body == (EXAMPLES / "agents" / "reviewer.md").read_text(encoding="utf-8")


def test_the_configuration_table_is_rendered_from_fields() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    match = SYNC.SETTINGS.search(text)
    assert match is not None, "docs/configuration.md lost its settings-table markers"
    assert match["body"] == SYNC.render_settings_table(), "run python scripts/sync_docs.py"
    for spec in FIELDS:
        assert f"| `{spec.name}` | `{spec.env}` |" in match["body"]


def test_the_pages_examples_are_all_included_somewhere() -> None:
    included = {m["path"] for page in PAGES for m in SYNC.INCLUDE.finditer(page.read_text())}
    for folder in ("agents", "config"):
        for path in sorted((EXAMPLES / folder).iterdir()):
            assert f"examples/{folder}/{path.name}" in included, f"{path} is in no page"
    for path in sorted((EXAMPLES / "workflows").glob("*.yaml")):
        if path.name != "review-sample.yaml":  # README's, with its own test
            assert f"examples/workflows/{path.name}" in included, f"{path} is in no page"


def test_the_links_between_pages_lead_to_headings() -> None:
    def anchors(page: Path) -> set[str]:
        headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
        return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}

    for page in (DOCS / name for name in OWN_PAGES):
        for target, anchor in re.findall(r"\]\(([\w-]+\.md)(?:#([\w-]+))?\)", page.read_text()):
            assert (DOCS / target).is_file(), f"{page.name} links to {target}"
            if anchor:
                assert anchor in anchors(DOCS / target), f"{page.name}: {target}#{anchor}"


# -- agents -----------------------------------------------------------------------------


def test_the_example_agents_load_without_a_problem_or_warning(tmp_path: Path) -> None:
    registry = AgentRegistry(EXAMPLES / "agents", None, shipped_dir=tmp_path / "none")

    assert registry.problems() == [] and registry.warnings() == []
    names = {d.name: d for d in registry.agents()}
    files = {p.stem for p in (EXAMPLES / "agents").glob("*.md")}
    assert set(names) == files
    # As agents.md says: a pinned backend runs here; the Claude Code file needs an LLM one.
    for name in ("code-scanner", "headless-reviewer", "local-coder", "api-reviewer"):
        assert names[name].unavailable_reason("builtin") is None
    reason = names["reviewer"].unavailable_reason("builtin")
    assert reason is not None and "claude-code" in reason
    assert names["reviewer"].unavailable_reason("claude-code") is None
    assert dict(names["reviewer"].claude_code)["maxTurns"] == 20


def test_the_example_command_agent_runs_and_files_its_finding(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True)
    for name in ("code-scanner.md", "code-scanner.py"):
        shutil.copy(EXAMPLES / "agents" / name, agents / name)
    (project / "app.py").write_text("def f():\n    pass  # TODO: handle the empty case\n")

    code = main(["--project", str(project), "run", "code-scanner", "scan", "--json"])

    result = json.loads(capsys.readouterr().out)
    assert code == 0, result.get("error")
    assert "TODO: app.py:2: handle the empty case" in result["output"]
    assert result["tickets_created_count"] == 1
    # Its result.json reached the run's result.
    assert result["backend"] == "command" and result["stop_reason"] == "completed"


# -- configuration ------------------------------------------------------------------------


def test_the_example_settings_files_give_the_documented_values(tmp_path: Path) -> None:
    project, xdg = tmp_path / "ledger", tmp_path / "xdg"
    (project / ".claude-pm").mkdir(parents=True)
    (xdg / "claude-pm").mkdir(parents=True)
    shutil.copy(EXAMPLES / "config" / "pyproject.toml", project / "pyproject.toml")
    shutil.copy(EXAMPLES / "config" / "config.toml", project / ".claude-pm" / "config.toml")
    shutil.copy(EXAMPLES / "config" / "user-config.toml", xdg / "claude-pm" / "config.toml")
    environ = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(xdg)}

    settings = load_settings(environ=environ, project_root=project)

    # The table under "The files" in docs/configuration.md.
    project_file, user_file = Source.PROJECT_FILE, Source.USER_FILE
    expected = {
        "default_backend": ("claude-code", project_file),
        "default_timeout_s": (600.0, project_file),
        "state_dir": (project.resolve() / ".cache" / "claude-pm", project_file),
        "max_report_bytes": (4096, project_file),
        "workflow_budget_usd": (5.0, project_file),
        "model": ("claude-haiku-5-5", user_file),
        "run_budget_usd": (0.5, user_file),
        "sandbox": ("required", user_file),
        "allow_bypass_permissions": (False, user_file),
    }
    for name, (value, source) in expected.items():
        assert (getattr(settings, name), settings.sources[name]) == (value, source), name
    others = {spec.name for spec in FIELDS} - set(expected) - {"project_root"}
    assert {n for n in others if settings.sources[n] is not Source.DEFAULT} == set()
    [ignored] = settings.ignored
    assert ignored.startswith("sandbox in ") and "[tool.claude-pm] is ignored" in ignored


# -- workflows ----------------------------------------------------------------------------


def _git_project(root: Path) -> Path:
    root.mkdir()
    git = ["git", "-C", str(root), "-c", "user.name=docs", "-c", "user.email=docs@localhost"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "start"], check=True)
    return root


def _validate(project: Path, path: Path) -> int:
    return main(["--project", str(project), "workflow", "validate", str(path), "--json"])


@pytest.mark.parametrize(
    "name", ["release.yaml", "review.yaml", "review-sample.yaml"], ids=lambda n: n
)
def test_the_example_workflows_are_valid(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _git_project(tmp_path / "repo")  # release.yaml isolates a task in a worktree

    code = _validate(project, EXAMPLES / "workflows" / name)

    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["valid"] is True


def test_the_pipeline_workflow_is_valid_in_its_own_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "pipeline"
    shutil.copytree(EXAMPLES / "workflows" / "pipeline", project)

    code = _validate(project, project / "pipeline.yaml")

    assert code == 0, capsys.readouterr().err


def test_the_broken_workflow_lists_every_problem_the_page_shows(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _validate(project, EXAMPLES / "workflows" / "broken.yaml")

    err = capsys.readouterr().err
    assert code == 2
    page = (DOCS / "workflows.md").read_text(encoding="utf-8")
    shown = re.search(r"```\n(claude-pm: error: Invalid workflow.*?)```", page, re.DOTALL)
    assert shown is not None
    for line in shown[1].splitlines():
        head = line.removesuffix("...")  # the page shortens the list of agent types
        assert head.strip() and head in err, line


def test_the_release_plan_is_the_one_the_page_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _git_project(tmp_path / "repo")

    code = main(
        [
            "--project",
            str(project),
            "workflow",
            "validate",
            str(EXAMPLES / "workflows" / "release.yaml"),
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    page = (DOCS / "workflows.md").read_text(encoding="utf-8")
    assert f"```\n{out}```" in page


def test_the_review_file_is_the_review_recipe() -> None:
    data = yaml.safe_load((EXAMPLES / "workflows" / "review.yaml").read_text(encoding="utf-8"))

    assert data == review_workflow()
