"""versioner: the history since the last release, the next version, a changelog draft.

What runs
    git, read-only (``GIT_OPTIONAL_LOCKS=0``: not even the index is
    refreshed): ``rev-parse`` (is this a work tree, is there a commit),
    ``tag --merged HEAD --sort=-v:refname`` (the last tag that is a version,
    ``v1.2.3`` or ``1.2.3``), ``log --no-merges`` since that tag (all of
    history without one), at most ``max_commits`` commits. It never tags,
    commits or pushes.

The next version
    Commit subjects are read as Conventional Commits (``type(scope)!:
    description``, a ``BREAKING CHANGE:`` footer). A breaking change bumps the
    major version (the minor one while it is 0, with ``major_version_zero``),
    ``feat`` the minor, ``fix`` and ``perf`` the patch; other types release
    nothing. Without a version tag this is the first release: the project's
    own version (``[project] version`` in ``pyproject.toml``), else 0.1.0.

Output
    The proposal and its reasons, the commits grouped (breaking, features,
    fixes, performance, other, not conventional) as a changelog draft in the
    report and in ``RUN_DIR/CHANGELOG-draft.md``. A directory that is not a git
    work tree is reported as such (exit 0). Findings: ``TODO`` to bump the
    version in ``pyproject.toml`` when it differs from the proposal, ``FIXME``
    when it is behind the last tag.

Context keys read
    ``release_config`` (a mapping; its option names below override
    ``backend_options``).

Options
    ``max_commits`` (default 1000), ``major_version_zero`` (bool, default
    true), and the common ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report
from claude_pm.agents.toolchain.request import (
    EXIT_OK,
    ToolchainError,
    ToolchainRequest,
    ToolMissing,
)
from claude_pm.agents.toolchain.running import run_tool, tail, tool_environment
from claude_pm.agents.toolchain.walking import git_program

TITLE = "Release report"
CONTEXT_KEYS = ("release_config",)
OPTIONS = (
    Option("max_commits", "int", 1000, "commits read since the last tag at most", minimum=1),
    Option(
        "major_version_zero",
        "bool",
        True,
        "while the major version is 0, a breaking change bumps the minor version",
    ),
)

_VERSION_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_CONVENTIONAL = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^)]*)\))?(?P<bang>!)?: (?P<desc>\S.*)$"
)
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: ", re.MULTILINE)
_PROJECT_VERSION = re.compile(r'^version\s*=\s*"([^"]+)"', re.MULTILINE)
GROUPS = (
    ("breaking", "Breaking changes"),
    ("feat", "Features"),
    ("fix", "Fixes"),
    ("perf", "Performance"),
    ("other", "Other changes"),
    ("unconventional", "Not Conventional Commits"),
)


class GitFailed(ToolchainError):
    """git ran but did not answer."""

    exit_code = 70


@dataclass(frozen=True)
class Commit:
    """One commit as the changelog sees it."""

    sha: str
    group: str
    scope: str
    description: str


def _classify(subject: str, body: str) -> tuple[str, str, str, bool]:
    found = _CONVENTIONAL.match(subject.strip())
    if found is None:
        return "unconventional", "", subject.strip(), False
    kind = found["type"].lower()
    breaking = bool(found["bang"]) or bool(_BREAKING_FOOTER.search(body))
    group = "breaking" if breaking else kind if kind in ("feat", "fix", "perf") else "other"
    return group, found["scope"] or "", found["desc"].strip(), breaking


def next_version(
    base: tuple[int, int, int], groups: set[str], *, major_version_zero: bool
) -> tuple[tuple[int, int, int], str]:
    """The version after ``base`` given the commit groups, and why (``none`` when no release)."""
    major, minor, patch = base
    if "breaking" in groups:
        if major == 0 and major_version_zero:
            return (0, minor + 1, 0), "a breaking change while the major version is 0: minor bump"
        return (major + 1, 0, 0), "a breaking change: major bump"
    if "feat" in groups:
        return (major, minor + 1, 0), "a new feature: minor bump"
    if groups & {"fix", "perf"}:
        return (major, minor, patch + 1), "fixes only: patch bump"
    return base, "none"


def _git(request: ToolchainRequest, opts: Values, *args: str) -> tuple[int | None, str, str]:
    git = git_program()
    if git is None:
        raise ToolMissing("git", "on PATH", "install git, or run this agent where it is on PATH")
    result = run_tool(
        [git, "-C", str(request.project_root), *args],
        cwd=request.run_dir,
        env=tool_environment(request.run_dir),
        timeout_s=opts["tool_timeout_s"],
    )
    if result.timed_out:
        raise GitFailed(f"git {args[0]} did not finish ({result.outcome()})", tool="git")
    return result.returncode, result.stdout, result.stderr


def _project_version(root: Path) -> tuple[str | None, int]:
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None, 1
    section = re.search(r"^\[project\]\s*$", text, re.MULTILINE)
    if section is None:
        return None, 1
    rest = text[section.end() :]
    next_table = re.search(r"^\[", rest, re.MULTILINE)
    body = rest[: next_table.start()] if next_table else rest
    found = _PROJECT_VERSION.search(body)
    if found is None:
        return None, 1
    line = text[: section.end() + found.start()].count("\n") + 1
    return found[1], line


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Read the history, propose the next version, draft the changelog."""
    report.task(request.task)
    report.section("What ran")
    code, out, _ = _git(request, opts, "rev-parse", "--is-inside-work-tree")
    report.ran("git rev-parse --is-inside-work-tree", f"exit {code}")
    if code != 0 or out.strip() != "true":
        report.skipped("history", "the project is not a git repository (no work tree here)")
        report.finish(["version: cannot be proposed without a git history"])
        return EXIT_OK
    code, _, _ = _git(request, opts, "rev-parse", "--verify", "--quiet", "HEAD")
    if code != 0:
        report.skipped("history", "the repository has no commit yet")
        report.finish(["version: nothing committed, nothing to release"])
        return EXIT_OK
    code, out, err = _git(request, opts, "tag", "--merged", "HEAD", "--sort=-v:refname")
    report.ran("git tag --merged HEAD --sort=-v:refname", f"exit {code}")
    if code != 0:
        raise GitFailed(f"git tag failed: {tail(err, lines=2)}", tool="git")
    tag = next((t.strip() for t in out.splitlines() if _VERSION_TAG.match(t.strip())), None)
    limit = int(opts["max_commits"])
    log_args = ["log", "--no-merges", f"--max-count={limit + 1}", "--format=%H%x1f%s%x1f%b%x1e"]
    log_args.append(f"{tag}..HEAD" if tag else "HEAD")
    code, out, err = _git(request, opts, *log_args)
    report.ran(f"git log --no-merges {log_args[-1]}", f"exit {code}")
    if code != 0:
        raise GitFailed(f"git log failed: {tail(err, lines=2)}", tool="git")
    records = [r for r in out.split("\x1e") if r.strip()]
    if len(records) > limit:
        report.skipped("older commits", f"only the latest {limit} are read (option max_commits)")
        records = records[:limit]
    commits, groups = [], set()
    for record in records:
        sha, subject, body = [*record.strip("\n").split("\x1f"), "", ""][:3]
        group, scope, description, _ = _classify(subject, body)
        commits.append(Commit(sha[:7], group, scope, description))
        groups.add(group)
    version, line = _project_version(request.project_root)
    report.section("Proposal")
    proposed = _propose(report, tag, version, groups, opts, len(commits))
    _version_findings(report, tag, version, line, proposed)
    draft = _changelog(proposed or "unreleased", commits)
    (request.run_dir / "CHANGELOG-draft.md").write_text("\n".join(draft) + "\n", encoding="utf-8")
    report.section("Changelog draft")
    report.lines(draft)
    report.line()
    report.line("(also written to $RUN_DIR/CHANGELOG-draft.md)")
    counts = ", ".join(
        f"{g} {sum(c.group == g for c in commits)}" for g, _ in GROUPS if g in groups
    )
    report.finish(
        [
            f"last release tag: {tag or 'none'}",
            f"commits since: {len(commits)}" + (f" ({counts})" if counts else ""),
            f"proposed version: {proposed or 'no release needed'}",
        ]
    )
    return EXIT_OK


