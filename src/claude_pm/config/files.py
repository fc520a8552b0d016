"""Settings in files: the user's own file, and the project's.

Two places, both TOML, both optional:

* the user file, ``$XDG_CONFIG_HOME/claude-pm/config.toml`` (default
  ``~/.config/claude-pm/config.toml``);
* the project's: the ``[tool.claude-pm]`` table of ``PROJECT/pyproject.toml``,
  then ``PROJECT/.claude-pm/config.toml`` (the latter wins for a key both set).

A key is a setting's name (``default_backend``) or its framework-context key
(``backend``), as ``claude-pm config show`` lists them. A project's file is
the repository's word, so it may not set the security settings (allowed
project roots, the sandbox, its network, the bypass-permissions opt-in): a
cloned repository must not switch off claude-pm's protections. Such a key is
ignored, and ``config show`` says so. An unknown key or a file that is not
TOML is an error naming the file and what to fix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_pm.config.fields import FIELDS, FIELDS_BY_NAME, Field
from claude_pm.errors import InvalidInput

#: Settings whose value is a path: relative ones are taken from the file's base directory.
_PATH_SETTINGS = frozenset({"state_dir", "user_agents_dir"})

_ALIASES: dict[str, str] = {
    **{spec.name: spec.name for spec in FIELDS},
    **{key: spec.name for spec in FIELDS for key in spec.context_keys if "." not in key},
}


@dataclass(frozen=True)
class FileValues:
    """What one settings file says: raw values by setting name, and what was ignored."""

    path: Path
    values: Mapping[str, Any]
    ignored: tuple[str, ...] = ()


def user_config_path(env: Mapping[str, str]) -> Path:
    """Where the user's settings file is (whether or not it exists)."""
    base = env.get("XDG_CONFIG_HOME")
    root = Path(base) if base else Path(env.get("HOME") or Path.home()) / ".config"
    return root / "claude-pm" / "config.toml"


def _read_toml(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(
            f"Cannot read the settings file {str(path)!r}: {e}.", field="config", path=str(path)
        ) from e
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(
            f"The settings file {str(path)!r} is not valid TOML: {e}. Fix it or remove it.",
            field="config",
            path=str(path),
        ) from e


def _values(
    table: Mapping[str, Any], path: Path, base: Path, *, project: bool, where: str
) -> FileValues:
    values: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in table.items():
        name = _ALIASES.get(key)
        if name is None:
            known = ", ".join(spec.name for spec in FIELDS)
            raise InvalidInput(
                f"Unknown setting {key!r} in {where}; known settings: {known}.",
                field=key,
                path=str(path),
            )
        spec: Field = FIELDS_BY_NAME[name]
        if project and spec.security:
            ignored.append(
                f"{name} in {where} is ignored: security settings are read only from flags, "
                "the environment and your own user file"
            )
            continue
        if name in _PATH_SETTINGS and isinstance(value, str) and value:
            candidate = Path(value).expanduser()
            value = str(candidate if candidate.is_absolute() else base / candidate)
        values[name] = value
    return FileValues(path, values, tuple(ignored))


def read_user_file(env: Mapping[str, str]) -> FileValues | None:
    """The user's settings file, or None when there is none.

    Raises:
        InvalidInput: it is not TOML, or names an unknown setting.
    """
    path = user_config_path(env)
    data = _read_toml(path)
    if data is None:
        return None
    return _values(data, path, Path(env.get("HOME") or Path.home()), project=False, where=str(path))


def read_project_files(project_root: Path) -> list[FileValues]:
    """The project's settings, lowest precedence first (pyproject's table, then config.toml).

    Raises:
        InvalidInput: a file is not TOML, or names an unknown setting.
    """
    found: list[FileValues] = []
    pyproject = project_root / "pyproject.toml"
    data = _read_toml(pyproject)
    table = (data or {}).get("tool", {}).get("claude-pm") if data else None
    if isinstance(table, dict):
        found.append(
            _values(
                table, pyproject, project_root, project=True, where=f"{pyproject} [tool.claude-pm]"
            )
        )
    own = project_root / ".claude-pm" / "config.toml"
    data = _read_toml(own)
    if data is not None:
        found.append(_values(data, own, project_root, project=True, where=str(own)))
    return found


__all__ = ["FileValues", "read_project_files", "read_user_file", "user_config_path"]
