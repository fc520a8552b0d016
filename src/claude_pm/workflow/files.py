"""Workflow files: YAML holding the tool's own input, for ``claude-pm workflow run FILE``.

A workflow file is the ``coordinate_multi_agent_workflow`` input written as
YAML (JSON is YAML too)::

    workflow_description: Review before the release
    max_concurrency: 2
    agent_tasks:
      - id: tests
        agent_type: qa
        task: Run the test suite and report failures
      - id: docs
        agent_type: documentation
        task: Check the README against the CLI
        writes: [README.md]
      - id: triage
        agent_type: ticketer
        task: File what the others found
        dependencies: [tests, docs]

:func:`load_workflow_file` only reads it; :func:`~claude_pm.workflow.parse.parse_workflow`
checks it (YAML's surprises included, such as ``id: no`` read as a boolean).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claude_pm.errors import InvalidInput

#: Largest workflow file read, in bytes (1,000 tasks of generous size fit).
MAX_FILE_BYTES = 8 * 1024 * 1024


def load_workflow_file(path: Path) -> Any:
    """The content of a workflow file (not checked yet).

    Raises:
        InvalidInput: the file cannot be read, is too large, or is not YAML
            (the message names the file and, for YAML, the line).
    """
    import yaml

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput(
                f"The workflow file {str(path)!r} is {size} bytes; at most {MAX_FILE_BYTES}.",
                field="file",
            )
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidInput(
            f"Cannot read the workflow file {str(path)!r}: {e.strerror or e}.", field="file"
        ) from e
    except UnicodeDecodeError as e:
        raise InvalidInput(
            f"The workflow file {str(path)!r} is not UTF-8 text.", field="file"
        ) from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(
            f"The workflow file {str(path)!r} is not valid YAML{where}: "
            f"{getattr(e, 'problem', None) or e}.",
            field="file",
        ) from e


__all__ = ["MAX_FILE_BYTES", "load_workflow_file"]
