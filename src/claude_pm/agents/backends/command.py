"""The ``command`` backend: run the program the agent definition names.

``backend_options``::

    command: ["{python}", "scripts/lint.py", "--json"]   # argv; required
    stdin: task        # task (default): the task text on standard input; none: closed
    cwd: project       # project (default) or run (the run's own directory)

Placeholders in arguments: ``{python}`` (the interpreter running claude-pm),
``{project_root}``, ``{run_dir}``, ``{context_file}`` (the hand-off JSON),
``{task_file}``, ``{result_file}`` (where the program may write a
``result.json`` report, see :class:`~claude_pm.agents.handoff.BackendReport`).
The task text itself never goes in argv (it may be larger than the kernel
accepts); programs read it from stdin, the task file, or the hand-off file
named by ``CLAUDE_PM_CONTEXT_FILE``.

The executor ``exec``s the program, so the supervised process is the program
itself: its exit code, memory and output are the agent's.
"""

from __future__ import annotations

import os
import shutil
import string
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.agents.handoff import Handoff

STDIN_MODES = ("task", "none")
CWD_MODES = ("project", "run")
PLACEHOLDERS = ("python", "project_root", "run_dir", "context_file", "task_file", "result_file")

EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


def check_options(options: Mapping[str, Any], *, agent_type: str = "") -> list[str]:
    """Problems with a definition's ``backend_options`` (empty when fine): the only check."""
    problems = []
    command = options.get("command")
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    if not isinstance(command, list) or not command:
        problems.append(
            "the command backend needs backend_options.command: [program, args...] "
            "(a non-empty list of strings)"
        )
    elif not all(isinstance(part, str) for part in command):
        problems.append("backend_options.command items must be strings (quote numbers)")
    else:
        for arg in command:
            try:
                names = [f for _, f, _, _ in string.Formatter().parse(arg) if f is not None]
            except ValueError as e:
                problems.append(f"bad placeholder in {arg!r} ({e}); placeholders: {allowed}")
                continue
            problems.extend(
                f"unknown placeholder {{{name}}} in {arg!r}; placeholders: {allowed}"
                for name in names
                if name not in PLACEHOLDERS
            )
    if options.get("stdin", "task") not in STDIN_MODES:
        problems.append(f"backend_options.stdin must be one of {', '.join(STDIN_MODES)}")
    if options.get("cwd", "project") not in CWD_MODES:
        problems.append(f"backend_options.cwd must be one of {', '.join(CWD_MODES)}")
    return problems


def build_argv(options: Mapping[str, Any], placeholders: Mapping[str, str]) -> list[str]:
    """The program's argv with placeholders filled in."""
    argv = []
    for part in options["command"]:
        text = str(part)
        for key, value in placeholders.items():
            text = text.replace("{" + key + "}", value)
        argv.append(text)
    return argv


def run(handoff: Handoff) -> int:
    """Replace this process with the agent's program; returns only if that fails."""
    options = handoff.agent.backend_options
    placeholders = {
        "python": sys.executable,
        "project_root": handoff.project_root,
        "run_dir": handoff.run_dir,
        "context_file": handoff.handoff_path,
        "task_file": handoff.task_file,
        "result_file": handoff.result_file,
    }
    argv = build_argv(options, placeholders)
    program = argv[0]
    resolved = program if os.sep in program else shutil.which(program)
    if resolved is None or not os.path.exists(resolved):  # noqa: PTH110 - no pathlib cost
        print(
            f"claude-pm command backend: program {program!r} not found "
            f"(PATH={os.environ.get('PATH', '')!r}); fix backend_options.command "
            "or the agent's env/PATH",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    # A relative program was found from the project root (the executor's cwd):
    # keep naming that file after moving to the run's directory.
    resolved = os.path.abspath(resolved)  # noqa: PTH100 - a str for execv
    run_in_project = options.get("cwd", "project") == "project"
    os.chdir(handoff.project_root if run_in_project else handoff.run_dir)
    if options.get("stdin", "task") == "task":
        fd = os.open(handoff.task_file, os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(resolved, argv)
    except OSError as e:
        print(f"claude-pm command backend: cannot run {resolved!r}: {e}", file=sys.stderr)
        return EXIT_NOT_EXECUTABLE
    return EXIT_NOT_EXECUTABLE  # pragma: no cover - execv does not return
