"""researcher: rank files and lines by the task's terms; say where things are; file nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolchain_support import run, write_tree

from claude_pm.agents.toolchain import EXIT_BAD_INPUT
from claude_pm.agents.toolchain.researcher import stem, terms_of, words

CODE = {
    "src/net/retry.py": """
        def compute_backoff(attempt, base_delay):
            # TODO: cap the retry backoff
            return base_delay * 2 ** attempt


        def retry(call, attempts):
            for attempt in range(attempts):
                delay = compute_backoff(attempt, 0.1)
    """,
    "src/net/client.py": """
        from net.retry import retry

        def get(url):
            return retry(lambda: url, 3)
    """,
    "docs/guide.md": "The client retries failed requests.\n",
    "src/other.py": "\n".join(f"value_{i} = {i}" for i in range(50)) + "\n",
    "logo.png": "\x89PNG not text",
}


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("code"), CODE)


def test_terms_drop_stop_words_and_split_identifiers():
    assert terms_of("Where is the retry backoff computed?") == ["retry", "backoff", "comput"]
    assert words("computeBackoff") == ["computebackoff", "comput", "backoff"]
    assert {stem(w) for w in ("compute", "computed", "computing", "computes")} == {"comput"}
    assert stem("retries") == "retry"
    assert stem("tests") == "test"


def test_the_file_that_holds_the_rare_terms_ranks_first(code: Path, tmp_path: Path):
    task = "Where is the retry backoff computed?"
    outcome = run("researcher", code, tmp_path / "run", task=task)
    assert outcome.code == 0, outcome.stderr
    where = outcome.report.split("## Where to look", 1)[1]
    ranked = [line.split(" ")[1] for line in where.splitlines() if line[:1].isdigit()]
    assert "- comput: weight" in outcome.report
    assert "comput: weight 0.00" not in outcome.report
    assert ranked[0] == "src/net/retry.py"
    assert set(ranked) == {"src/net/retry.py", "src/net/client.py", "docs/guide.md"}
    assert "    src/net/retry.py:1: def compute_backoff(attempt, base_delay):" in where
    # A matching line that holds a TODO comment is shown, not filed (run() checks no ticket).
    assert "# `TODO`: cap the retry backoff" in where
    assert outcome.findings == []


def test_limits_bound_what_is_shown_and_read(code: Path, tmp_path: Path):
    outcome = run(
        "researcher",
        code,
        tmp_path / "run",
        task="retry",
        options={"max_results": 1, "lines_per_file": 1, "max_files": 2},
    )
    where = outcome.report.split("## Where to look", 1)[1]
    assert len([line for line in where.splitlines() if line[:1].isdigit()]) == 1
    assert len([line for line in where.splitlines() if line.startswith("    ")]) == 1
    assert "more matching file(s) not read: the limit is 2 (option max_files)" in outcome.report


def test_research_sources_restrict_the_search(code: Path, tmp_path: Path):
    outcome = run(
        "researcher", code, tmp_path / "run", task="retry", context={"research_sources": ["docs"]}
    )
    assert "1. docs/guide.md" in outcome.report
    assert "src/net" not in outcome.report


def test_a_task_without_terms_is_bad_input(code: Path, tmp_path: Path):
    outcome = run("researcher", code, tmp_path / "run", task="where is it?")
    assert outcome.code == EXIT_BAD_INPUT
    assert "no searchable term" in outcome.stderr
