"""``claude-pm pm "GOAL"``: a model as the project manager, with a readable live transcript."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_LIMIT,
    EXIT_OK,
    CommandFailed,
    with_settings,
)
from claude_pm.cli.output import add_json_flag, error, print_json, wants_json
from claude_pm.llm.providers import Provider

if TYPE_CHECKING:
    from claude_pm.config import Settings
    from claude_pm.llm.anthropic import AnthropicClient
    from claude_pm.llm.openai import OpenAIClient
    from claude_pm.llm.types import LoopEvent
    from claude_pm.pm import PMResult

#: Environment variables of the settings ``model``, ``openai_base_url`` and
#: ``openai_model`` (``--model`` and ``--base-url`` win), named in ``--help``.
MODEL_ENV = "CLAUDE_PM_MODEL"
OPENAI_BASE_URL_ENV = "CLAUDE_PM_OPENAI_BASE_URL"
OPENAI_MODEL_ENV = "CLAUDE_PM_OPENAI_MODEL"
#: The key sent to an OpenAI-compatible server when OPENAI_API_KEY is not set.
PLACEHOLDER_API_KEY = "no-key"

__all__ = ["EXIT_LIMIT", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pm",
        help="let a model manage a goal: plan, delegate to agents, file tickets",
        description="Give GOAL to a model acting as the project manager (Claude by default). "
        "It sees the team of agents and the four tools, delegates work, reads the results, "
        "files tickets and ends with a report. The transcript is printed as it goes and saved "
        "under PROJECT/.claude-pm/pm/<run id>/. --provider anthropic needs ANTHROPIC_API_KEY "
        "(or ANTHROPIC_AUTH_TOKEN; ANTHROPIC_BASE_URL or --base-url for another endpoint). "
        f"--provider openai speaks Chat Completions to --base-url (or ${OPENAI_BASE_URL_ENV}; "
        "OpenAI's own API without either) with --model (or "
        f"${OPENAI_MODEL_ENV}) and OPENAI_API_KEY; for a local server (vLLM, llama.cpp, "
        f"Ollama) that checks no key, the placeholder key {PLACEHOLDER_API_KEY!r} is sent. "
        "Exits 0 when the model finished, 1 on an API error (or a refusal, or a reply cut "
        "off), 2 on bad input, 3 when the turn limit, the token budget or the dollar budget "
        "stopped it. The transcript goes to standard output as it happens (not with --json).",
        epilog="examples:\n"
        '  claude-pm pm "make the tests pass" --max-turns 10 --budget-usd 1\n'
        '  claude-pm pm "review the API" --provider openai --base-url http://127.0.0.1:8000/v1 '
        "--model qwen\n"
        '  claude-pm pm "triage the open tickets" --json | jq .stop_reason',
    )
    parser.add_argument("goal", help="what the team should achieve")
    parser.add_argument(
        "--provider",
        choices=[p.value for p in Provider],
        default=Provider.ANTHROPIC.value,
        help="the model API (default anthropic)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="the API endpoint (openai: an OpenAI-compatible server's URL ending in /v1)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"model name (anthropic: ${MODEL_ENV} or claude-sonnet-5-5; openai: "
        f"${OPENAI_MODEL_ENV}, required)",
    )
    parser.add_argument("--max-turns", type=int, default=20, help="model requests at most (20)")
    parser.add_argument(
        "--max-tokens-budget",
        type=int,
        default=None,
        help="stop once the run has used more tokens than this (input, output and cache)",
    )
    parser.add_argument(
        "--budget-usd",
        type=float,
        default=None,
        help="stop once the run has cost more than this many dollars (models with a known price)",
    )
    parser.add_argument(
        "--max-output-tokens", type=int, default=4096, help="output limit of each reply (4096)"
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=3,
        help="SDK retries of a rate-limited (429), overloaded or failed (5xx) request, or of a "
        "connection error (3)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=None,
        help="seconds to wait for one reply (default: the SDK's, 10 minutes)",
    )
    parser.add_argument(
        "--parallel", type=int, default=4, help="tool calls of one turn run at once (4)"
    )
    add_json_flag(parser, help="print the result as JSON at the end (no transcript)")
    parser.set_defaults(func=run_command)


_STYLES = {
    "goal": "bold",
    "assistant_text": "cyan",
    "tool_call": "yellow",
    "tool_progress": "dim",
    "tool_result": "green",
    "api_error": "bold red",
    "stop": "bold",
}


class _Printer:
    """The live transcript: rich on a terminal, plain text in a pipe."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.console: Any = None
        if sys.stdout.isatty():
            from rich.console import Console

            self.console = Console(highlight=False)

    def __call__(self, event: LoopEvent) -> None:
        from claude_pm.llm.types import EventKind
        from claude_pm.pm.transcript import render_event

        if self.quiet or (event.kind is EventKind.TOOL_PROGRESS and self.console is None):
            return
        text = render_event(event)
        if not text:
            return
        style = _STYLES.get(event.kind.value)
        if event.kind is EventKind.TOOL_RESULT and event.data.get("is_error"):
            style = "red"
        if self.console is not None:
            self.console.print(text, style=style, markup=False)
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


