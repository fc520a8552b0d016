"""What the model is told about each tool: its description and its input schema.

The names and the arguments are Claude Code's own (Read, Write, Edit, Glob,
Grep, Bash), so an agent file written for Claude Code and a model used to it
work unchanged; what differs is said in the descriptions (Python regular
expressions, the caps, no background commands).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claude_pm.agents.backends.file_search import FILE_TYPES, GREP_LINE_CHARS
from claude_pm.agents.backends.file_tools import ToolLimits

#: Bash's longest timeout, as Claude Code's (10 minutes).
MAX_BASH_TIMEOUT_MS = 600_000


def _schema(properties: Mapping[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": False,
    }


_PATH_HELP = "absolute (inside the project) or relative to the project root"

#: The input schemas, after Claude Code's own tools of the same names.
SCHEMAS: dict[str, dict[str, Any]] = {
    "Read": _schema(
        {
            "file_path": {"type": "string", "description": f"The file to read, {_PATH_HELP}."},
            "offset": {
                "type": "integer",
                "minimum": 1,
                "description": "The line number to start reading from (1 is the first line).",
            },
            "limit": {"type": "integer", "minimum": 1, "description": "How many lines to read."},
        },
        ("file_path",),
    ),
    "Write": _schema(
        {
            "file_path": {"type": "string", "description": f"The file to write, {_PATH_HELP}."},
            "content": {"type": "string", "description": "The whole new content of the file."},
        },
        ("file_path", "content"),
    ),
    "Edit": _schema(
        {
            "file_path": {"type": "string", "description": f"The file to change, {_PATH_HELP}."},
            "old_string": {"type": "string", "description": "The exact text to replace."},
            "new_string": {"type": "string", "description": "The text to put in its place."},
            "replace_all": {
                "type": "boolean",
                "default": False,
                "description": "Replace every occurrence (else old_string must occur once).",
            },
        },
        ("file_path", "old_string", "new_string"),
    ),
    "Glob": _schema(
        {
            "pattern": {
                "type": "string",
                "description": "A glob such as **/*.py or src/**/*.{ts,tsx}.",
            },
            "path": {"type": "string", "description": "The folder to search (default: the root)."},
        },
        ("pattern",),
    ),
    "Grep": _schema(
        {
            "pattern": {"type": "string", "description": "A regular expression (Python syntax)."},
            "path": {"type": "string", "description": "A file or folder (default: the root)."},
            "glob": {"type": "string", "description": "Only files matching this glob (*.py)."},
            "type": {
                "type": "string",
                "enum": sorted(FILE_TYPES),
                "description": "Only files of this type.",
            },
            "output_mode": {
                "type": "string",
                "enum": ["content", "files_with_matches", "count"],
                "default": "files_with_matches",
                "description": "Matching lines, the files that match, or counts per file.",
            },
            "-i": {"type": "boolean", "description": "Ignore case."},
            "-n": {"type": "boolean", "description": "Show line numbers (content mode)."},
            "-A": {"type": "integer", "minimum": 0, "description": "Lines after each match."},
            "-B": {"type": "integer", "minimum": 0, "description": "Lines before each match."},
            "-C": {"type": "integer", "minimum": 0, "description": "Lines around each match."},
            "head_limit": {
                "type": "integer",
                "minimum": 1,
                "description": "Show at most this many lines or entries.",
            },
            "multiline": {
                "type": "boolean",
                "description": "Let the pattern span lines (. matches newlines).",
            },
        },
        ("pattern",),
    ),
    "Bash": _schema(
        {
            "command": {"type": "string", "description": "The command line to run."},
            "timeout": {
                "type": "number",
                "minimum": 1,
                "maximum": MAX_BASH_TIMEOUT_MS,
                "description": f"Timeout in milliseconds (at most {MAX_BASH_TIMEOUT_MS}).",
            },
            "description": {
                "type": "string",
                "description": "What the command does, in 5 to 10 words.",
            },
        },
        ("command",),
    ),
}


def descriptions(limits: ToolLimits, bash_timeout_s: float) -> dict[str, str]:
    """Each tool's description, with the limits it really has."""
    cap = limits.max_output_bytes
    return {
        "Read": (
            "Read a text file of the project. Lines come numbered (cat -n style): at most "
            f"{limits.read_default_lines} from offset (line 1 by default), each cut at "
            f"{limits.max_line_chars} characters, {cap} bytes in all; read long files in parts "
            "with offset and limit. Paths are relative to the project root, or absolute inside it."
        ),
        "Write": (
            "Create a file, or replace all of an existing file's content (folders are made as "
            "needed). Prefer Edit to change part of a file. .git/ and .claude-pm/ are off limits."
        ),
        "Edit": (
            "Replace exact text in a file: old_string must occur exactly once (include the "
            "surrounding lines to make it unique) unless replace_all is true. Read the file "
            "first and copy the text exactly, indentation included."
        ),
        "Glob": (
            "Find files by path pattern: **/*.py, src/**/*.{ts,tsx}; *.py matches only in the "
            f"folder searched. Newest first, at most {limits.glob_max_results} paths, relative "
            "to the project root. Dependency, cache and VCS folders are not searched."
        ),
        "Grep": (
            "Search file contents with a regular expression (Python re syntax). output_mode "
            "files_with_matches (the default) lists the files, content shows the matching "
            "lines (-n line numbers, -A/-B/-C context), count counts them per file. Filter "
            f"with glob or type. At most head_limit entries ({limits.grep_default_head_limit} "
            f"by default), lines cut at {GREP_LINE_CHARS} characters; binary files and files "
            f"over {limits.grep_max_file_bytes} bytes are skipped."
        ),
        "Bash": (
            "Run a command line with /bin/sh -c in the project root, stdin closed (nothing "
            f"interactive). Default timeout {bash_timeout_s:g} s (timeout in milliseconds, at "
            f"most {MAX_BASH_TIMEOUT_MS}); processes it leaves in the background are killed when "
            f"it ends. stdout and stderr are each cut at {cap // 2} bytes. Prefer Read, Glob and "
            "Grep to cat, find and grep."
        ),
    }


__all__ = ["MAX_BASH_TIMEOUT_MS", "SCHEMAS", "descriptions"]
