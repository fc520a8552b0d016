"""``claude-pm pm "GOAL"``: Claude as the project manager, with a readable live transcript."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from claude_pm.cli.output import error, print_json

if TYPE_CHECKING:
    from claude_pm.pm import PMResult
    from claude_pm.pm_transcript import TranscriptEvent

#: Environment variable naming the default model (``--model`` wins).
MODEL_ENV = "CLAUDE_PM_MODEL"

#: Exit codes: the model finished; an API error, a refusal or a cut-off reply; a limit was hit.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_LIMIT = 0, 1, 2, 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pm",
        help="let Claude manage a goal: plan, delegate to agents, file tickets",
        description="Give GOAL to Claude acting as the project manager. It sees the team of "
        "agents and the four tools, delegates work, reads the results, files tickets and "
        "ends with a report. The transcript is printed as it goes and saved under "
        "PROJECT/.claude-pm/pm/<run id>/. Needs ANTHROPIC_API_KEY (ANTHROPIC_BASE_URL to use "
        "another endpoint). Exits 0 when the model finished, 1 on an API error, 3 when the "
        "turn limit or the token budget stopped it.",
    )
    parser.add_argument("goal", help="what the team should achieve")
    parser.add_argument(
        "--model", default=None, help=f"model name (default: ${MODEL_ENV} or claude-sonnet-5-5)"
    )
    parser.add_argument("--max-turns", type=int, default=20, help="model requests at most (20)")
    parser.add_argument(
        "--max-tokens-budget",
        type=int,
        default=None,
        help="stop once the run has used more tokens than this (input + output)",
    )
    parser.add_argument(
        "--max-output-tokens", type=int, default=4096, help="max_tokens of each request (4096)"
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=3,
        help="retries of a rate-limited (429) or failed (5xx) request (3)",
    )
    parser.add_argument(
        "--parallel", type=int, default=4, help="tool calls of one turn run at once (4)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON at the end")
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

    def __call__(self, event: TranscriptEvent) -> None:
        from claude_pm.pm_transcript import EventKind, render_event
        from claude_pm.tools.export import is_error_result

        if self.quiet or (event.kind is EventKind.TOOL_PROGRESS and self.console is None):
            return
        text = render_event(event)
        if not text:
            return
        style = _STYLES.get(event.kind.value)
        if event.kind is EventKind.TOOL_RESULT and is_error_result(event.data.get("result", {})):
            style = "red"
        if self.console is not None:
            self.console.print(text, style=style, markup=False)
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


def _exit_code(result: PMResult) -> int:
    from claude_pm.pm import StopReason

    if result.ok:
        return EXIT_OK
    if result.stop_reason in {StopReason.MAX_TURNS, StopReason.TOKEN_BUDGET}:
        return EXIT_LIMIT
    return EXIT_FAILED


def run_command(args: argparse.Namespace) -> int:
    from claude_pm.config import load_settings
    from claude_pm.errors import ClaudePMError

    try:
        settings = load_settings(project_root=args.project)
    except ClaudePMError as e:
        error(e.message)
        return EXIT_BAD_INPUT
    if args.parallel < 1 or args.max_retries < 0:
        error("--parallel must be at least 1 and --max-retries at least 0.")
        return EXIT_BAD_INPUT
    env = settings.environ
    api_key = env.get("ANTHROPIC_API_KEY")
    auth_token = env.get("ANTHROPIC_AUTH_TOKEN")
    if not api_key and not auth_token:
        error("set ANTHROPIC_API_KEY (the PM loop talks to Claude through the Messages API).")
        return EXIT_BAD_INPUT

    import anthropic

    from claude_pm.pm import DEFAULT_MODEL, new_run_id, run_pm
    from claude_pm.tools.handler import ClaudeToolHandler

    client = anthropic.Anthropic(
        api_key=api_key,
        auth_token=auth_token,
        base_url=env.get("ANTHROPIC_BASE_URL") or None,
        max_retries=args.max_retries,
    )
    run_id = new_run_id()
    run_dir = settings.state_dir / "pm" / run_id
    try:
        result = run_pm(
            args.goal,
            handler=ClaudeToolHandler(settings=settings),
            client=client,
            model=args.model or env.get(MODEL_ENV) or DEFAULT_MODEL,
            max_turns=args.max_turns,
            max_tokens_budget=args.max_tokens_budget,
            max_output_tokens=args.max_output_tokens,
            transcript_dir=run_dir,
            run_id=run_id,
            on_event=_Printer(quiet=args.json),
            max_parallel_calls=args.parallel,
        )
    except ClaudePMError as e:
        error(e.message)
        return EXIT_BAD_INPUT
    finally:
        client.close()
    if args.json:
        print_json(result.to_dict())
    else:
        sys.stdout.write(f"Transcript: {run_dir / 'transcript.txt'}\n")
    if result.stop_reason.value == "api_error":
        error(result.message or "the Messages API failed")
    return _exit_code(result)
