"""Context filtering, the environment allowlist and the hand-off file."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_pm.context import (
    build_environment,
    check_file_paths,
    filter_context,
    resolve_project_root,
)
from claude_pm.errors import ContextError


def test_filter_keeps_only_visible_keys():
    ctx = {"a": 1, "b": 2, "project_root": "/x"}
    assert filter_context(ctx, ["a", "project_root"]) == {"a": 1, "project_root": "/x"}


def test_environment_allowlist_patterns_and_markers():
    parent = {
        "PATH": "/bin",
        "LC_CTYPE": "C",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_REGION": "eu",
        "OTHER": "y",
    }
    env = build_environment(parent, ["AWS_REGION"], {"CLAUDE_PM_ORCHESTRATED": "true"})
    assert env == {
        "PATH": "/bin",
        "LC_CTYPE": "C",
        "AWS_REGION": "eu",
        "CLAUDE_PM_ORCHESTRATED": "true",
    }
    assert "AWS_SECRET_ACCESS_KEY" in build_environment(parent, ["AWS_*"], {})


def test_file_paths_must_stay_inside_the_root(tmp_path: Path):
    root = tmp_path / "root"
    (root / "src").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    assert (
        check_file_paths(["src", str(root / "src")], root.resolve())
        == [str((root / "src").resolve())] * 2
    )
    for bad in (["../outside"], ["escape/x"], [3], "src"):
        with pytest.raises(ContextError):
            check_file_paths(bad, root.resolve())


def test_project_root_must_be_an_existing_directory(tmp_path: Path):
    boundary = [tmp_path.resolve()]
    with pytest.raises(ContextError, match="does not exist"):
        resolve_project_root(tmp_path / "missing", boundary)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ContextError, match="not a directory"):
        resolve_project_root(tmp_path / "f", boundary)
    with pytest.raises(ContextError):
        resolve_project_root(None, boundary)


def test_project_root_stays_inside_the_configured_boundaries(tmp_path: Path):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    (project / "out").symlink_to(other)
    boundary = [project.resolve()]
    assert resolve_project_root(project, boundary) == project.resolve()
    assert resolve_project_root(project / "sub", boundary) == (project / "sub").resolve()
    for outside in ("/", "/etc", other, project / "out", project / "sub" / ".." / ".."):
        with pytest.raises(ContextError, match="outside the configured project") as info:
            resolve_project_root(outside, boundary)
        assert info.value.facts["field"] == "context.project_root"
    assert resolve_project_root(other, [*boundary, other.resolve()]) == other.resolve()
