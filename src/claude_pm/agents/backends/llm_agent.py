"""An agent definition run on the model loop: what the ``anthropic`` and ``openai`` backends share.

The life of one run (:func:`run_agent`, in the agent's own supervised process):

1. Settle it before any request: the ``backend_options``
   (:mod:`~claude_pm.agents.backends.llm_options`), the model, the limits
   (``maxTurns``, the token budget, ``budget_usd``; a dollar budget needs a
   price), the credentials, and the tools the definition grants
   (:mod:`~claude_pm.agents.backends.agent_tools`). A problem ends the run
   here: the reason on stderr and in ``result.json``, exit 78 (77 for missing
   credentials).
2. Build the provider's client (its SDK is imported now, not before), with the
   SDK's ``max_retries`` and an HTTP hook that records every 429, 503 and 529
   answer, retried or not, as a rate-limit event.
3. Run :func:`claude_pm.llm.run_loop`: the system prompt is the definition's
   body and a short section on where the agent runs; the first user message is
   the task and the context claude-pm passed, as a bounded JSON block; the
   toolbox is Read, Glob, Grep and what the definition grants of Write, Edit
   and Bash, all confined to the project root.
4. Every loop event goes to ``transcript.jsonl`` in the run directory as it
   happens (with a ``session`` line first and ``rate_limit`` lines); the
   model's final text goes to stdout, where claude-pm reads the report and its
   tickets.
5. ``result.json`` (a :class:`~claude_pm.agents.handoff.BackendReport`) says
   which backend and model ran, the usage with Anthropic's field names, the
   cost (None for a model without a price), turns, the session id, why it
   stopped (the loop's stop reason), the error and its kind, and the rate
   limits. It is written on every exit this process sees, SIGTERM (the run's
   timeout, or a cancel) included.

Exit codes: 0 the model finished; 3 a limit stopped it (``max_turns``,
``token_budget``, ``budget_usd``, ``max_tokens``); 1 the model declined; 69 the
API failed after the retries (rate limited, overloaded, unreachable); 77 the
API refused the credentials; 78 a setting or the request is wrong; 70 an
internal error; 128 + the signal number when terminated.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Protocol

from claude_pm.agents.backends import llm_options
from claude_pm.agents.backends.llm_options import RunOptions
from claude_pm.agents.backends.llm_prompt import first_message, system_prompt
from claude_pm.agents.backends.rate_limits import RateLimitLog
from claude_pm.agents.handoff import BackendReport, Handoff

if TYPE_CHECKING:
    from claude_pm.agents.backends.agent_tools import AgentToolbox, ToolGrant
    from claude_pm.llm.client import ModelClient
    from claude_pm.llm.loop import LoopConfig
    from claude_pm.llm.types import LoopEvent, LoopResult

TRANSCRIPT_FILENAME = "transcript.jsonl"

EXIT_OK = 0
EXIT_DECLINED = 1
EXIT_LIMIT = 3
EXIT_API = 69
EXIT_SOFTWARE = 70
EXIT_AUTH = 77
EXIT_CONFIG = 78

_API_EXITS = {"authentication": EXIT_AUTH, "bad_request": EXIT_CONFIG}
_LIMITS = ("max_turns", "token_budget", "budget_usd", "max_tokens")


class SetupProblem(Exception):
    """The run cannot start; the message says what to fix."""

    def __init__(self, message: str, *, kind: str = "configuration") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class Provider(Protocol):
    """What a backend adds to the shared run: its name, its options, its model, its client."""

    @property
    def name(self) -> str:
        """The backend's name."""
        ...

    @property
    def api(self) -> str:
        """The API it calls, for messages ("Messages API")."""
        ...

    @property
    def options(self) -> Mapping[str, Callable[[Any], str | None]]:
        """Its ``backend_options`` and their checks."""
        ...

    def model(self, handoff: Handoff, options: RunOptions) -> str:
        """The model to send; raises :class:`SetupProblem` when there is none."""
        ...

    def check_credentials(self, handoff: Handoff, options: RunOptions) -> None:
        """Raise :class:`SetupProblem` (kind ``authentication``) when none can be found."""
        ...

    def client(
        self, handoff: Handoff, options: RunOptions, on_response: Callable[[Any], None]
    ) -> ModelClient:
        """The model client (the SDK imported here); ``on_response`` hooks every HTTP answer."""
        ...


