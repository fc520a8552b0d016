"""What an agent may see: its filtered context, a minimal environment, and the hand-off file.

Context and task text travel in a file (``CLAUDE_PM_CONTEXT_FILE``) because the
kernel refuses single argument or environment strings over 128 KiB;
``CLAUDE_PM_CONTEXT`` (base64 JSON) is set too when it is small.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_pm.config import existing_directory
from claude_pm.errors import ContextError

#: Variables every agent receives from the orchestrator's environment, when set.
ENV_ALLOWLIST: tuple[str, ...] = ("PATH", "HOME", "LANG", "LC_*", "TMPDIR", "TERM", "TZ")

#: Largest base64 value put in ``CLAUDE_PM_CONTEXT``; bigger contexts are only in the file.
INLINE_CONTEXT_MAX_BYTES = 64 * 1024

HANDOFF_FILENAME = "handoff.json"
TASK_FILENAME = "task.txt"
HANDOFF_VERSION = 1


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
    link that points outside the project is rejected as well.

    Raises:
        ContextError: a path is not a string, or lies outside ``project_root``.
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
        if not isinstance(raw, str) or not raw:
            raise ContextError(
                f"context.file_paths[{index}] must be a non-empty string.",
                field=f"context.file_paths[{index}]",
            )
        candidate = Path(raw).expanduser()
        if not candidate.is_absolute():
            candidate = project_root / candidate
        full = candidate.resolve()
        if not full.is_relative_to(project_root):
            raise ContextError(
                f"context.file_paths[{index}] {raw!r} is outside project_root "
                f"{str(project_root)!r}; give paths inside the project.",
                field=f"context.file_paths[{index}]",
                path=raw,
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


@dataclass(frozen=True)
class Handoff:
    """Where the executor finds its instructions."""

    handoff_path: Path
    task_path: Path
    inline_context: str | None


def write_handoff(
    run_dir: Path,
    *,
    run_id: str,
    agent: Mapping[str, Any],
    task: str,
    context: Mapping[str, Any],
    project_root: Path,
) -> Handoff:
    """Write ``handoff.json`` and ``task.txt`` into ``run_dir``.

    Raises:
        ContextError: the context cannot be serialised as JSON.
    """
    try:
        context_json = json.dumps(context, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ContextError(f"context must be JSON-serialisable: {e}.", field="context") from e
    run_dir.mkdir(parents=True, exist_ok=True)
    task_path = run_dir / TASK_FILENAME
    task_path.write_text(task, encoding="utf-8")
    handoff_path = run_dir / HANDOFF_FILENAME
    agent_json = json.dumps(agent, ensure_ascii=False)
    task_json = json.dumps(task, ensure_ascii=False)
    body = (
        f'{{"version": {HANDOFF_VERSION}, "run_id": {json.dumps(run_id)}, '
        f'"project_root": {json.dumps(str(project_root))}, "agent": {agent_json}, '
        f'"task": {task_json}, "task_file": {json.dumps(str(task_path))}, '
        f'"context": {context_json}}}'
    )
    handoff_path.write_text(body, encoding="utf-8")
    encoded = base64.b64encode(context_json.encode("utf-8")).decode("ascii")
    inline = encoded if len(encoded) <= INLINE_CONTEXT_MAX_BYTES else None
    return Handoff(handoff_path=handoff_path, task_path=task_path, inline_context=inline)


def read_handoff(path: Path) -> dict[str, Any]:
    """Read a hand-off file written by :func:`write_handoff`.

    Raises:
        ContextError: the file is missing, unreadable, or of another version.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ContextError(f"Cannot read the hand-off file {str(path)!r}: {e}.") from e
    if not isinstance(data, dict) or data.get("version") != HANDOFF_VERSION:
        raise ContextError(
            f"Hand-off file {str(path)!r} is not version {HANDOFF_VERSION}; "
            "the executor and orchestrator are from different claude-pm versions."
        )
    return data
