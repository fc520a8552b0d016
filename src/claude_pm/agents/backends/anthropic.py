"""The ``anthropic`` backend: any agent definition as an LLM agent on the Anthropic Messages API.

The definition's body is the system prompt, its ``tools`` and
``disallowedTools`` choose the file tools and Bash, and its ``maxTurns`` bounds
the loop (see :mod:`~claude_pm.agents.backends.llm_agent` for the life of a
run). The model is the definition's ``model`` (Claude Code's aliases
``sonnet``, ``opus``, ``haiku`` mapped to current ids; ``inherit`` means the
setting), else the ``model`` setting, else
:data:`~claude_pm.agents.backends.llm_options.DEFAULT_ANTHROPIC_MODEL`. The
SDK reads ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) and
``ANTHROPIC_BASE_URL`` from the environment the runner passes; it retries 429
and 529 (and 408, 409, 5xx, connection errors) ``max_retries`` times with
backoff, honouring ``retry-after``; 401 and 400 fail at once. The system
prompt and the tool definitions are marked for prompt caching.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.agents.backends.llm_options import RunOptions
    from claude_pm.agents.handoff import Handoff
    from claude_pm.llm.client import ModelClient

NAME = "anthropic"


def check_options(options: Mapping[str, Any], *, agent_type: str) -> list[str]:
    """Problems with the definition's ``backend_options`` (any agent can run here)."""
    from claude_pm.agents.backends import llm_options

    return llm_options.check_options(options, llm_options.ANTHROPIC_OPTIONS, backend=NAME)


class AnthropicProvider:
    """The Messages API side of :func:`~claude_pm.agents.backends.llm_agent.run_agent`."""

    name = NAME
    api = "Messages API"

    @property
    def options(self) -> Mapping[str, Callable[[Any], str | None]]:
        from claude_pm.agents.backends import llm_options

        return llm_options.ANTHROPIC_OPTIONS

    def model(self, handoff: Handoff, options: RunOptions) -> str:
        from claude_pm.agents.backends import llm_options

        setting = handoff.backend_config.get("model")
        return llm_options.anthropic_model(handoff.agent.model, setting)

    def check_credentials(self, handoff: Handoff, options: RunOptions) -> None:
        from claude_pm.agents.backends.llm_agent import SetupProblem, environment_value

        if environment_value("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN") is None:
            raise SetupProblem(
                "no Anthropic credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) in "
                "the environment claude-pm runs in; it passes them to the agent",
                kind="authentication",
            )

    def client(
        self, handoff: Handoff, options: RunOptions, on_response: Callable[[Any], None]
    ) -> ModelClient:
        import anthropic

        from claude_pm.llm.anthropic import AnthropicClient

        http = anthropic.DefaultHttpxClient(event_hooks={"response": [on_response]})
        sdk = anthropic.Anthropic(
            max_retries=options.max_retries,
            timeout=options.request_timeout_s,
            http_client=http,
        )
        return AnthropicClient(sdk, cache_prompt=options.cache_prompt)


def run(handoff: Handoff) -> int:
    """Run the agent on the Messages API; its report goes to stdout."""
    from claude_pm.agents.backends.llm_agent import run_agent

    return run_agent(handoff, AnthropicProvider())
