"""ops: CI, dependency bounds, lock files, committed secrets files, Dockerfile basics."""

from __future__ import annotations

from pathlib import Path

from toolchain_support import git, run, snapshot, write_tree

UNSAFE = {
    "pyproject.toml": """
        [project]
        name = "svc"
        version = "1.0.0"
        dependencies = [
            "requests",
            "httpx>=0.27",
            "local @ file:///opt/local",
        ]

        [project.optional-dependencies]
        dev = ["pytest"]
    """,
    "requirements-dev.txt": """
        # tools
        ruff
        mypy==1.10.0
        -r requirements-base.txt
    """,
    "Dockerfile": """
        FROM python AS build
        RUN pip wheel -w /wheels .

        FROM build AS test
        RUN echo test

        FROM python:latest
        ENV API_TOKEN=abc123 REGION=eu
        ARG DEPLOY_PASSWORD
        COPY --from=build /wheels /wheels
        EXPOSE 8080
        CMD ["python", "-m", "svc"]
    """,
    ".env": "API_TOKEN=abc\n",
    ".env.example": "API_TOKEN=\n",
    "certs/server.key": "not really a key\n",
    "package.json": '{"dependencies": {"left-pad": "*", "react": "^18.2.0"}}\n',
}


def test_problems_are_reported_at_their_place(tmp_path: Path):
    project = write_tree(tmp_path / "p", UNSAFE)
    before = snapshot(project)
    outcome = run("ops", project, tmp_path / "run")
    assert outcome.code == 0, outcome.stderr
    assert {(f.marker, f.priority, f.path, f.line) for f in outcome.findings} == {
        ("TODO", "medium", ".github/workflows/ci.yml", 1),
        ("BUG", "medium", "pyproject.toml", 5),  # requests
        ("BUG", "medium", "pyproject.toml", 11),  # pytest
        ("BUG", "medium", "requirements-dev.txt", 2),  # ruff
        ("BUG", "medium", "package.json", 1),  # left-pad: *
        ("TODO", "medium", "pyproject.toml", 1),  # no lock file
        ("TODO", "medium", "package.json", 1),  # no npm lock
        ("SECURITY", "high", ".env", 1),
        ("SECURITY", "high", "certs/server.key", 1),
        ("BUG", "medium", "Dockerfile", 1),  # FROM python
        ("BUG", "medium", "Dockerfile", 7),  # FROM python:latest
        ("SECURITY", "high", "Dockerfile", 8),  # ENV API_TOKEN=...
        ("SECURITY", "medium", "Dockerfile", 7),  # runs as root
        ("TODO", "low", "Dockerfile", 7),  # EXPOSE without HEALTHCHECK
        ("TODO", "low", ".dockerignore", 1),
    }
    messages = " ".join(f.message for f in outcome.findings)
    assert "`requests`" in messages
    assert "`API_TOKEN`" in messages
    assert "abc123" not in outcome.report
    assert snapshot(project) == before


def test_a_secrets_file_ignored_by_git_is_not_reported(tmp_path: Path):
    project = write_tree(
        tmp_path / "p",
        {".gitignore": ".env\n", ".env": "API_TOKEN=abc\n", "deploy.pem": "x\n"},
    )
    git(project, "init", "-q")
    git(project, "add", ".gitignore", "deploy.pem")
    git(project, "commit", "-qm", "init")
    before = snapshot(project)
    outcome = run("ops", project, tmp_path / "run")
    assert snapshot(project) == before  # .git included: listing files wrote nothing
    secrets = {f.path for f in outcome.findings if f.marker == "SECURITY"}
    assert secrets == {"deploy.pem"}
    assert "git ls-files" in outcome.report


def test_a_sound_project_has_no_findings(sample: Path, tmp_path: Path):
    outcome = run("ops", sample, tmp_path / "run")
    assert outcome.findings == []
    assert "lock: pylock.toml" in outcome.report


def test_pip_compile_inputs_are_fine_when_their_output_is_pinned(tmp_path: Path):
    files = {
        "requirements.in": "flask\n",
        "requirements.txt": "flask==3.0.0\nwerkzeug==3.0.1  # via flask\n",
        ".github/workflows/ci.yml": "on: push\n",
    }
    pinned = run("ops", write_tree(tmp_path / "a", files), tmp_path / "run-a")
    assert pinned.findings == []
    assert "a fully pinned requirements file" in pinned.report
    loose = run(
        "ops",
        write_tree(tmp_path / "b", {**files, "requirements.txt": "flask\n"}),
        tmp_path / "run-b",
    )
    assert {(f.marker, f.path) for f in loose.findings} == {
        ("BUG", "requirements.in"),
        ("BUG", "requirements.txt"),
        ("TODO", "requirements.txt"),
    }