class _UsageError(Exception):
    """A missing setting; the message says what to set."""


def _anthropic_client(args: argparse.Namespace, settings: Settings) -> tuple[AnthropicClient, str]:
    from claude_pm.llm.anthropic import AnthropicClient
    from claude_pm.pm import DEFAULT_MODEL

    env = settings.environ
    api_key = env.get("ANTHROPIC_API_KEY")
    auth_token = env.get("ANTHROPIC_AUTH_TOKEN")
    if not api_key and not auth_token:
        raise _UsageError(
            "set ANTHROPIC_API_KEY (the PM talks to Claude through the Messages API), or use "
            "--provider openai for an OpenAI-compatible server."
        )
    client = AnthropicClient(
        api_key=api_key or None,
        auth_token=auth_token or None,
        base_url=args.base_url or env.get("ANTHROPIC_BASE_URL") or None,
        max_retries=args.max_retries,
        timeout_s=args.request_timeout,
    )
    return client, args.model or settings.model or DEFAULT_MODEL


def _openai_client(args: argparse.Namespace, settings: Settings) -> tuple[OpenAIClient, str]:
    from claude_pm.llm.openai import OpenAIClient

    base_url = args.base_url or settings.openai_base_url or None
    model = args.model or settings.openai_model
    if not model:
        raise _UsageError(
            f"--provider openai needs a model: pass --model or set {OPENAI_MODEL_ENV} (the name "
            "the server serves; GET <base URL>/models lists them)."
        )
    api_key = settings.environ.get("OPENAI_API_KEY")
    if not api_key:
        if base_url is None:
            raise _UsageError(
                "set OPENAI_API_KEY to use OpenAI's API, or point --base-url (or "
                f"{OPENAI_BASE_URL_ENV}) at an OpenAI-compatible server."
            )
        api_key = PLACEHOLDER_API_KEY
    client = OpenAIClient(
        api_key=api_key,
        base_url=base_url,
        max_retries=args.max_retries,
        timeout_s=args.request_timeout,
    )
    return client, model


#: Provider -> how ``claude-pm pm`` builds its client and picks its model.
_CLIENTS: dict[Provider, Callable[[argparse.Namespace, Settings], tuple[Any, str]]] = {
    Provider.ANTHROPIC: _anthropic_client,
    Provider.OPENAI: _openai_client,
}


def _exit_code(result: PMResult) -> int:
    if result.ok:
        return EXIT_OK
    if result.hit_limit:
        return EXIT_LIMIT
    return EXIT_FAILED


@with_settings
def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.llm.client import ModelSDKMissing

    if args.parallel < 1 or args.max_retries < 0:
        raise CommandFailed(
            "--parallel must be at least 1 and --max-retries at least 0.", EXIT_BAD_INPUT
        )
    if args.request_timeout is not None and not args.request_timeout > 0:
        raise CommandFailed("--request-timeout must be above 0 seconds.", EXIT_BAD_INPUT)

    from claude_pm.agents.runs import new_run_id
    from claude_pm.pm import PMConfig, StopReason, run_pm, team_from_handler
    from claude_pm.tools.handler import ClaudeToolHandler

    try:
        client, model = _CLIENTS[Provider(args.provider)](args, settings)
    except _UsageError as e:
        raise CommandFailed(str(e), EXIT_BAD_INPUT, type_name="UsageError") from e
    except ModelSDKMissing as e:
        raise CommandFailed(e.message, EXIT_BAD_INPUT, type_name=type(e).__name__) from e
    try:
        handler = ClaudeToolHandler(settings=settings)
        config = PMConfig(
            model=model,
            max_turns=args.max_turns,
            max_tokens_budget=args.max_tokens_budget,
            max_output_tokens=args.max_output_tokens,
            max_parallel_calls=args.parallel,
            budget_usd=args.budget_usd,
            team=team_from_handler(handler),
        )
        run_id = new_run_id()
        run_dir = settings.state_dir / "pm" / run_id
        result = run_pm(
            args.goal,
            # ClaudeToolHandler still declares threading.Event for cancel; any CancelToken works.
            handler=handler,
            client=client,
            config=config,
            on_event=_Printer(quiet=wants_json(args)),
            transcript_dir=run_dir,
            run_id=run_id,
        )
    finally:
        client.close()
    if wants_json(args):
        print_json(result.to_dict())
    else:
        sys.stdout.write(f"Transcript: {run_dir / 'transcript.txt'}\n")
    if result.stop_reason is StopReason.API_ERROR:
        error(result.message or "the model API failed")
    return _exit_code(result)
