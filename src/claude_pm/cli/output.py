"""Printing for the CLI: JSON for programs, rich text for people, plain text in a pipe."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(value: Any) -> None:
    """Indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def error(message: str) -> None:
    """A message for people on stderr, prefixed so it is clear where it comes from."""
    sys.stderr.write(f"claude-pm: error: {message}\n")
