"""ops: CI, dependency bounds, lock files, committed secrets files, Dockerfile basics.

What runs
    Our own checks over the project's files (no tool to wrap: hadolint and
    actionlint are not Python packages); nothing is executed.

    ==================  ==================================================  ==============
    check               finding                                             marker
    ==================  ==================================================  ==============
    CI                  no GitHub Actions workflow, ``.gitlab-ci.yml``,      TODO(medium)
                        CircleCI, Azure Pipelines, Jenkins, Travis,
                        Bitbucket, Drone, Woodpecker or Buildkite file
    dependency bounds   a requirement with no version specifier in           BUG(medium)
                        ``pyproject.toml`` (PEP 621 and Poetry tables),
                        ``requirements*.txt`` or ``package.json`` (in
                        ``requirements*.in`` only when nothing is locked)
    lock file           dependencies declared but no ``uv.lock``,            TODO(medium)
                        ``poetry.lock``, ``pdm.lock``, ``Pipfile.lock``,
                        ``pylock*.toml``, fully pinned requirements file or
                        npm/yarn/pnpm lock
    secrets files       a ``.env`` file (not ``.example``/``.sample``/       SECURITY(high)
                        ``.template``), private key or keystore,
                        ``.pypirc`` or ``.netrc`` that is committed (or, in
                        a git work tree, not ignored)
    Dockerfile          a base image with no tag or ``latest``               BUG(medium)
                        the final stage runs as root (no ``USER``, or        SECURITY(medium)
                        ``USER root``/``0``)
                        a secret-like ``ENV``/``ARG`` given a value          SECURITY(high)
                        an ``EXPOSE``d port without ``HEALTHCHECK``         TODO(low)
                        no ``.dockerignore`` beside it                       TODO(low)
    ==================  ==================================================  ==============

    A finding about a missing file names the path where it would go
    (``.github/workflows/ci.yml``, ``.dockerignore``) at line 1.

Context keys read
    ``deployment_config`` (a mapping; reserved for options, none yet). The
    whole project is checked: these are project-level facts.

Limits
    ``max_files`` files listed at most; only manifests, Dockerfiles and CI
    files are read, each at most ``max_file_bytes``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report
from claude_pm.agents.toolchain.request import EXIT_OK, ToolchainRequest
from claude_pm.agents.toolchain.walking import ProjectFile, project_files, read_text

TITLE = "Operations report"
CONTEXT_KEYS = ("deployment_config",)
OPTIONS: tuple[Option, ...] = ()

CI_FILES = (
    ".gitlab-ci.yml",
    ".circleci/config.yml",
    "azure-pipelines.yml",
    "Jenkinsfile",
    ".travis.yml",
    "bitbucket-pipelines.yml",
    ".drone.yml",
    ".woodpecker.yml",
    ".buildkite/pipeline.yml",
)
LOCK_FILES = ("uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock", "pylock.toml")
NPM_LOCKS = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")
SAFE_ENV_SUFFIXES = (".example", ".sample", ".template", ".dist", ".defaults", ".tmpl")
KEY_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".ppk")
KEY_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".pypirc", ".netrc", ".pgpass")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_UNBOUNDED = "dependency `{name}` has no version bound; a new release can break installs"
_ASSIGNED = re.compile(r"(?:^|\s)([A-Za-z_]\w*)=(?![$\s]|$)")
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY)", re.I)


def _is_dockerfile(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return (
        name in ("Dockerfile", "Containerfile")
        or name.startswith("Dockerfile.")
        or name.endswith(".Dockerfile")
    )


def _is_secrets_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    if name == ".env" or (name.startswith(".env.") and not name.endswith(SAFE_ENV_SUFFIXES)):
        return True
    return name in KEY_NAMES or name.endswith(KEY_SUFFIXES)


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Run the checks over the project's files."""
    root = request.project_root
    report.task(request.task)
    listing = project_files(
        root,
        request.run_dir,
        want=lambda rel: True,
        max_files=opts["max_files"],
        max_file_bytes=opts["max_file_bytes"],
    )
    report.section("What ran")
    report.line(f"- files: {len(listing.files)} listed ({listing.source})")
    for note in listing.skipped_notes(opts["max_files"], opts["max_file_bytes"]):
        report.skipped("file listing", note)
    by_rel = {f.rel: f for f in listing.files}
    summary = [
        _check_ci(report, by_rel),
        _check_dependencies(report, by_rel),
        _check_secrets_files(report, listing.files),
        _check_dockerfiles(report, by_rel),
    ]
    report.finish(summary)
    return EXIT_OK


