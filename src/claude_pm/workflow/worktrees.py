"""Git worktrees for isolated tasks: made from HEAD, committed, kept as a branch or removed.

The life of one isolated attempt (the engine journals each step before it):

1. :func:`find_repository`: the project's repository (its top level, ``HEAD``),
   checked before the workflow runs; a project outside git, or a repository
   without a commit, is a problem of the workflow.
2. :func:`create_worktree`: ``git worktree add --detach PATH BASE`` under the
   state directory, ``BASE`` being ``HEAD`` now. Uncommitted changes of the
   project's working tree (the state directory aside) are not in it: the
   :class:`Worktree` says the project was ``dirty``. The agent runs in the
   worktree (in the same subdirectory the project root is in the repository).
3. :func:`keep_changes`: everything the agent changed is committed (``git add
   -A``, hooks off, no signing) under the user's git identity, else
   ``claude-pm <claude-pm@localhost>``, and the commit gets its own branch
   ``claude-pm/<workflow id>/<task id>``. A branch is never moved: if the name
   is taken by another commit, ``-2``, ``-3``... is added. Nothing changed: no
   commit, no branch.
4. :func:`remove_worktree`: the worktree goes (``git worktree remove
   --force``; the directory itself if git cannot), and ``git worktree prune``
   forgets it. This runs on every exit path of an attempt; a worktree left by a
   killed orchestrator is removed the same way by
   :mod:`claude_pm.workflow.reclaim`, by its recorded path.

Merging a kept branch is the user's call.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from claude_pm.workflow.outcome import KeptBranch

log = logging.getLogger(__name__)

#: The identity of claude-pm's commits when the user has none configured.
FALLBACK_NAME = "claude-pm"
FALLBACK_EMAIL = "claude-pm@localhost"
GIT_TIMEOUT_S = 120.0

_SHORTSTAT = re.compile(
    r"(\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?"
)


class GitError(RuntimeError):
    """A git command failed; the message has git's own words."""


def _git(
    cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            env={**base, **(env or {})},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git {args[0]} could not run: {e}") from e
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])} failed: {' '.join(said[-2:]) or done.returncode}")
    return done


@dataclass(frozen=True)
class Repository:
    """The git repository a project lives in."""

    top: Path
    head: str
    #: The project root relative to ``top`` (``.`` when it is the top level).
    subdir: Path


