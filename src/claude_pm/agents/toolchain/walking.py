"""Find the project files an agent reads, within documented limits.

Which files
    In a git work tree (with ``git`` on PATH) the candidates are what
    ``git ls-files --cached --others --exclude-standard`` lists: tracked files
    and untracked ones that no ``.gitignore`` rule (nor ``.git/info/exclude``)
    ignores. Elsewhere the tree is walked in sorted order and ``.gitignore``
    is not applied (the report says so). In both cases these are never
    entered: ``.git`` and other VCS folders, virtual environments (``.venv``,
    ``venv``, any folder holding ``pyvenv.cfg``), ``node_modules``, build and
    distribution folders (``build``, ``dist``, ``*.egg-info``, ``.eggs``),
    tool caches (``__pycache__``, ``.pytest_cache``, ``.ruff_cache``,
    ``.mypy_cache``, ``.hypothesis``, ``.tox``, ``.nox``) and claude-pm's own
    state folder (``.claude-pm``). Symbolic links are not followed out of the
    project.

Limits
    ``max_files`` files that match the agent's filter are kept, in path order;
    the others that match are counted as skipped. A file larger than
    ``max_file_bytes`` is skipped (and counted) without being read. Listing
    stops after ``max_listed`` candidates (10 times ``max_files``), so a huge
    tree costs bounded time and memory; the report says when that happened.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from claude_pm.agents.toolchain.running import tool_environment

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        ".venv",
        "venv",
        "node_modules",
        "build",
        "dist",
        ".eggs",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".claude-pm",
        "site-packages",
    }
)
_LIST_FACTOR = 10
_GIT_TIMEOUT_S = 60


@dataclass(frozen=True)
class ProjectFile:
    """A file the agent may read: its POSIX path relative to the project, and its size."""

    rel: str
    path: Path
    size: int


@dataclass
class FileSet:
    """The files an agent reads, and what it left out and why."""

    files: list[ProjectFile] = field(default_factory=list)
    over_limit: int = 0
    too_large: list[str] = field(default_factory=list)
    listing_cut: bool = False
    source: str = ""

    def skipped_notes(self, max_files: int, max_file_bytes: int) -> list[str]:
        """Sentences for the report's "skipped" lines (empty when nothing was left out)."""
        notes = []
        if self.over_limit:
            notes.append(
                f"{self.over_limit} more matching file(s) not read: the limit is "
                f"{max_files} (option max_files)"
            )
        if self.too_large:
            shown = ", ".join(self.too_large[:5]) + (" ..." if len(self.too_large) > 5 else "")
            notes.append(
                f"{len(self.too_large)} file(s) over {max_file_bytes} bytes not read "
                f"(option max_file_bytes): {shown}"
            )
        if self.listing_cut:
            notes.append("listing stopped early: the project has more files than the agent lists")
        return notes


def _is_skipped_dir(name: str, path: Path | None = None) -> bool:
    if name in SKIP_DIRS or name.endswith(".egg-info"):
        return True
    return path is not None and (path / "pyvenv.cfg").is_file()


def _skipped_by_parts(rel: str, root: Path, venvs: dict[str, bool]) -> bool:
    """Whether a folder on the way to ``rel`` is skipped (by name, or holding ``pyvenv.cfg``)."""
    parts = rel.split("/")[:-1]
    for depth, part in enumerate(parts, start=1):
        if _is_skipped_dir(part):
            return True
        prefix = "/".join(parts[:depth])
        if prefix not in venvs:
            venvs[prefix] = (root / prefix / "pyvenv.cfg").is_file()
        if venvs[prefix]:
            return True
    return False


def git_program() -> str | None:
    """The git on PATH, or None (shutil is imported here: it costs the start-up ~2 ms)."""
    import shutil

    return shutil.which("git")


