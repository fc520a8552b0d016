"""The ``openai`` backend: any agent definition on an OpenAI-compatible Chat Completions API.

OpenAI itself or a local server (vLLM, llama.cpp, Ollama...): the run is the
same as the ``anthropic`` backend's (see
:mod:`~claude_pm.agents.backends.llm_agent`), with tools as ``function``
tools. The endpoint is ``backend_options.base_url``, else the
``openai_base_url`` setting, else ``OPENAI_BASE_URL``; the model is the
definition's ``model`` unless it is a Claude alias or ``inherit``, else the
``openai_model`` setting. Without either the run stops before any request,
saying which setting to give. The key is ``OPENAI_API_KEY`` (a placeholder is
sent when it is unset: local servers usually check none). The SDK retries 429,
503 (and 408, 409, 5xx, connection errors) ``max_retries`` times, honouring
``retry-after``; 401 and 400 fail at once. A model the price table does not
know has no cost (None) unless ``backend_options.price`` gives one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.agents.backends.llm_options import RunOptions
    from claude_pm.agents.handoff import Handoff
    from claude_pm.llm.client import ModelClient

NAME = "openai"
#: The key sent when OPENAI_API_KEY is unset (the SDK insists on one).
PLACEHOLDER_KEY = "no-key"


def check_options(options: Mapping[str, Any], *, agent_type: str) -> list[str]:
    """Problems with the definition's ``backend_options`` (any agent can run here).

    The model and the base URL may come from the settings, which this check
    does not see: their absence is reported when the run starts.
    """
    from claude_pm.agents.backends import llm_options

    return llm_options.check_options(options, llm_options.OPENAI_OPTIONS, backend=NAME)


def base_url(handoff: Handoff, options: RunOptions) -> str | None:
    """The endpoint: the definition's option, else the setting, else ``OPENAI_BASE_URL``."""
    setting = handoff.backend_config.get("openai_base_url")
    return options.base_url or setting or os.environ.get("OPENAI_BASE_URL") or None


class OpenAIProvider:
    """The Chat Completions side of :func:`~claude_pm.agents.backends.llm_agent.run_agent`."""

    name = NAME
    api = "Chat Completions API"

    @property
    def options(self) -> Mapping[str, Callable[[Any], str | None]]:
        from claude_pm.agents.backends import llm_options

        return llm_options.OPENAI_OPTIONS

    def model(self, handoff: Handoff, options: RunOptions) -> str:
        from claude_pm.agents.backends import llm_options
        from claude_pm.agents.backends.llm_agent import SetupProblem

        given = handoff.agent.model
        model = llm_options.openai_model(given, handoff.backend_config.get("openai_model"))
        if model is None:
            why = (
                f"its model {given!r} is a Claude alias, which an OpenAI-compatible server does "
                "not know, and "
                if given and given.strip().lower() != llm_options.INHERIT
                else ""
            )
            raise SetupProblem(
                f"the openai backend has no model to ask for: {why}no openai_model is set. Set "
                "openai_model (CLAUDE_PM_OPENAI_MODEL), or give the agent `model: <the "
                "server's model name>`."
            )
        if base_url(handoff, options) is None:
            raise SetupProblem(
                "the openai backend has no endpoint: set openai_base_url "
                "(CLAUDE_PM_OPENAI_BASE_URL, e.g. http://127.0.0.1:8000/v1 for a local vLLM), "
                "or give the agent backend_options.base_url."
            )
        return model

    def check_credentials(self, handoff: Handoff, options: RunOptions) -> None:
        return None  # a local server checks no key; a real one answers 401, reported as such

    def client(
        self, handoff: Handoff, options: RunOptions, on_response: Callable[[Any], None]
    ) -> ModelClient:
        try:
            import openai
        except ImportError as e:
            from claude_pm.llm.client import ModelSDKMissing

            raise ModelSDKMissing("openai", "openai") from e

        from claude_pm.llm.openai import MaxTokensParam, OpenAIClient

        http = openai.DefaultHttpxClient(event_hooks={"response": [on_response]})
        sdk = openai.OpenAI(
            api_key=os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY,
            base_url=base_url(handoff, options),
            max_retries=options.max_retries,
            timeout=options.request_timeout_s,
            http_client=http,
        )
        param: MaxTokensParam = (
            "max_completion_tokens"
            if options.max_tokens_param == "max_completion_tokens"
            else "max_tokens"
        )
        return OpenAIClient(sdk, max_tokens_param=param)


def run(handoff: Handoff) -> int:
    """Run the agent on the configured OpenAI-compatible endpoint; its report goes to stdout."""
    from claude_pm.agents.backends.llm_agent import run_agent

    return run_agent(handoff, OpenAIProvider())