def _check_ci(report: Report, files: dict[str, ProjectFile]) -> str:
    found = [
        rel
        for rel in files
        if rel.startswith(".github/workflows/") and rel.endswith((".yml", ".yaml"))
    ]
    found += [rel for rel in CI_FILES if rel in files]
    report.ran("CI configuration check", f"{len(found)} file(s)" if found else "none found")
    if not found:
        report.finding(
            "TODO",
            ".github/workflows/ci.yml",
            1,
            "no CI configuration; add a pipeline that runs the tests and linters",
            priority="medium",
        )
        return "CI: none"
    return "CI: " + ", ".join(found[:5])


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


def _unbounded(requirement: str) -> str | None:
    """The name of a PEP 508 requirement that has no version bound, else None."""
    text = requirement.split(";", 1)[0].strip()
    if not text or text.startswith(("-", ".", "/", "git+", "http:", "https:", "file:")):
        return None
    found = _REQUIREMENT.match(text)
    if found is None or "@" in found[3]:
        return None
    return found[1] if not re.search(r"[<>=!~]", found[3]) else None


def _check_dependencies(report: Report, files: dict[str, ProjectFile]) -> str:
    declared = 0
    pinned_requirements = False
    if "pyproject.toml" in files:
        declared += _pyproject_dependencies(report, files["pyproject.toml"])
    inputs: list[tuple[str, int, str]] = []  # requirements*.in: pip-compile's inputs
    for rel, file in sorted(files.items()):
        name = rel.rsplit("/", 1)[-1]
        if not (name.startswith("requirements") and name.endswith((".txt", ".in"))):
            continue
        text = read_text(file) or ""
        requirements = [
            (number, line.split("#", 1)[0].strip())
            for number, line in enumerate(text.splitlines(), start=1)
            if line.split("#", 1)[0].strip() and not line.lstrip().startswith("-")
        ]
        declared += len(requirements)
        if requirements and all("==" in req for _, req in requirements) and name.endswith(".txt"):
            pinned_requirements = True
            continue
        for number, requirement in requirements:
            unbound = _unbounded(requirement)
            if unbound and name.endswith(".in"):
                inputs.append((rel, number, unbound))
            elif unbound:
                report.finding(
                    "BUG",
                    rel,
                    number,
                    _UNBOUNDED.format(name=unbound),
                    priority="medium",
                )
    npm = _package_json(report, files.get("package.json"))
    report.ran("dependency bounds check", f"{declared + npm} requirement(s)")
    locks = [
        rel
        for rel in files
        if rel.rsplit("/", 1)[-1] in LOCK_FILES or re.fullmatch(r"pylock\.[\w.-]+\.toml", rel)
    ]
    if pinned_requirements:
        locks.append("a fully pinned requirements file")
    for rel, number, unbound in inputs if not locks else []:
        # An unbounded input is fine when pip-compile's pinned output is committed.
        report.finding("BUG", rel, number, _UNBOUNDED.format(name=unbound), priority="medium")
    if declared and not locks:
        manifest = "pyproject.toml" if "pyproject.toml" in files else "requirements.txt"
        report.finding(
            "TODO",
            manifest,
            1,
            "no lock file; installs are not reproducible "
            "(commit uv.lock, poetry.lock or pylock.toml)",
            priority="medium",
        )
    if npm and not any(rel in files for rel in NPM_LOCKS):
        report.finding(
            "TODO",
            "package.json",
            1,
            "no npm, yarn or pnpm lock file; installs are not reproducible",
            priority="medium",
        )
    report.ran("lock file check", ", ".join(locks) if locks else "none found")
    if not declared and not npm:
        return "dependencies: none declared"
    return f"dependencies: {declared + npm} declared; lock: {', '.join(locks) or 'none'}"


def _pyproject_dependencies(report: Report, file: ProjectFile) -> int:
    import tomllib

    text = read_text(file) or ""
    try:
        data = tomllib.loads(text)
    except ValueError as e:
        report.finding("BUG", file.rel, 1, f"pyproject.toml does not parse: {e}", priority="medium")
        return 0
    project: dict[str, Any] = (
        data.get("project", {}) if isinstance(data.get("project"), dict) else {}
    )
    requirements: list[str] = [r for r in project.get("dependencies", []) if isinstance(r, str)]
    for group in (project.get("optional-dependencies") or {}).values():
        requirements += [r for r in group if isinstance(r, str)]
    for group in (data.get("dependency-groups") or {}).values():
        requirements += [r for r in group if isinstance(r, str)]
    for requirement in requirements:
        unbound = _unbounded(requirement)
        if unbound:
            report.finding(
                "BUG",
                file.rel,
                _line_of(text, f'"{requirement}"'),
                _UNBOUNDED.format(name=unbound),
                priority="medium",
            )
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    count = len(requirements)
    if isinstance(poetry, dict):
        for name, spec in poetry.items():
            if name == "python":
                continue
            count += 1
            version = spec.get("version") if isinstance(spec, dict) else spec
            if version in ("*", "", None) and not (
                isinstance(spec, dict) and ("git" in spec or "path" in spec)
            ):
                report.finding(
                    "BUG",
                    file.rel,
                    _line_of(text, name),
                    _UNBOUNDED.format(name=name),
                    priority="medium",
                )
    return count