def is_git_work_tree(root: Path, run_dir: Path) -> bool:
    """Whether ``root`` is inside a git work tree (False when git is not installed)."""
    git = git_program()
    if git is None:
        return False
    try:
        done = subprocess.run(
            [git, "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            env=tool_environment(run_dir),
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


def _git_candidates(root: Path, run_dir: Path, limit: int) -> tuple[list[str], bool] | None:
    """Up to ``limit`` paths from ``git ls-files`` (and whether there were more), or None."""
    git = git_program()
    if git is None or not is_git_work_tree(root, run_dir):
        return None
    argv = [git, "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=tool_environment(run_dir),
        )
    except OSError:
        return None
    assert process.stdout is not None
    names: list[str] = []
    seen: set[str] = set()
    cut = False
    pending = b""
    with process.stdout:
        while not cut:
            chunk = process.stdout.read(64 * 1024)
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\0")
            for raw in complete:
                name = raw.decode("utf-8", errors="surrogateescape")
                if name in seen:  # an unmerged path is listed once per stage
                    continue
                seen.add(name)
                names.append(name)
                if len(names) >= limit:
                    cut = True
                    break
    if cut:
        process.kill()
    process.wait()
    if not cut and process.returncode != 0:
        return None
    return sorted(names), cut


def _walk_candidates(root: Path, limit: int) -> tuple[list[str], bool]:
    names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not _is_skipped_dir(d, here / d))
        rel_dir = here.relative_to(root).as_posix()
        for name in sorted(filenames):
            names.append(name if rel_dir == "." else f"{rel_dir}/{name}")
            if len(names) >= limit:
                return names, True
    return names, False


def project_files(
    root: Path,
    run_dir: Path,
    *,
    want: Callable[[str], bool],
    max_files: int,
    max_file_bytes: int,
    only: list[str] | None = None,
) -> FileSet:
    """The project's files for which ``want(rel_posix_path)`` is true, within the limits.

    Args:
        root: the project root.
        run_dir: the run's directory (git runs from the environment that keeps caches there).
        want: the agent's filter on the relative POSIX path (by suffix, by name).
        max_files: files kept at most; the rest that match are counted in ``over_limit``.
        max_file_bytes: files larger than this are listed in ``too_large``, not kept.
        only: relative paths (files or folders) to restrict the set to, as given in
            the context's ``file_paths``; None for the whole project.
    """
    listed = _git_candidates(root, run_dir, max_files * _LIST_FACTOR)
    if listed is None:
        names, cut = _walk_candidates(root, max_files * _LIST_FACTOR)
        source = "directory walk (not a git work tree: .gitignore not applied)"
    else:
        names, cut = listed
        source = "git ls-files (tracked and untracked files that .gitignore does not ignore)"
    result = FileSet(listing_cut=cut, source=source)
    prefixes = [p.rstrip("/") for p in only] if only is not None else None
    venvs: dict[str, bool] = {}
    for rel in names:
        if not want(rel) or _skipped_by_parts(rel, root, venvs):
            continue
        if prefixes is not None and not any(
            rel == p or rel.startswith(p + "/") or p == "." for p in prefixes
        ):
            continue
        path = root / rel
        try:
            if path.is_symlink() or not path.is_file():
                continue
            size = path.stat().st_size
        except OSError:
            continue
        if size > max_file_bytes:
            result.too_large.append(rel)
            continue
        if len(result.files) >= max_files:
            result.over_limit += 1
            continue
        result.files.append(ProjectFile(rel=rel, path=path, size=size))
    return result


def relative_paths(root: Path, given: object) -> tuple[list[str], list[str]]:
    """The context's ``file_paths`` as POSIX paths inside ``root``, and the ones refused.

    A path may be relative to the project or absolute inside it; one outside the
    project, or that does not exist, is refused (the agent reports it as skipped).
    """
    if not isinstance(given, list):
        return [], []
    kept: list[str] = []
    refused: list[str] = []
    resolved_root = root.resolve()
    for item in given:
        if not isinstance(item, str) or not item:
            continue
        candidate = Path(item)
        full = (candidate if candidate.is_absolute() else root / candidate).resolve()
        try:
            rel = full.relative_to(resolved_root)
        except ValueError:
            refused.append(item)
            continue
        if not full.exists():
            refused.append(item)
            continue
        kept.append(PurePosixPath(rel).as_posix())
    return kept, refused


def read_text(file: ProjectFile) -> str | None:
    """The file as text (UTF-8, undecodable bytes replaced), or None when it looks binary."""
    try:
        data = file.path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def is_test_file(rel: str) -> bool:
    """Whether a path looks like a test module or lives in a tests folder."""
    name = rel.rsplit("/", 1)[-1]
    parts = rel.split("/")[:-1]
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or any(part in ("tests", "test", "testing") for part in parts)
    )