def _propose(
    report: Report, tag: str | None, version: str | None, groups: set[str], opts: Values, count: int
) -> str | None:
    if tag is None:
        first = version if version and _VERSION_TAG.match(version) else "0.1.0"
        report.line(
            f"No version tag: this is the first release, {first} (from pyproject.toml)"
            if first == version
            else f"No version tag: this is the first release, {first}."
        )
        return first
    found = _VERSION_TAG.match(tag)
    assert found is not None
    base = (int(found[1]), int(found[2]), int(found[3]))
    bumped, why = next_version(base, groups, major_version_zero=bool(opts["major_version_zero"]))
    if why == "none":
        report.line(f"Last release {tag}; {count} commit(s) since, none that needs a release.")
        return None
    proposed = ".".join(map(str, bumped))
    report.line(f"Last release {tag}; {count} commit(s) since; {why}: {proposed}.")
    return proposed


def _version_findings(
    report: Report, tag: str | None, version: str | None, line: int, proposed: str | None
) -> None:
    if version is None or not _VERSION_TAG.match(version):
        return
    if tag is not None:
        tagged = tuple(int(x) for x in _VERSION_TAG.match(tag).groups())  # type: ignore[union-attr]
        current = tuple(int(x) for x in _VERSION_TAG.match(version).groups())  # type: ignore[union-attr]
        if current < tagged:
            report.finding(
                "FIXME",
                "pyproject.toml",
                line,
                f"version {version} is behind the last release tag {tag}",
            )
            return
    if proposed is not None and proposed != version:
        report.finding(
            "TODO", "pyproject.toml", line, f"bump the version to {proposed} (currently {version})"
        )


def _changelog(version: str, commits: list[Commit]) -> list[str]:
    lines = [f"## {version}", ""]
    if not commits:
        return [*lines, "No changes since the last release."]
    for group, heading in GROUPS:
        entries = [c for c in commits if c.group == group]
        if not entries:
            continue
        lines += [f"### {heading}", ""]
        for commit in entries:
            scope = f"**{commit.scope}:** " if commit.scope else ""
            lines.append(f"- {scope}{commit.description} ({commit.sha})")
        lines.append("")
    return lines[:-1] if lines[-1] == "" else lines
