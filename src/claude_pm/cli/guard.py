"""The one guard every sub-command runs under: settings from the flags, errors to exit codes.

One exit-code table for every command (README, "Exit codes")::

    0    done
    1    failed: an agent, run or workflow did not complete, a check found
         problems, or the operation failed (an unknown run, ticket, agent or
         workflow; a database, API or file error)
    2    bad input: a flag value, a missing file or project, an unreadable setting
    3    stopped by a limit: a turn, token or dollar budget (pm, or run of an LLM agent)
    130  interrupted (Ctrl-C); 128 + N for another signal N (SIGTERM 143)
    141  broken pipe: the reader went away (``| head``)

An error is one ``claude-pm: error: ...`` line on stderr; under ``--json``
(or ``--format json``) it is also one JSON document on stdout::

    {"error": {"kind": "bad_input", "type": "InvalidInput", "message": "...",
               "exit_code": 2, "problems": [...]}}

``kind`` is the row of the table (``failed``, ``bad_input``, ``limit``,
``interrupted``, ``usage`` for a command line argparse refused); ``type`` is
the error's class; ``problems`` is there when there are several.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from claude_pm.cli.output import error, wants_json

if TYPE_CHECKING:
    from claude_pm.config import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
#: A turn, token or dollar budget stopped the run.
EXIT_LIMIT = 3
#: Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: What a shell reports for a command killed by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141

#: Exit code -> the ``kind`` of a JSON error.
ERROR_KINDS: dict[int, str] = {
    EXIT_FAILED: "failed",
    EXIT_BAD_INPUT: "bad_input",
    EXIT_LIMIT: "limit",
    EXIT_INTERRUPTED: "interrupted",
}

#: The line every ``--help`` ends with.
EXIT_CODES_HELP = (
    "exit codes (the README's Exit codes):\n"
    "  0 ok, 1 failed, 2 bad input, 3 stopped by a limit, 130 interrupted, 141 broken pipe"
)

#: Command-line flags (argparse ``dest``) that set a setting, and which one.
FLAG_SETTINGS: dict[str, str] = {
    "project": "project_root",
    "backend": "default_backend",
    "budget_usd": "run_budget_usd",
    "workflow_budget_usd": "workflow_budget_usd",
    "executor": "executor",
    "address": "ray_address",
}

Command = Callable[[argparse.Namespace], int]


class CommandFailed(Exception):
    """A command's own failure: the guard prints it and exits with ``exit_code``.

    ``problems`` lists several (each on its own stderr line); ``type_name`` is
    the ``type`` of the JSON error (the class of the error it stands for).
    """

    def __init__(
        self,
        message: str,
        exit_code: int = EXIT_FAILED,
        *,
        problems: Sequence[str] = (),
        type_name: str | None = None,
        printed: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.problems = tuple(problems)
        self.type_name = type_name
        #: The command already printed its document (a cancelled workflow's result):
        #: only the stderr line is added, never a second JSON document.
        self.printed = printed


def report_error(
    as_json: bool,
    message: str,
    exit_code: int,
    *,
    type_name: str | None = None,
    problems: Sequence[str] = (),
    kind: str | None = None,
) -> int:
    """Say what failed (stderr, and stdout as JSON when asked); returns ``exit_code``."""
    error(message)
    if len(problems) > 1:
        for problem in problems:
            sys.stderr.write(f"  - {problem}\n")
    if as_json:
        if kind is None:
            kind = ERROR_KINDS.get(exit_code, "interrupted" if exit_code > 128 else "failed")
        document: dict[str, Any] = {
            "kind": kind,
            "type": type_name,
            "message": message,
            "exit_code": exit_code,
        }
        if problems:
            document["problems"] = list(problems)
        sys.stdout.write(json.dumps({"error": document}, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return exit_code


def exit_code_of(error_type: str | None) -> int:
    """The exit code of a claude-pm error by its class name (a tool result's ``error_type``)."""
    from claude_pm import errors

    cls = getattr(errors, error_type or "", None)
    if isinstance(cls, type) and issubclass(cls, errors.InvalidInput):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def _silence_stdout() -> None:
    # The reader went away (`| head`): stop quietly, as a shell tool does.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def guarded(func: Command, args: argparse.Namespace) -> int:
    """Run ``func(args)`` and turn what escapes it into the table's exit codes."""
    from claude_pm.errors import ClaudePMError, InvalidInput, WorkflowInvalid

    as_json = wants_json(args)
    try:
        return func(args)
    except CommandFailed as e:
        return report_error(
            as_json and not e.printed,
            e.message,
            e.exit_code,
            type_name=e.type_name,
            problems=e.problems,
        )
    except ClaudePMError as e:
        code = EXIT_BAD_INPUT if isinstance(e, InvalidInput) else EXIT_FAILED
        problems = list(e.problems) if isinstance(e, WorkflowInvalid) else []
        return report_error(as_json, e.message, code, type_name=type(e).__name__, problems=problems)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return report_error(as_json, "interrupted", EXIT_INTERRUPTED, type_name="KeyboardInterrupt")
    except SystemExit as e:
        # SIGTERM/SIGHUP become SystemExit(128 + n) (claude_pm.process.install_signal_handlers).
        if isinstance(e.code, int) and e.code > 128:
            report_error(as_json, "interrupted by a signal", e.code, type_name="SystemExit")
        raise
    except OSError as e:
        message = f"{e.strerror or e}: {e.filename}" if e.filename else str(e)
        return report_error(as_json, message, EXIT_FAILED, type_name=type(e).__name__)


def with_settings(body: Callable[[argparse.Namespace, Settings], int]) -> Command:
    """Load settings (flags of :data:`FLAG_SETTINGS` first), run ``body``, report its errors.

    ``InvalidInput`` (and ``ContextError``) exit 2, any other ``ClaudePMError``
    or ``OSError`` exits 1, :class:`CommandFailed` its own code; each is one
    ``claude-pm: error:`` line, and a JSON document under ``--json`` (see
    :func:`guarded`).
    """

    def load_and_run(args: argparse.Namespace) -> int:
        from claude_pm.config import load_settings

        flags = {
            setting: getattr(args, dest)
            for dest, setting in FLAG_SETTINGS.items()
            if getattr(args, dest, None) is not None
        }
        return body(args, load_settings(**flags))

    @functools.wraps(body)
    def command(args: argparse.Namespace) -> int:
        return guarded(load_and_run, args)

    return command
