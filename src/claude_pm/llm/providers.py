"""The model APIs claude-pm has an adapter for (a module of its own: ``--help`` reads it)."""

from __future__ import annotations

from enum import StrEnum


class Provider(StrEnum):
    """A model API: ``anthropic`` (the Messages API) or ``openai`` (Chat Completions)."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"


__all__ = ["Provider"]