class _Terminated(SystemExit):
    """SIGTERM or SIGINT arrived: unwind, report, exit 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


@dataclass
class _Setup:
    model: str
    grant: ToolGrant
    toolbox: AgentToolbox
    config: LoopConfig
    client: ModelClient


class _Transcript:
    """``transcript.jsonl``: one JSON object per line, flushed as written (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def run_agent(handoff: Handoff, provider: Provider) -> int:
    """Run ``handoff``'s agent on ``provider``; see the module docstring. Returns the exit code."""
    return _AgentRun(handoff, provider).execute()


class _AgentRun:
    def __init__(self, handoff: Handoff, provider: Provider) -> None:
        self.handoff = handoff
        self.provider = provider
        self.session_id = f"{provider.name}-{uuid.uuid4().hex[:16]}"
        self.rate_limits = RateLimitLog(provider.api, on_event=self._rate_limited)
        self.transcript: _Transcript | None = None
        self.result: LoopResult | None = None
        self.model: str | None = None
        self.terminating = False

    # -- the run --------------------------------------------------------------------------

    def execute(self) -> int:
        handlers = self._trap_signals()
        try:
            try:
                setup = self._setup()
            except SetupProblem as e:
                return self._refused(e)
            return self._loop(setup)
        except _Terminated as e:
            return self._terminated(e)
        except Exception as e:
            import traceback

            traceback.print_exc(file=sys.stderr)
            self._write_report(
                result=self.result,
                stop_reason="internal_error",
                error=f"the {self.provider.name} backend failed: {type(e).__name__}: {e}",
            )
            return EXIT_SOFTWARE
        finally:
            for signum, previous in handlers.items():
                signal.signal(signum, previous)
            if self.transcript is not None:
                self.transcript.close()

    def _trap_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.terminating:
            return  # already unwinding: let the report be written
        self.terminating = True
        raise _Terminated(signum)

    def _setup(self) -> _Setup:
        from claude_pm.agents.backends.agent_tools import AgentToolbox, BashTool, grant_tools
        from claude_pm.agents.backends.file_tools import ProjectFiles, ToolLimits
        from claude_pm.errors import InvalidInput
        from claude_pm.llm.client import ModelAPIError, ModelSDKMissing
        from claude_pm.llm.loop import LoopConfig
        from claude_pm.llm.pricing import ModelPrice, price_for

        handoff, provider = self.handoff, self.provider
        agent = handoff.agent
        problems = llm_options.check_options(
            agent.backend_options, provider.options, backend=provider.name
        )
        if problems:
            raise SetupProblem("; ".join(problems))
        options = RunOptions.from_options(agent.backend_options)
        self.model = model = provider.model(handoff, options)
        price = None
        if options.price is not None:
            rates = options.price
            price = ModelPrice(
                float(rates["input"]),
                float(rates["output"]),
                float(rates.get("cache_read", rates["input"])),
                float(rates.get("cache_write", rates["input"])),
            )
        budget = handoff.budget_usd
        if budget is not None and price is None and price_for(model) is None:
            raise SetupProblem(
                f"a dollar budget of ${budget:g} cannot be enforced: no price is known for "
                f"model {model!r}. Give the agent backend_options.price ({{input: ..., "
                "output: ...}} in USD per million tokens; zeros for a local model), or run "
                "it without a budget (budget_usd, the run_budget_usd setting)."
            )
        if not handoff.task.strip():
            raise SetupProblem("the task is empty; say what the agent should do.")
        provider.check_credentials(handoff, options)
        grant = grant_tools(agent.tools, agent.claude_code.get("disallowedTools"))
        limits = ToolLimits()
        root = Path(handoff.project_root)
        files = ProjectFiles(root, limits, check=grant.check_path)
        bash = None
        if "Bash" in grant.tools:
            bash = BashTool(
                files.root,
                Path(handoff.run_dir),
                env=_bash_environment(handoff.run_dir),
                default_timeout_s=options.bash_timeout_s,
                output_cap_bytes=limits.max_output_bytes // 2,
                check=grant.check_command,
            )
        toolbox = AgentToolbox(grant, files, bash, bash_timeout_s=options.bash_timeout_s)
        try:
            config = LoopConfig(
                model=model,
                system_prompt=system_prompt(handoff, grant),
                max_turns=llm_options.max_turns(agent.claude_code),
                max_output_tokens=options.max_output_tokens,
                max_tokens_budget=options.token_budget,
                budget_usd=budget,
                max_parallel_calls=options.max_parallel_tools,
                price=price,
            )
        except InvalidInput as e:
            raise SetupProblem(e.message) from e
        try:
            client = provider.client(handoff, options, self.rate_limits.hook)
        except ModelSDKMissing as e:
            raise SetupProblem(e.message) from e
        except ModelAPIError as e:
            raise SetupProblem(e.message, kind=e.kind.value) from e
        return _Setup(model, grant, toolbox, config, client)

    def _loop(self, setup: _Setup) -> int:
        from claude_pm.llm.loop import run_loop

        handoff = self.handoff
        self.transcript = _Transcript(Path(handoff.run_dir) / TRANSCRIPT_FILENAME)
        grant = setup.grant
        self.transcript.write(
            {
                "kind": "session",
                "at": round(time.time(), 3),
                "session_id": self.session_id,
                "backend": self.provider.name,
                "model": setup.model,
                "agent": handoff.agent.name,
                "tools": list(grant.tools),
                "rules": {t: {"allow": r.allow, "deny": r.deny} for t, r in grant.rules.items()},
                "unsupported_tools": list(grant.unsupported),
                "max_turns": setup.config.max_turns,
                "budget_usd": setup.config.budget_usd,
                "token_budget": setup.config.max_tokens_budget,
            }
        )
        result = run_loop(
            first_message(handoff, grant),
            client=setup.client,
            toolbox=setup.toolbox,
            config=setup.config,
            on_event=self._on_event,
            labels={"run_id": handoff.run_id, "session_id": self.session_id},
        )
        self.result = result
        return self._finished(result)

    # -- endings --------------------------------------------------------------------------

    def _finished(self, result: LoopResult) -> int:
        reason = result.stop_reason.value
        if result.final_text:
            sys.stdout.write(result.final_text.rstrip("\n") + "\n")
            sys.stdout.flush()
        error = error_kind = None
        code = EXIT_OK
        if result.error is not None:
            error_kind = result.error.kind.value
            error = result.error.message
            self.rate_limits.gave_up(error_kind, result.error.retries)
            code = _API_EXITS.get(error_kind, EXIT_API)
        elif reason in _LIMITS:
            error, code = result.message, EXIT_LIMIT
        elif reason != "end_turn":
            error, code = result.message or reason, EXIT_DECLINED
        if error:
            print(f"claude-pm {self.provider.name} backend: {reason}: {error}", file=sys.stderr)
        self._write_report(result=result, stop_reason=reason, error=error, error_kind=error_kind)
        return code

    def _refused(self, problem: SetupProblem) -> int:
        name = self.provider.name
        print(f"claude-pm {name} backend: cannot start: {problem.message}", file=sys.stderr)
        self._write_report(
            stop_reason="configuration_error", error=problem.message, error_kind=problem.kind
        )
        return EXIT_AUTH if problem.kind == "authentication" else EXIT_CONFIG

    def _terminated(self, signal_: _Terminated) -> int:
        name = signal.Signals(signal_.signum).name
        turns = self.result.turns if self.result is not None else None
        after = f" after {turns} turn(s)" if turns else ""
        error = f"terminated by {name}{after} (the run's timeout, or a cancel)"
        print(f"claude-pm {self.provider.name} backend: {error}", file=sys.stderr)
        self._write_report(result=self.result, stop_reason="cancelled", error=error)
        return 128 + signal_.signum

    def _write_report(
        self,
        *,
        stop_reason: str,
        result: LoopResult | None = None,
        error: str | None = None,
        error_kind: str | None = None,
    ) -> None:
        usage: dict[str, int] = {}
        if result is not None:
            usage = {k: v for k, v in result.usage.to_dict().items() if k != "total_tokens"}
        report = BackendReport(
            backend=self.provider.name,
            model=(result.model if result is not None and result.model else self.model),
            usage=usage,
            cost_usd=result.cost_usd if result is not None else None,
            turns=result.turns if result is not None else 0,
            session_id=self.session_id if self.transcript is not None else None,
            stop_reason=stop_reason,
            error=error,
            error_kind=error_kind,
            rate_limits=self.rate_limits.events(),
        )
        try:
            report.write(self.handoff.result_file)
        except OSError as e:
            print(f"claude-pm {self.provider.name} backend: result.json not written: {e}",
                  file=sys.stderr)  # fmt: skip

    # -- callbacks ------------------------------------------------------------------------

    def _on_event(self, event: LoopEvent) -> None:
        if event.result is not None:
            self.result = event.result
        if self.transcript is not None:
            self.transcript.write(event.to_dict())

    def _rate_limited(self, record: Mapping[str, Any]) -> None:
        if self.transcript is not None:
            self.transcript.write({**record, "kind": "rate_limit", "what": record.get("kind")})


def _bash_environment(run_dir: str) -> dict[str, str]:
    """The agent's environment for Bash, without the model providers' credentials."""
    import fnmatch

    from claude_pm.agents.backends import BACKENDS
    from claude_pm.agents.toolchain.running import tool_environment

    hidden = [p for name in ("anthropic", "openai") for p in BACKENDS[name].env]
    env = tool_environment(Path(run_dir))
    return {k: v for k, v in env.items() if not any(fnmatch.fnmatchcase(k, p) for p in hidden)}


def environment_value(*names: str) -> str | None:
    """The first of ``names`` set (non-empty) in this process's environment."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


__all__ = [
    "EXIT_API",
    "EXIT_AUTH",
    "EXIT_CONFIG",
    "EXIT_DECLINED",
    "EXIT_LIMIT",
    "EXIT_OK",
    "EXIT_SOFTWARE",
    "TRANSCRIPT_FILENAME",
    "Provider",
    "SetupProblem",
    "environment_value",
    "run_agent",
]