def find_repository(project_root: Path) -> Repository | str:
    """The repository of ``project_root``, or why a worktree cannot be made from it."""
    if shutil.which("git") is None:
        return "git is not installed (isolation: worktree needs it)"
    try:
        top = _git(project_root, "rev-parse", "--show-toplevel", check=False)
    except GitError as e:
        return str(e)
    if top.returncode != 0:
        return f"{project_root} is not inside a git repository (isolation: worktree needs one)"
    try:
        head = _git(project_root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    except GitError as e:
        return str(e)
    if head.returncode != 0:
        return f"the repository at {top.stdout.strip()} has no commit yet (HEAD is unborn)"
    root = Path(top.stdout.strip()).resolve()
    return Repository(root, head.stdout.strip(), project_root.resolve().relative_to(root))


@dataclass(frozen=True)
class Worktree:
    """One attempt's worktree."""

    repo: Path
    path: Path
    base: str
    #: Where the agent works: the worktree's copy of the project root.
    workdir: Path
    #: The project's working tree had uncommitted changes the worktree does not have.
    dirty: bool


def is_dirty(repo: Repository, exclude: Path | None) -> bool:
    """Whether the working tree has uncommitted changes, ``exclude`` (the state dir) aside."""
    spec = []
    if exclude is not None and exclude.resolve().is_relative_to(repo.top):
        spec = ["--", ".", f":(exclude){exclude.resolve().relative_to(repo.top).as_posix()}"]
    done = _git(repo.top, "status", "--porcelain", "--ignore-submodules", *spec, check=False)
    return bool(done.stdout.strip())


def create_worktree(repo: Repository, path: Path, *, exclude: Path | None = None) -> Worktree:
    """``git worktree add --detach PATH HEAD``; says whether the project was dirty.

    Raises:
        GitError: git refused (the directory is removed again).
    """
    dirty = is_dirty(repo, exclude)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _git(repo.top, "worktree", "add", "--detach", "--quiet", str(path), repo.head)
    except GitError:
        remove_worktree(repo.top, path)
        raise
    return Worktree(repo.top, path, repo.head, path / repo.subdir, dirty)


def _identity(repo: Path) -> dict[str, str]:
    """Environment for a commit: the user's identity if git has one, else claude-pm's."""
    name = _git(repo, "config", "user.name", check=False).stdout.strip()
    email = _git(repo, "config", "user.email", check=False).stdout.strip()
    if name and email:
        return {}
    return {
        "GIT_AUTHOR_NAME": FALLBACK_NAME,
        "GIT_AUTHOR_EMAIL": FALLBACK_EMAIL,
        "GIT_COMMITTER_NAME": FALLBACK_NAME,
        "GIT_COMMITTER_EMAIL": FALLBACK_EMAIL,
    }


def commit_changes(worktree: Worktree, message: str) -> str | None:
    """Commit everything changed in the worktree; the commit's sha, or ``None`` if nothing changed.

    Raises:
        GitError: git refused.
    """
    _git(worktree.path, "add", "-A")
    staged = _git(worktree.path, "diff", "--cached", "--quiet", check=False)
    if staged.returncode == 0:
        return None
    _git(
        worktree.path,
        "-c",
        "commit.gpgsign=false",
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        message,
        env=_identity(worktree.repo),
    )
    return _git(worktree.path, "rev-parse", "HEAD").stdout.strip()


def branch_commit(repo: Path, name: str) -> str | None:
    """The commit branch ``name`` points at, or ``None`` when there is no such branch."""
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def make_branch(repo: Path, name: str, commit: str) -> str:
    """Branch ``name`` at ``commit``, never moving an existing one; returns the name used.

    Idempotent: a branch of that name already at ``commit`` is the same effect done.

    Raises:
        GitError: git refused.
    """
    candidate, n = name, 1
    while True:
        existing = branch_commit(repo, candidate)
        if existing == commit:
            return candidate
        if existing is None:
            _git(repo, "branch", candidate, commit)
            return candidate
        n += 1
        candidate = f"{name}-{n}"


def diff_stats(repo: Path, base: str, commit: str) -> tuple[int, int, int]:
    """(files changed, insertions, deletions) from ``base`` to ``commit``."""
    text = _git(repo, "diff", "--shortstat", base, commit, check=False).stdout
    match = _SHORTSTAT.search(text)
    if match is None:
        return 0, 0, 0
    return tuple(int(g or 0) for g in match.groups())  # type: ignore[return-value]


def keep_changes(worktree: Worktree, branch: str, message: str) -> KeptBranch | None:
    """Commit the worktree's changes on their own branch; ``None`` when nothing changed.

    Raises:
        GitError: git refused.
    """
    commit = commit_changes(worktree, message)
    if commit is None:
        return None
    name = make_branch(worktree.repo, branch, commit)
    files, added, deleted = diff_stats(worktree.repo, worktree.base, commit)
    return KeptBranch(name, commit, worktree.base, files, added, deleted)


def remove_worktree(repo: Path, path: Path) -> bool:
    """Remove a worktree (git's way, else the directory) and prune; whether it is gone."""
    if path.exists():
        try:
            _git(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
        except GitError as e:
            log.warning("git worktree remove %s: %s", path, e)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
    try:
        _git(repo, "worktree", "prune", check=False)
    except GitError as e:
        log.warning("git worktree prune in %s: %s", repo, e)
    return not path.exists()


def registered_worktrees(repo: Path) -> list[Path]:
    """The worktrees git knows for ``repo`` (the main one first)."""
    text = _git(repo, "worktree", "list", "--porcelain", check=False).stdout
    return [Path(line[9:]) for line in text.splitlines() if line.startswith("worktree ")]


__all__ = [
    "FALLBACK_EMAIL",
    "FALLBACK_NAME",
    "GitError",
    "Repository",
    "Worktree",
    "commit_changes",
    "create_worktree",
    "diff_stats",
    "find_repository",
    "keep_changes",
    "make_branch",
    "registered_worktrees",
    "remove_worktree",
]
