"""What an agent may see: its filtered context, its project root, a minimal environment.

The context and the task then travel to the agent in the hand-off file
(:mod:`claude_pm.agents.handoff`).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from claude_pm.config import existing_directory
from claude_pm.errors import ContextError

#: Variables every agent receives from the orchestrator's environment, when set.
ENV_ALLOWLIST: tuple[str, ...] = ("PATH", "HOME", "LANG", "LC_*", "TMPDIR", "TERM", "TZ")


def filter_context(context: Mapping[str, Any], visible_keys: Iterable[str]) -> dict[str, Any]:
    """Keep only the keys the agent's role may see, in the caller's order."""
    allowed = set(visible_keys)
    return {k: v for k, v in context.items() if k in allowed}


def resolve_project_root(value: Any, boundaries: Sequence[Path]) -> Path:
    """The project root a call names, as an absolute path inside one of ``boundaries``.

    ``boundaries`` are the configured project and the explicitly allowed roots
    (already resolved), the configured project first. A call may name one of
    them or a directory inside one, symlinks resolved first, so neither ``/``
    nor a link out of the project passes. A relative path is taken inside the
    configured project.

    Raises:
        ContextError: it is not a path, does not exist, is not a directory, or
            lies outside every boundary.
    """
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ContextError(
            "context.project_root must be a path to an existing directory.",
            field="context.project_root",
        )
    named = Path(value).expanduser()
    if not named.is_absolute() and boundaries:
        named = boundaries[0] / named
    root = existing_directory(named, field_name="context.project_root")
    if any(root.is_relative_to(boundary) for boundary in boundaries):
        return root
    configured = ", ".join(repr(str(b)) for b in boundaries)
    raise ContextError(
        f"context.project_root {str(value)!r} is outside the configured project ({configured}); "
        "a call may name only the project or a directory inside it. The operator can allow "
        "other roots with the allowed_project_roots setting (CLAUDE_PM_ALLOWED_ROOTS).",
        field="context.project_root",
        path=str(value),
    )


def check_file_paths(file_paths: Any, project_root: Path) -> list[str]:
    """Resolve ``file_paths`` (relative to the root or absolute) and keep them inside it.

    Returns the paths as absolute strings. Symlinks are resolved first, so a
    link that points outside the project is rejected as well. An error quotes
    at most the first 80 characters of a path, and its length.

    Raises:
        ContextError: a path is not a string, holds a NUL byte, cannot be
            resolved (an unknown ``~user``, a symlink loop), or lies outside ``project_root``.
    """
    if file_paths is None:
        return []
    if not isinstance(file_paths, list):
        raise ContextError(
            "context.file_paths must be a list of paths inside project_root.",
            field="context.file_paths",
        )
    resolved: list[str] = []
    for index, raw in enumerate(file_paths):
        field = f"context.file_paths[{index}]"
        if not isinstance(raw, str) or not raw:
            raise ContextError(f"{field} must be a non-empty string.", field=field)
        shown = raw if len(raw) <= 80 else f"{raw[:80]}... ({len(raw):,} characters)"
        shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")
        if "\0" in raw:
            raise ContextError(
                f"{field} {shown!r} contains a NUL byte, which no file name can hold; "
                "give paths inside the project without NUL.",
                field=field,
                path=shown,
            )
        try:
            candidate = Path(raw).expanduser()
            if not candidate.is_absolute():
                candidate = project_root / candidate
            full = candidate.resolve()
        except (OSError, RuntimeError) as e:
            raise ContextError(
                f"{field} {shown!r} cannot be resolved ({type(e).__name__}: "
                f"{str(e)[:120]}); give a path inside the project.",
                field=field,
                path=shown,
            ) from e
        if not full.is_relative_to(project_root):
            raise ContextError(
                f"{field} {shown!r} is outside project_root "
                f"{str(project_root)!r}; give paths inside the project.",
                field=field,
                path=shown,
            )
        resolved.append(str(full))
    return resolved


def build_environment(
    parent_env: Mapping[str, str],
    extra_allowed: Iterable[str],
    markers: Mapping[str, str],
) -> dict[str, str]:
    """The child's environment: the allowlist, the names the agent asks for, and the markers.

    Names may be shell-style patterns (``LC_*``, ``AWS_*``). Nothing else of the
    parent's environment passes, so a secret reaches an agent only when its
    definition names it.
    """
    patterns = (*ENV_ALLOWLIST, *extra_allowed)
    env = {
        name: value
        for name, value in parent_env.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }
    env.update(markers)
    return env