def _package_json(report: Report, file: ProjectFile | None) -> int:
    if file is None:
        return 0
    text = read_text(file) or ""
    try:
        data = json.loads(text)
    except ValueError:
        report.finding("BUG", file.rel, 1, "package.json is not valid JSON", priority="medium")
        return 0
    count = 0
    for section in ("dependencies", "devDependencies"):
        for name, version in (data.get(section) or {}).items():
            count += 1
            if str(version).strip() in ("*", "", "latest", "x"):
                report.finding(
                    "BUG",
                    file.rel,
                    _line_of(text, f'"{name}"'),
                    _UNBOUNDED.format(name=name),
                    priority="medium",
                )
    return count


def _check_secrets_files(report: Report, files: list[ProjectFile]) -> str:
    found = [f.rel for f in files if _is_secrets_file(f.rel)]
    report.ran("committed secrets files check", f"{len(found)} found")
    for rel in found:
        report.finding(
            "SECURITY",
            rel,
            1,
            "a secrets file (environment, key or credentials) is in the repository; remove it, "
            "ignore it in .gitignore and rotate what it holds",
            priority="high",
        )
    return f"secrets files: {len(found)}"


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    out: list[tuple[int, str, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        joined = " ".join(p for p in pending if not p.startswith("#"))
        pending = []
        word, _, rest = joined.partition(" ")
        out.append((start, word.upper(), rest.strip()))
    return out


def _check_dockerfiles(report: Report, files: dict[str, ProjectFile]) -> str:
    dockerfiles = sorted(rel for rel in files if _is_dockerfile(rel))
    report.ran("Dockerfile check", f"{len(dockerfiles)} file(s)")
    for rel in dockerfiles:
        _check_dockerfile(report, rel, read_text(files[rel]) or "", files)
    return f"Dockerfiles: {len(dockerfiles)}"


def _assigned_names(word: str, args: str) -> list[str]:
    """Variables an ENV or ARG instruction gives a literal value (not ``$OTHER``)."""
    names = _ASSIGNED.findall(args)
    if not names and word == "ENV":
        legacy = args.split(None, 1)  # ENV NAME value
        if len(legacy) == 2 and "=" not in legacy[0] and not legacy[1].startswith("$"):
            names = [legacy[0]]
    return names


def _check_dockerfile(report: Report, rel: str, text: str, files: dict[str, ProjectFile]) -> None:
    stages: set[str] = set()
    final_from = 1
    user: tuple[int, str] | None = None
    exposes = healthcheck = False
    for line, word, args in _instructions(text):
        if word == "FROM":
            parts = [p for p in args.split() if not p.startswith("--")]
            image = parts[0] if parts else ""
            if len(parts) >= 3 and parts[1].lower() == "as":
                stages.add(parts[2].lower())
            final_from, user, exposes, healthcheck = line, None, False, False
            if image.lower() in stages or image == "scratch" or "$" in image:
                continue
            tag = image.rsplit("/", 1)[-1]
            if "@" not in image and (":" not in tag or tag.endswith(":latest")):
                report.finding(
                    "BUG",
                    rel,
                    line,
                    f"base image `{image}` is not pinned to a version; builds are not reproducible",
                    priority="medium",
                )
        elif word == "USER":
            user = (line, args.split(":", 1)[0].strip())
        elif word == "EXPOSE":
            exposes = True
        elif word == "HEALTHCHECK":
            healthcheck = not args.upper().startswith("NONE")
        elif word in ("ENV", "ARG"):
            for name in _assigned_names(word, args):
                if _SECRET_NAME.search(name):
                    report.finding(
                        "SECURITY",
                        rel,
                        line,
                        f"{word} `{name}` puts a secret in the image; pass it at run time "
                        "or with a build secret",
                        priority="high",
                    )
    if user is None or user[1] in ("root", "0"):
        report.finding(
            "SECURITY",
            rel,
            user[0] if user else final_from,
            "the container runs as root; add a USER with an unprivileged account",
            priority="medium",
        )
    if exposes and not healthcheck:
        report.finding(
            "TODO",
            rel,
            final_from,
            "the image exposes a port but has no HEALTHCHECK",
            priority="low",
        )
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    if f"{folder}.dockerignore" not in files and ".dockerignore" not in files:
        report.finding(
            "TODO",
            f"{folder}.dockerignore",
            1,
            "no .dockerignore; the build context sends everything "
            "(.git, .env, caches) to the daemon",
            priority="low",
        )
