"""versioner: real git history, the next version by Conventional Commits, a changelog draft."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolchain_support import git, run, snapshot, write_tree

from claude_pm.agents.toolchain.versioner import next_version

PYPROJECT = '[project]\nname = "app"\nversion = "{version}"\n'


def _repo(root: Path, version: str = "1.2.0") -> Path:
    write_tree(root, {"pyproject.toml": PYPROJECT.format(version=version), "app.py": "x = 1\n"})
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "chore: start")
    return root


def _commit(root: Path, message: str, *body: str) -> None:
    args = ["commit", "-q", "--allow-empty", "-m", message]
    for paragraph in body:
        args += ["-m", paragraph]
    git(root, *args)


def test_a_directory_that_is_not_a_repository_is_reported(tmp_path: Path):
    project = write_tree(tmp_path / "p", {"a.txt": "x\n"})
    outcome = run("versioner", project, tmp_path / "run")
    assert outcome.code == 0
    assert "not a git repository" in outcome.report
    assert outcome.findings == []


def test_without_tags_it_is_the_first_release(tmp_path: Path):
    project = _repo(tmp_path / "p", version="0.1.0")
    _commit(project, "feat: add the app")
    outcome = run("versioner", project, tmp_path / "run")
    assert outcome.code == 0, outcome.stderr
    assert "No version tag: this is the first release, 0.1.0 (from pyproject.toml)" in (
        outcome.report
    )
    assert "last release tag: none" in outcome.report
    assert outcome.findings == []  # pyproject already says 0.1.0


def test_commits_since_the_last_tag_decide_the_next_version(tmp_path: Path):
    project = _repo(tmp_path / "p")
    git(project, "tag", "v1.2.0")
    _commit(project, "fix(parser): handle TODO: markers in strings")
    _commit(project, "feat: export to CSV")
    _commit(project, "update readme")
    _commit(project, "refactor!: rename the config keys")
    before = snapshot(project)
    outcome = run("versioner", project, tmp_path / "run")
    assert outcome.code == 0, outcome.stderr
    assert "Last release v1.2.0; 4 commit(s) since; a breaking change: major bump: 2.0.0." in (
        outcome.report
    )
    assert outcome.located() == {("TODO", "pyproject.toml", 3)}
    assert outcome.findings[0].message == "bump the version to 2.0.0 (currently 1.2.0)"
    draft = (tmp_path / "run" / "CHANGELOG-draft.md").read_text(encoding="utf-8")
    assert draft.startswith("## 2.0.0\n")
    assert "### Breaking changes\n\n- rename the config keys (" in draft
    assert "### Features\n\n- export to CSV (" in draft
    assert "- **parser:** handle TODO: markers in strings (" in draft
    assert "### Not Conventional Commits\n\n- update readme (" in draft
    # The commit subject's "TODO:" is text in the report, never a ticket (run() checks it).
    assert "handle `TODO`: markers" in outcome.report
    assert snapshot(project) == before  # .git included: reading history wrote nothing


def test_a_breaking_footer_counts_and_major_zero_bumps_minor(tmp_path: Path):
    project = _repo(tmp_path / "p", version="0.4.2")
    git(project, "tag", "0.4.2")
    _commit(project, "feat: new api", "BREAKING CHANGE: the old api is gone")
    outcome = run("versioner", project, tmp_path / "run")
    assert "minor bump: 0.5.0" in outcome.report
    strict = run("versioner", project, tmp_path / "strict", options={"major_version_zero": False})
    assert "major bump: 1.0.0" in strict.report


def test_only_internal_commits_need_no_release(tmp_path: Path):
    project = _repo(tmp_path / "p")
    git(project, "tag", "v1.2.0")
    _commit(project, "docs: typo")
    outcome = run("versioner", project, tmp_path / "run")
    assert "none that needs a release" in outcome.report
    assert outcome.findings == []


def test_a_version_behind_the_last_tag_is_a_fixme(tmp_path: Path):
    project = _repo(tmp_path / "p", version="1.0.0")
    git(project, "tag", "v1.2.0")
    outcome = run("versioner", project, tmp_path / "run")
    assert [(f.marker, f.message) for f in outcome.findings] == [
        ("FIXME", "version 1.0.0 is behind the last release tag v1.2.0")
    ]


def test_max_commits_bounds_the_history_read(tmp_path: Path):
    project = _repo(tmp_path / "p")
    for i in range(5):
        _commit(project, f"fix: bug {i}")
    outcome = run("versioner", project, tmp_path / "run", options={"max_commits": 3})
    assert "only the latest 3 are read (option max_commits)" in outcome.report
    assert "commits since: 3" in outcome.report


@pytest.mark.parametrize(
    ("base", "groups", "expected"),
    [
        ((1, 2, 3), {"fix"}, (1, 2, 4)),
        ((1, 2, 3), {"perf", "other"}, (1, 2, 4)),
        ((1, 2, 3), {"feat", "fix"}, (1, 3, 0)),
        ((1, 2, 3), {"breaking", "feat"}, (2, 0, 0)),
        ((0, 2, 3), {"breaking"}, (0, 3, 0)),
        ((1, 2, 3), {"other", "unconventional"}, (1, 2, 3)),
    ],
)
def test_next_version(base, groups, expected):
    assert next_version(base, groups, major_version_zero=True)[0] == expected
