"""The GitHub sink, against a fake GitHub REST API on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_pm.errors import InvalidInput, TicketError
from claude_pm.state import Database
from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.github import GitHubSink
from claude_pm.tickets.sinks import push_tickets
from claude_pm.tickets.store import TicketStore
from fakes.github import FakeGitHub


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    store = TicketStore(Database(tmp_path / "state.db"))
    store.save(extract_text("SECURITY: token in logs\nTODO(P2): docs\n", "security"))
    return store


def test_push_creates_one_issue_per_ticket_and_records_it(store: TicketStore) -> None:
    with FakeGitHub() as github:
        sink = GitHubSink("acme/widgets", "test-token", api_url=github.url)
        results = push_tickets(store, sink, store.find())
        assert [r.id for r in results] == ["PM-1", "PM-2"]
        assert [issue["title"] for issue in github.issues] == ["token in logs", "docs"]
        first = github.requests[0]
        assert first["headers"]["authorization"] == "Bearer test-token"
        assert first["headers"]["accept"] == "application/vnd.github+json"
        assert first["body"]["labels"] == ["security", "priority:high"]
        assert "PM-1" in first["body"]["body"]
        assert github.requests[1]["body"]["labels"] == ["task", "priority:medium"]

        assert store.get("PM-1").external_url == github.issues[0]["html_url"]
        again = push_tickets(store, sink, store.find())
        assert all(r.already_pushed for r in again)
        assert len(github.issues) == 2


def test_refused_token_is_a_ticket_error(store: TicketStore) -> None:
    with FakeGitHub() as github:
        sink = GitHubSink("acme/widgets", "wrong", api_url=github.url)
        with pytest.raises(TicketError, match="HTTP 401") as info:
            push_tickets(store, sink, store.find())
    assert info.value.facts["status_code"] == 401
    assert store.get("PM-1").external_url is None


def test_unreachable_api_is_a_ticket_error(store: TicketStore) -> None:
    with FakeGitHub() as github:
        url = github.url
    sink = GitHubSink("acme/widgets", "test-token", api_url=url, timeout_s=5)
    with pytest.raises(TicketError, match="Could not reach"):
        push_tickets(store, sink, store.find())


@pytest.mark.parametrize(
    ("repo", "token"), [("no-slash", "t"), ("a/b/c", "t"), ("a/b\n", "t"), ("a/b", "")]
)
def test_bad_configuration(repo: str, token: str) -> None:
    with pytest.raises(InvalidInput):
        GitHubSink(repo, token)


def test_a_redirect_is_not_followed_with_the_token(store: TicketStore) -> None:
    """A 302 to another host must not carry Authorization there (urllib would re-send it)."""
    with FakeGitHub() as elsewhere, FakeGitHub(redirect_to=f"{elsewhere.url}/steal") as github:
        sink = GitHubSink("acme/widgets", "test-token", api_url=github.url)
        with pytest.raises(TicketError, match="does not follow redirects") as info:
            push_tickets(store, sink, store.find())
        assert elsewhere.requests == []
    assert "test-token" not in str(info.value)
    assert info.value.__cause__ is None
    assert store.get("PM-1").external_url is None


def test_errors_never_quote_the_token(store: TicketStore) -> None:
    """A server that echoes the request's headers in its body and reason phrase."""
    with FakeGitHub(token="other", echo_headers=True) as github:
        sink = GitHubSink("acme/widgets", "s3cret-token-value", api_url=github.url)
        with pytest.raises(TicketError, match="HTTP 401") as info:
            push_tickets(store, sink, store.find())
        assert github.requests[0]["headers"]["authorization"] == "Bearer s3cret-token-value"
    message = str(info.value)
    assert "s3cret-token-value" not in message
    assert "Bad credentials" in message
    assert "[redacted]" in message
    assert info.value.__cause__ is None


@pytest.mark.parametrize(
    ("api_url", "ok"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080/api", True),
        ("http://[::1]:8080", True),
        ("https://github.example/api/v3", True),
        ("http://github.example", False),
        ("http://10.0.0.5", False),
        ("ftp://127.0.0.1", False),
        ("not a url", False),
    ],
)
def test_plain_http_only_on_loopback(api_url: str, ok: bool) -> None:
    if ok:
        assert GitHubSink("a/b", "t", api_url=api_url).api_url == api_url.rstrip("/")
    else:
        with pytest.raises(InvalidInput, match="https"):
            GitHubSink("a/b", "t", api_url=api_url)
