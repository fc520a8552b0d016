"""``claude-pm tickets ...``: list, show, update, extract, export, push."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from claude_pm.cli.tickets import register
from fakes.github import FakeGitHub

OUTPUT = "intro\nSECURITY: secret in logs\n# todo: tidy the config\nBUG(P3): typo in help\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="claude-pm")
    parser.add_argument("--project", type=Path, default=None)
    register(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture
def cli(project: Path, capsys: pytest.CaptureFixture[str]):
    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        args = build_parser().parse_args(["--project", str(project), "tickets", *argv])
        old_stdin = sys.stdin
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            code = args.func(args)
        finally:
            sys.stdin = old_stdin
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def stored(cli, project: Path) -> Path:
    log = project / "agent.log"
    log.write_text(OUTPUT)
    code, _, err = cli("extract", str(log), "--store", "--agent", "qa", "--run", "r1")
    assert code == 0, err
    return log


def test_extract_without_store_prints_and_stores_nothing(cli, project: Path) -> None:
    log = project / "agent.log"
    log.write_text(OUTPUT)
    code, out, _ = cli("extract", str(log), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["type"], r["priority"], r["output_line"]) for r in rows] == [
        ("security", "high", 2),
        ("task", "low", 3),
        ("bug", "low", 4),
    ]
    code, out, _ = cli("list", "--json")
    assert json.loads(out) == []


def test_extract_from_stdin_and_store(cli) -> None:
    code, out, _ = cli("extract", "-", "--store", "--json", stdin=OUTPUT)
    assert code == 0
    assert [(r["id"], r["duplicate"]) for r in json.loads(out)] == [
        ("PM-1", False),
        ("PM-2", False),
        ("PM-3", False),
    ]
    code, out, _ = cli("extract", "-", "--store", stdin="SECURITY: Secret in logs.\n")
    assert code == 0
    assert "PM-1 (seen before)" in out
    assert "1 ticket(s) found: 0 new, 1 already filed (PM-1)." in out


def test_extract_record_file_uses_a_project_relative_path(cli, project: Path) -> None:
    source = project / "src" / "mod.py"
    source.parent.mkdir()
    source.write_text("x = 1\n# TODO: handle errors\n")
    code, out, _ = cli("extract", str(source), "--record-file", "--json")
    assert code == 0
    assert json.loads(out)[0]["file"] == "src/mod.py"


def test_list_show_update(cli, stored: Path) -> None:
    code, out, _ = cli("list", "--json", "--priority", "low")
    assert [t["id"] for t in json.loads(out)] == ["PM-2", "PM-3"]

    code, out, _ = cli("list")
    assert code == 0
    assert "PM-1" in out and "secret in logs" in out

    code, out, _ = cli("update", "PM-1", "--status", "in_progress", "--json")
    assert code == 0 and json.loads(out)["status"] == "in_progress"

    code, out, _ = cli("show", "PM-1", "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["source_run"], shown["times_seen"]) == ("in_progress", "r1", 1)
    code, out, _ = cli("show", "PM-1")
    assert "secret in logs" in out and "in_progress" in out

    code, out, _ = cli("list", "--status", "open", "--json")
    assert [t["id"] for t in json.loads(out)] == ["PM-2", "PM-3"]


def test_extract_store_says_what_is_new_and_what_was_already_filed(cli, project: Path) -> None:
    first = "BUG: src/a.py:3: crash\nBUG: src/a.py:9: crash\nTODO: docs\nTODO: tests\n"
    code, out, err = cli("extract", "-", "--store", "--run", "r1", stdin=first)
    assert code == 0, err
    assert "4 ticket(s) found: 3 new (PM-1, PM-2, PM-3), 0 already filed; 1 more report(s)" in out
    # The same findings, moved one line down, and two new ones.
    again = "BUG: src/a.py:4: crash\nTODO: docs\nSECURITY: key\nFEATURE: csv\n"
    code, out, err = cli("extract", "-", "--store", "--run", "r2", stdin=again)
    assert code == 0, err
    assert "4 ticket(s) found: 2 new (PM-4, PM-5), 2 already filed (PM-1, PM-2)." in out
    assert "claude-pm tickets list --run r2" in out

    code, out, _ = cli("list", "--run", "r2", "--json")
    assert [t["id"] for t in json.loads(out)] == ["PM-1", "PM-2", "PM-4", "PM-5"]
    code, out, _ = cli("list", "--run", "r1", "--json")
    assert [t["id"] for t in json.loads(out)] == ["PM-1", "PM-2", "PM-3"]

    code, out, _ = cli("show", "PM-1", "--json")
    shown = json.loads(out)
    assert (shown["file"], shown["line"], shown["times_seen"]) == ("src/a.py", 4, 3)
    assert [x["line"] for x in shown["lines"]] == [3, 4, 9]
    code, out, _ = cli("show", "PM-1")
    assert "where: src/a.py:4" in out
    assert "lines: 4 (latest run); earlier: 3, 9" in out


def test_list_pages_line_up_past_one_page(cli, project: Path) -> None:
    text = "".join(f"TODO: item {n}\n" for n in range(1203))
    code, _, err = cli("extract", "-", "--store", stdin=text)
    assert code == 0, err
    code, out, _ = cli("list", "--format", "table")
    assert code == 0
    assert out.count("PM-") == 1203 and "PM-1203" in out
    assert out.count("title") == 1  # one header for all the pages
    code, out, _ = cli("list", "--json", "--limit", "1001")
    assert len(json.loads(out)) == 1001


def test_list_and_show_print_titles_that_look_like_markup(cli, project: Path) -> None:
    code, _, err = cli("extract", "-", "--store", stdin="TODO: fix [/b] and [red]x\n")
    assert code == 0, err
    for argv in (("list",), ("show", "PM-1")):
        code, out, err = cli(*argv)
        assert code == 0, err
        assert "fix [/b] and [red]x" in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("show", "PM-99"), 1, "No ticket PM-99"),
        (("show", "banana"), 1, "not a ticket id"),
        (("update", "PM-1"), 2, "nothing to change"),
        (("update", "PM-42", "--status", "done"), 1, "No ticket PM-42"),
        (("extract", "missing.log"), 2, "not a readable file"),
        (("push", "--repo", "acme/widgets"), 2, "GITHUB_TOKEN"),
    ],
    ids=["unknown id", "bad id", "no change", "update unknown", "missing file", "no token"],
)
def test_errors_are_clear_and_non_zero(
    cli,
    stored: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    got, out, err = cli(*argv)
    assert got == code
    assert message in err
    assert out == ""


def test_bad_project_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["--project", str(tmp_path / "nope"), "tickets", "list"])
    assert args.func(args) == 2
    assert "does not exist" in capsys.readouterr().err


def test_export_markdown_json_csv(cli, stored: Path, project: Path) -> None:
    code, _, err = cli("export", "--format", "markdown")
    assert code == 0, err
    files = sorted(p.name for p in (project / "tickets").iterdir())
    assert files == ["PM-1.md", "PM-2.md", "PM-3.md"]
    meta = yaml.safe_load((project / "tickets" / "PM-1.md").read_text().split("---\n")[1])
    assert (meta["id"], meta["type"], meta["priority"]) == ("PM-1", "security", "high")

    code, out, _ = cli("export", "--format", "json", "--type", "bug")
    assert [t["id"] for t in json.loads(out)] == ["PM-3"]

    target = project / "out.csv"
    code, _, _ = cli("export", "--format", "csv", "--output", str(target))
    assert code == 0
    assert target.read_text().splitlines()[0].startswith("id,status,type,priority,title")
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["id"] for r in rows] == ["PM-1", "PM-2", "PM-3"]


def test_push_to_fake_github(cli, stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    with FakeGitHub() as github:
        code, out, _ = cli("push", "--repo", "acme/widgets", "--api-url", github.url, "--dry-run")
        assert code == 0 and "would push 3" in out
        assert github.requests == []

        code, out, err = cli("push", "--repo", "acme/widgets", "--api-url", github.url, "--json")
        assert code == 0, err
        pushed = json.loads(out)
        assert [p["id"] for p in pushed] == ["PM-1", "PM-2", "PM-3"]
        assert len(github.issues) == 3

        code, out, _ = cli("push", "--repo", "acme/widgets", "--api-url", github.url, "--json")
        assert json.loads(out) == []
        assert len(github.issues) == 3

        monkeypatch.setenv("GITHUB_TOKEN", "wrong")
        cli("update", "PM-1", "--status", "open")
        code, _, err = cli("extract", "-", "--store", stdin="BUG: another\n")
        code, _, err = cli("push", "--repo", "acme/widgets", "--api-url", github.url)
        assert code == 1 and "HTTP 401" in err


def test_extract_stdin_in_a_real_process(project: Path) -> None:
    driver = (
        "import argparse, sys\n"
        "from pathlib import Path\n"
        "from claude_pm.cli.tickets import register\n"
        "p = argparse.ArgumentParser(); p.add_argument('--project', type=Path)\n"
        "register(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            driver,
            "--project",
            str(project),
            "tickets",
            "extract",
            "-",
            "--json",
        ],
        input="a\r\nFIXME: crlf input\r\nb\r\n" * 1000,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 1000
    assert rows[999]["output_line"] == 2999
    assert rows[0]["title"] == "crlf input"
