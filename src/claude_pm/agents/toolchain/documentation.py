"""documentation: public modules, classes and functions without docstrings; README sections.

What runs
    Our own check, no external tool: each public Python module is parsed with
    ``ast`` (nothing is imported or executed). Public means: under ``src/``
    when the project has one, else anywhere except tests, ``docs/``,
    ``examples/``, ``scripts/``, ``benchmarks/`` and ``setup.py``-style
    files; and no path component starting with ``_`` (``__init__.py`` is the
    package's own module). The README (``README.md``, ``.rst``, ``.txt`` or
    bare) is checked for an install section and a usage section by its
    headings.

Findings
    ``TODO`` for each public module (line 1; an empty ``__init__.py`` is
    exempt), class, function and method of a public class (dunder methods
    and ``@overload`` stubs exempt) that has no docstring, and for a missing
    README or README section.

API reference
    With ``api_reference: true`` the public surface (signatures and the first
    paragraph of each docstring) is written in Markdown to
    ``RUN_DIR/api-reference.md``; with ``api_reference_path`` (a path
    relative to the project, inside it) it is written there instead. That is
    the only time this agent writes in the project.

Context keys read
    ``file_paths`` (restrict the docstring check to these files or folders)
    and ``doc_config`` (a mapping; its option names below override
    ``backend_options``).

Options
    ``check_readme`` (bool, default true), ``api_reference`` (bool, default
    false), ``api_reference_path`` (string), and the common ones.

Limits
    ``max_files`` modules parsed at most, each at most ``max_file_bytes``;
    what is left out is reported as skipped.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report
from claude_pm.agents.toolchain.request import EXIT_OK, BadOptions, ToolchainRequest
from claude_pm.agents.toolchain.walking import (
    is_test_file,
    project_files,
    read_text,
    relative_paths,
)

TITLE = "Documentation report"
CONTEXT_KEYS = ("file_paths", "doc_config")
OPTIONS = (
    Option("check_readme", "bool", True, "check the README for install and usage sections"),
    Option(
        "api_reference",
        "bool",
        False,
        "write an API reference in Markdown to RUN_DIR/api-reference.md",
    ),
    Option(
        "api_reference_path",
        "str",
        None,
        "write the API reference to this path inside the project instead (relative)",
    ),
)

NON_PUBLIC_DIRS = frozenset({"docs", "doc", "examples", "example", "scripts", "benchmarks"})
NON_PUBLIC_FILES = frozenset({"setup.py", "conftest.py", "noxfile.py", "fabfile.py", "manage.py"})
READMES = ("README.md", "README.rst", "README.txt", "README", "readme.md", "Readme.md")
SECTIONS = {
    "install": re.compile(r"\b(install\w*|set ?up|getting started|quick ?start)\b", re.I),
    "usage": re.compile(r"\b(usage|how to use|examples?|quick ?start|getting started|use)\b", re.I),
}
_UNDERLINE = re.compile(r"^([=\-~^*+#])\1{2,}\s*$")


def option_problems(options: Mapping[str, Any]) -> list[str]:
    """``api_reference_path`` must be a relative path that stays inside the project."""
    path = options.get("api_reference_path")
    if isinstance(path, str):
        pure = PurePosixPath(path.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            return [
                "option 'api_reference_path' must be a path relative to the project root, "
                f"inside it (got {path!r})"
            ]
    return []


def _is_public(rel: str, has_src: bool) -> bool:
    if not rel.endswith(".py"):
        return False
    parts = rel.split("/")
    if has_src and parts[0] != "src":
        return False
    if not has_src and (parts[0] in NON_PUBLIC_DIRS or is_test_file(rel)):
        return False
    if parts[-1] in NON_PUBLIC_FILES or parts[-1] == "__main__.py":
        return False
    return not any(part.startswith("_") and part != "__init__.py" for part in parts)


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or rel


def _is_overload(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in node.decorator_list:
        name = (
            decorator.attr if isinstance(decorator, ast.Attribute) else getattr(decorator, "id", "")
        )
        if name == "overload":
            return True
    return False


def _public_defs(tree: ast.Module) -> Iterator[tuple[str, str, ast.AST]]:
    """(kind, qualified name, node) for the module's public classes, functions and methods."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not node.name.startswith("_") and not _is_overload(node):
                yield "function", node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield "class", node.name, node
            for item in node.body:
                if (
                    isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and not item.name.startswith("_")
                    and not _is_overload(item)
                ):
                    yield "method", f"{node.name}.{item.name}", item


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Check docstrings and the README; write the API reference when asked."""
    root = request.project_root
    report.task(request.task)
    focus, refused = relative_paths(root, request.context.get("file_paths"))
    for path in refused:
        report.skipped(f"file_paths entry {path!r}", "not found inside the project")
    has_src = (root / "src").is_dir()
    files = project_files(
        root,
        request.run_dir,
        want=lambda rel: _is_public(rel, has_src),
        max_files=opts["max_files"],
        max_file_bytes=opts["max_file_bytes"],
        only=focus or None,
    )
    report.section("What ran")
    where = "src/" if has_src else "the project (tests, docs, examples and scripts excluded)"
    report.ran(f"docstring check (ast) on {len(files.files)} public module(s) in {where}", "done")
    for note in files.skipped_notes(opts["max_files"], opts["max_file_bytes"]):
        report.skipped("docstring check", note)
    want_reference = bool(opts["api_reference"]) or opts.given("api_reference_path")
    # Only the reference's own text is kept per module, never the trees.
    sections: list[tuple[str, list[str]]] = []
    parsed = missing = 0
    for file in files.files:
        text = read_text(file)
        if text is None:
            report.skipped(file.rel, "not text")
            continue
        try:
            tree = ast.parse(text, filename=file.rel)
        except (SyntaxError, ValueError) as e:
            report.skipped(
                file.rel, f"does not parse ({getattr(e, 'msg', e)}); engineer reports it"
            )
            continue
        parsed += 1
        missing += _check_module(report, file.rel, tree)
        if want_reference:
            sections.append((_module_name(file.rel), _api_section(file.rel, tree)))
    readme_note = _check_readme(root, report) if opts["check_readme"] else None
    if not opts["check_readme"]:
        report.skipped("README check", "turned off by the check_readme option")
    if want_reference:
        _write_api_reference(request, report, opts, sections)
    summary = [f"docstrings: {missing} missing in {parsed} module(s)"]
    if readme_note:
        summary.append(readme_note)
    report.finish(summary)
    return EXIT_OK


def _check_module(report: Report, rel: str, tree: ast.Module) -> int:
    missing = 0
    is_empty_init = rel.endswith("__init__.py") and not tree.body
    if ast.get_docstring(tree) is None and not is_empty_init:
        report.finding("TODO", rel, 1, "public module has no docstring")
        missing += 1
    for kind, name, node in _public_defs(tree):
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if ast.get_docstring(node) is None:
            line = node.lineno
            report.finding("TODO", rel, line, f"public {kind} `{name}` has no docstring")
            missing += 1
    return missing


def _headings(text: str) -> list[str]:
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#") and not _UNDERLINE.match(stripped):
            found.append(stripped.lstrip("#").strip())
        elif stripped and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1].strip()):
            found.append(stripped)
    return found


def _check_readme(root: Path, report: Report) -> str:
    readme = next((name for name in READMES if (root / name).is_file()), None)
    if readme is None:
        report.finding(
            "TODO",
            "README.md",
            1,
            "the project has no README; add one with install and usage sections",
        )
        return "README: missing"
    try:
        text = (root / readme).read_text(encoding="utf-8", errors="replace")[:1_000_000]
    except OSError:
        report.skipped(readme, "cannot be read")
        return "README: unreadable"
    headings = _headings(text)
    report.ran(f"README check on {readme} ({len(headings)} heading(s))", "done")
    absent = [
        name for name, pattern in SECTIONS.items() if not any(pattern.search(h) for h in headings)
    ]
    for name in absent:
        report.finding("TODO", readme, 1, f"README has no {name} section")
    return "README: " + (
        f"missing {', '.join(absent)}" if absent else "install and usage sections present"
    )


def _first_paragraph(node: ast.AST) -> str:
    doc = ast.get_docstring(node)  # type: ignore[arg-type]
    return doc.strip().split("\n\n")[0].strip() if doc else "(undocumented)"


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    prefix = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
    return f"{prefix}{node.name}({ast.unparse(node.args)}){returns}"


def _api_section(rel: str, tree: ast.Module) -> list[str]:
    """The API reference's Markdown for one module: signatures and first paragraphs."""
    lines = [f"## `{_module_name(rel)}`", "", _first_paragraph(tree), ""]
    for kind, name, node in _public_defs(tree):
        if isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            title = f"class {name}({bases})" if bases else f"class {name}"
        else:
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            title = _signature(node).replace(node.name, name, 1)
        level = "####" if kind == "method" else "###"
        lines += [f"{level} `{title}`", "", _first_paragraph(node), ""]
    return lines


def _write_api_reference(
    request: ToolchainRequest,
    report: Report,
    opts: Values,
    sections: list[tuple[str, list[str]]],
) -> None:
    if opts.given("api_reference_path"):
        target = (request.project_root / opts["api_reference_path"]).resolve()
        if not target.is_relative_to(request.project_root.resolve()):
            raise BadOptions("documentation", ["option 'api_reference_path' leaves the project"])
        shown = target.relative_to(request.project_root.resolve()).as_posix()
    else:
        target = request.run_dir / "api-reference.md"
        shown = "$RUN_DIR/api-reference.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        handle.write("# API reference\n\n")
        for _, lines in sorted(sections, key=lambda section: section[0]):
            handle.write("\n".join(lines) + "\n")
    report.ran(f"API reference for {len(sections)} module(s) written to {shown}", "done")
