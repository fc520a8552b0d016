"""The settings of an LLM agent run: its ``backend_options``, its model, its limits.

``backend_options`` of the ``anthropic`` and ``openai`` backends (all optional)::

    max_output_tokens: 8192    # the output limit of each reply
    token_budget: 2000000      # stop once the run used more tokens than this (none by default)
    max_retries: 4             # the SDK's retries of 408/409/429/5xx and connection errors
    request_timeout_s: 600     # one request's timeout
    bash_timeout_s: 120        # Bash's default per-command timeout (the model may ask up to 600)
    max_parallel_tools: 4      # tool calls of one turn run at once
    price: {input: 0.5, output: 1.5, cache_read: 0.05, cache_write: 0.6}   # USD per million tokens
    # anthropic only
    cache_prompt: true         # cache the system prompt and the tool definitions
    # openai only
    base_url: http://127.0.0.1:8000/v1
    max_tokens_param: max_tokens   # or max_completion_tokens (OpenAI's reasoning models)

``price`` prices a model the table in :mod:`claude_pm.llm.pricing` does not
know (a local model: all zeros), so that its cost is reported and a dollar
budget can be enforced; ``cache_read`` and ``cache_write`` default to
``input``. The turn limit is Claude Code's own field ``maxTurns``
(:data:`DEFAULT_MAX_TURNS` when the definition has none).

Models: the definition's ``model``, else the ``model`` setting (``openai_model``
for openai). Claude Code's aliases name current models (:data:`CLAUDE_ALIASES`);
``inherit`` (and no ``model``) means the setting. On openai a Claude alias is
skipped: an OpenAI-compatible server does not know it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Claude Code's model aliases -> the model ids the anthropic backend sends.
CLAUDE_ALIASES: dict[str, str] = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
    "fable": "claude-fable-5-1",
    "default": "claude-sonnet-5-5",
}
#: The anthropic backend's model when neither the definition nor the settings name one.
DEFAULT_ANTHROPIC_MODEL = CLAUDE_ALIASES["sonnet"]
#: Model requests of one run when the definition has no ``maxTurns``.
DEFAULT_MAX_TURNS = 30
INHERIT = "inherit"

_Check = Callable[[Any], str | None]


def _integer(low: int, high: int | None = None) -> _Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        if ok and (high is None or value <= high):
            return None
        return f"an integer from {low}" + (f" to {high}" if high is not None else " up")

    return check


def _number(high: float | None = None) -> _Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if ok and (high is None or value <= high):
            return None
        return "a number above 0" + (f", at most {high:g}" if high is not None else "")

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _url(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return None
    return "an http:// or https:// URL (an OpenAI-compatible endpoint, usually ending in /v1)"


def _price(value: Any) -> str | None:
    expected = (
        "a mapping of input and output (and cache_read, cache_write) in USD per million tokens"
    )
    if not isinstance(value, Mapping) or not {"input", "output"} <= set(value):
        return expected
    for key, rate in value.items():
        if key not in ("input", "output", "cache_read", "cache_write"):
            return expected
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
            return expected
    return None


def _one_of(*choices: str) -> _Check:
    def check(value: Any) -> str | None:
        return None if value in choices else "one of " + ", ".join(choices)

    return check


COMMON_OPTIONS: dict[str, _Check] = {
    "max_output_tokens": _integer(1),
    "token_budget": _integer(1),
    "max_retries": _integer(0, 10),
    "request_timeout_s": _number(),
    "bash_timeout_s": _number(600),
    "max_parallel_tools": _integer(1, 16),
    "price": _price,
}
ANTHROPIC_OPTIONS: dict[str, _Check] = {**COMMON_OPTIONS, "cache_prompt": _boolean}
OPENAI_OPTIONS: dict[str, _Check] = {
    **COMMON_OPTIONS,
    "base_url": _url,
    "max_tokens_param": _one_of("max_tokens", "max_completion_tokens"),
}


def check_options(
    options: Mapping[str, Any], known: Mapping[str, _Check], *, backend: str
) -> list[str]:
    """What is wrong with ``options`` for ``backend`` (empty when nothing is)."""
    problems = []
    for key, value in options.items():
        check = known.get(key)
        if check is None:
            names = ", ".join(sorted(known))
            problems.append(
                f"backend_options.{key} is not an option of the {backend} backend "
                f"(its options: {names})"
            )
            continue
        expected = check(value)
        if expected is not None:
            problems.append(f"backend_options.{key} must be {expected}, got {value!r:.80}")
    return problems


@dataclass(frozen=True)
class RunOptions:
    """``backend_options`` checked, with their defaults."""

    max_output_tokens: int = 8192
    token_budget: int | None = None
    max_retries: int = 4
    request_timeout_s: float = 600.0
    bash_timeout_s: float = 120.0
    max_parallel_tools: int = 4
    price: Mapping[str, float] | None = None
    cache_prompt: bool = True
    base_url: str | None = None
    max_tokens_param: str = "max_tokens"

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RunOptions:
        """The options (already checked by :func:`check_options`) over the defaults."""
        return cls(**{k: v for k, v in options.items() if k in cls.__dataclass_fields__})


def is_claude_alias(model: str) -> bool:
    return model.strip().lower() in CLAUDE_ALIASES


def anthropic_model(definition_model: str | None, setting: str | None) -> str:
    """The model id the anthropic backend sends (aliases mapped, ``inherit`` = the setting)."""
    for candidate in (definition_model, setting):
        if candidate and candidate.strip() and candidate.strip().lower() != INHERIT:
            name = candidate.strip()
            return CLAUDE_ALIASES.get(name.lower(), name)
    return DEFAULT_ANTHROPIC_MODEL


def openai_model(definition_model: str | None, setting: str | None) -> str | None:
    """The model the openai backend sends: the definition's unless it is a Claude alias
    or ``inherit``, else the ``openai_model`` setting; None when there is none."""
    if definition_model and definition_model.strip():
        name = definition_model.strip()
        if name.lower() != INHERIT and not is_claude_alias(name):
            return name
    return setting.strip() if setting and setting.strip() else None


def max_turns(claude_code: Mapping[str, Any]) -> int:
    """The definition's ``maxTurns``, else :data:`DEFAULT_MAX_TURNS`."""
    value = claude_code.get("maxTurns")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return DEFAULT_MAX_TURNS


__all__ = [
    "ANTHROPIC_OPTIONS",
    "CLAUDE_ALIASES",
    "COMMON_OPTIONS",
    "DEFAULT_ANTHROPIC_MODEL",
    "DEFAULT_MAX_TURNS",
    "INHERIT",
    "OPENAI_OPTIONS",
    "RunOptions",
    "anthropic_model",
    "check_options",
    "is_claude_alias",
    "max_turns",
    "openai_model",
]
