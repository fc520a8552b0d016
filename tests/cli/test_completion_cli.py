"""``claude-pm completion``: scripts generated from the parser that the shells load."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


def _script(shell: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "claude_pm", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


def _bash_complete(script: str, line: str) -> list[str]:
    words = line.split(" ")
    program = (
        f"source /dev/stdin; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
        f"COMP_LINE='{line}'; COMP_POINT={len(line)}; _shtab_claude_pm; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(
        ["bash", "-c", program], input=script, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_loads_the_script_and_completes_commands_actions_and_flags() -> None:
    script = _script("bash")
    assert {"run", "runs"} <= set(_bash_complete(script, "claude-pm ru"))
    assert {"list", "show", "update", "extract", "export", "push"} <= set(
        _bash_complete(script, "claude-pm tickets ")
    )
    assert "--json" in _bash_complete(script, "claude-pm doctor --")
    check = subprocess.run(
        ["bash", "-c", "source /dev/stdin; complete -p claude-pm"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "_shtab_claude_pm" in check.stdout


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command(shell: str) -> None:
    from claude_pm.cli import COMMAND_MODULES

    script = _script(shell)
    for command in COMMAND_MODULES:
        assert command in script, command
