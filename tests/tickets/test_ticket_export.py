"""Exports: one Markdown file per ticket with YAML front matter, JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from claude_pm.state import Database
from claude_pm.tickets.export import _yaml_scalar, export_markdown, to_csv, to_json
from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.store import TicketStore

TEXT = """\
setup done
BUG: crash when title has "quotes": and colons
more output
# todo: yes
````fenced```` line
FEATURE(P3): true
"""


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    store = TicketStore(Database(tmp_path / "state.db"), clock=lambda: 1_700_000_000.0)
    store.save(extract_text(TEXT, "qa"), source_run="run-1")
    store.update("PM-2", status="in_progress")
    return store


def test_markdown_one_file_per_ticket_with_front_matter(store: TicketStore, tmp_path: Path) -> None:
    out = tmp_path / "export"
    written = export_markdown(store.find(), out)
    assert [p.name for p in written] == ["PM-1.md", "PM-2.md", "PM-3.md"]
    for path, ticket in zip(written, store.find(), strict=True):
        text = path.read_text(encoding="utf-8")
        _, front, body = text.split("---\n", 2)
        meta = yaml.safe_load(front)
        assert meta["id"] == ticket.id
        assert meta["status"] == ticket.status.value
        assert meta["type"] == ticket.type.value
        assert meta["priority"] == ticket.priority.value
        assert meta["title"] == ticket.title
        assert meta["source_agent"] == "qa"
        assert meta["source_run"] == "run-1"
        assert meta["times_seen"] == 1
        assert meta["fingerprint"] == ticket.fingerprint
        assert str(meta["first_seen"]).startswith("2023-11-14")
        assert f"# {ticket.id}: {ticket.title}" in body
        assert ticket.context in body
    assert yaml.safe_load((out / "PM-3.md").read_text().split("---\n")[1])["title"] == "true"


def test_markdown_fence_is_longer_than_any_in_the_context(
    store: TicketStore, tmp_path: Path
) -> None:
    export_markdown([store.get("PM-2")], tmp_path)
    text = (tmp_path / "PM-2.md").read_text()
    assert "\n`````\n" in text


def test_markdown_export_is_stable(store: TicketStore, tmp_path: Path) -> None:
    export_markdown(store.find(), tmp_path / "a")
    export_markdown(store.find(), tmp_path / "b")
    for name in ("PM-1.md", "PM-2.md", "PM-3.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_json_and_csv(store: TicketStore) -> None:
    data = json.loads(to_json(store.find()))
    assert [d["id"] for d in data] == ["PM-1", "PM-2", "PM-3"]
    assert data[1]["status"] == "in_progress"
    rows = list(csv.DictReader(io.StringIO(to_csv(store.find()))))
    assert [r["id"] for r in rows] == ["PM-1", "PM-2", "PM-3"]
    assert rows[0]["title"] == 'crash when title has "quotes": and colons'
    assert rows[0]["context"].split("\n")[1].startswith("BUG: crash")


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
    | st.text(alphabet="aZ09_./+-:# \n'\"yesnoTrueNull~e")
)
def test_front_matter_scalars_read_back_as_the_same_string(text: str) -> None:
    assert yaml.safe_load(f"key: {_yaml_scalar(text)}\n")["key"] == text


@pytest.mark.parametrize(
    "text", ["1_000", "0123", "yes", "Off", "null", "~", "1e5", ".inf", "-1", "A\n"]
)
def test_front_matter_quotes_what_yaml_would_not_read_as_text(text: str) -> None:
    assert yaml.safe_load(f"key: {_yaml_scalar(text)}\n")["key"] == text
