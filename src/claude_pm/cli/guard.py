"""The one guard every sub-command runs under: settings from the flags, errors to exit codes.

Exit codes: 0 done; 1 the operation failed (an unknown ticket or run, a
database or API error); 2 bad input (a flag value, a missing file or project,
an unreadable setting). A command may return other codes of its own (``pm``'s
3 for a limit), documented in its ``--help``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from claude_pm.cli.output import error

if TYPE_CHECKING:
    from claude_pm.config import Settings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
#: What a shell reports for a command killed by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141

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


def with_settings(body: Callable[[argparse.Namespace, Settings], int]) -> Command:
    """Load settings (flags of :data:`FLAG_SETTINGS` first), run ``body``, report its errors.

    ``InvalidInput`` (and ``ContextError``) exit 2, any other ``ClaudePMError``
    or ``OSError`` exits 1; each is printed as one ``claude-pm: error:`` line.
    """

    @functools.wraps(body)
    def guarded(args: argparse.Namespace) -> int:
        from claude_pm.config import load_settings
        from claude_pm.errors import ClaudePMError, InvalidInput

        try:
            flags = {
                setting: getattr(args, dest)
                for dest, setting in FLAG_SETTINGS.items()
                if getattr(args, dest, None) is not None
            }
            settings = load_settings(**flags)
            return body(args, settings)
        except InvalidInput as e:
            error(e.message)
            return EXIT_BAD_INPUT
        except ClaudePMError as e:
            error(e.message)
            return EXIT_FAILED
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as a shell tool does.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return EXIT_BROKEN_PIPE
        except OSError as e:
            error(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
            return EXIT_FAILED

    return guarded
