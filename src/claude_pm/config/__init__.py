"""Settings, built in one place from one field table (:data:`FIELDS`).

``load_settings`` reads defaults, the environment, the framework context and
flags (later wins) and returns a frozen :class:`Settings`; see
:mod:`claude_pm.config.settings` for the precedence and
:mod:`claude_pm.config.fields` for every setting.
"""

from claude_pm.config.fields import (
    FIELDS,
    FIELDS_BY_NAME,
    ExecutorKind,
    Field,
    MemoryEnforcement,
    SandboxMode,
    Source,
    existing_directory,
    parse_bool,
)
from claude_pm.config.settings import Settings, load_settings

__all__ = [
    "FIELDS",
    "FIELDS_BY_NAME",
    "ExecutorKind",
    "Field",
    "MemoryEnforcement",
    "SandboxMode",
    "Settings",
    "Source",
    "existing_directory",
    "load_settings",
    "parse_bool",
]
