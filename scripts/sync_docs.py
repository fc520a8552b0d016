"""Keep README.md and docs/*.md true to the code: settings table, included examples.

Two kinds of generated block, each between markers:

* ``<!-- settings-table -->`` ... ``<!-- end settings-table -->``: the table of
  every setting, rendered from ``claude_pm.config.FIELDS`` (name, environment
  variable, type, default, meaning, whether it is a security setting) and the
  CLI's own parser (the flags that set a setting, ``FLAG_SETTINGS``);
* ``<!-- include: examples/PATH -->`` ... ``<!-- end include -->``: a fenced
  block holding the file at PATH (relative to the repository), byte for byte.

``python scripts/sync_docs.py`` rewrites the blocks in place;
``python scripts/sync_docs.py --check`` only says which are stale (exit 1).
``tests/test_docs.py`` runs the same check, so a page cannot drift from the
code or the examples.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: An included block: everything from the marker to the end marker. Rendered, it holds a
#: fence of 3+ backticks with the file's language, the file's text byte for byte, the fence.
INCLUDE = re.compile(r"<!-- include: (?P<path>\S+) -->\n.*?<!-- end include -->", re.DOTALL)
SETTINGS = re.compile(
    r"(?P<open><!-- settings-table -->\n)(?P<body>.*?)(?P<close><!-- end settings-table -->)",
    re.DOTALL,
)
_LANGUAGES = {".md": "markdown", ".py": "python", ".toml": "toml", ".yaml": "yaml"}


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_include(path: str) -> str:
    """The include block of the file at ``path`` (relative to the repository)."""
    text = (ROOT / path).read_text(encoding="utf-8")
    fence = fence_for(text)
    language = _LANGUAGES.get(Path(path).suffix, "")
    return f"<!-- include: {path} -->\n{fence}{language}\n{text}{fence}\n<!-- end include -->"


def _type_of(spec: Any, annotation: str) -> str:
    from enum import Enum

    if isinstance(spec.default, Enum):
        return " \\| ".join(f"`{member.value}`" for member in type(spec.default))
    base = annotation.replace(" | None", "")
    return {
        "Path": "path",
        "tuple[Path, ...]": "list of directories",
        "bool": "boolean",
        "str": "text",
        "float": "number",
        "int": "integer",
    }.get(base, base)


def _default_of(value: Any) -> str:
    from enum import Enum

    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def setting_flags() -> dict[str, list[str]]:
    """Setting name -> the command-line flags that set it, as ``--flag`` (commands)."""
    import argparse as ap

    from claude_pm.cli import build_parser
    from claude_pm.cli.guard import FLAG_SETTINGS

    where: dict[tuple[str, str], list[str]] = {}

    def walk(parser: ap.ArgumentParser, command: str) -> None:
        for action in parser._actions:
            if isinstance(action, ap._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{command} {name}".strip())
            elif action.dest in FLAG_SETTINGS and action.option_strings:
                flag = max(action.option_strings, key=len)
                where.setdefault((FLAG_SETTINGS[action.dest], flag), []).append(command)

    walk(build_parser(), "")
    flags: dict[str, list[str]] = {}
    for (setting, flag), commands in sorted(where.items()):
        # A flag of the top-level parser is global (sub-commands accept it too).
        scope = "" if "" in commands else " (" + ", ".join(f"`{c}`" for c in commands) + ")"
        flags.setdefault(setting, []).append(f"`{flag}`{scope}")
    return flags


def render_settings_table() -> str:
    """The Markdown table of every setting, in the order of ``FIELDS``."""
    from claude_pm.config import FIELDS, Settings

    flags = setting_flags()
    rows = [
        "| setting | environment | type | default | flag | security | meaning |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for spec in FIELDS:
        annotation = Settings.__annotations__[spec.name]
        cells = (
            f"`{spec.name}`",
            f"`{spec.env}`" if spec.env else "",
            _type_of(spec, annotation),
            _default_of(spec.default),
            ", ".join(flags.get(spec.name, [])),
            "yes" if spec.security else "",
            spec.doc.replace("|", "\\|"),
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def synced(text: str) -> str:
    """``text`` with every generated block rendered afresh."""
    text = INCLUDE.sub(lambda m: render_include(m["path"]), text)
    return SETTINGS.sub(lambda m: m["open"] + render_settings_table() + m["close"], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale pages (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        fresh = synced(text)
        if fresh != text:
            stale.append(page.relative_to(ROOT))
            if not args.check:
                page.write_text(fresh, encoding="utf-8")
    for page in stale:
        print(f"{page}: {'stale' if args.check else 'rewritten'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
