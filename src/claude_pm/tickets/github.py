"""Publish tickets as GitHub issues through the REST API (``POST /repos/{repo}/issues``).

Uses only ``urllib.request``. The token and repository are given by the
caller; the API base url is configurable so tests point it at a local fake.

The token is a credential, so three rules hold: a redirect is never followed
(``urllib`` would re-send ``Authorization`` to whatever host the answer names),
an API url over plain ``http`` is refused unless it is loopback, and no message
quotes a response body (a hostile server can echo the request's headers in
it): only GitHub's short ``message`` field is shown, with the token redacted.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from claude_pm.errors import InvalidInput, TicketError
from claude_pm.tickets.model import StoredTicket

DEFAULT_API_URL = "https://api.github.com"
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
#: Characters of GitHub's error ``message`` shown in an error.
MAX_MESSAGE_CHARS = 200
_REDACTED = "[redacted]"


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an error instead of following it with the token."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_url(api_url: str) -> str:
    """The API base without a trailing slash.

    Raises:
        InvalidInput: not an http(s) url, or plain http to a host other than loopback.
    """
    parts = urllib.parse.urlsplit(api_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput(
            f"The GitHub API url must be an https:// url, got {api_url!r}.",
            field="api_url",
            expected="https://HOST[/PATH]",
        )
    if parts.scheme == "http" and not _is_loopback_host(parts.hostname):
        raise InvalidInput(
            f"Refusing to send the GitHub token over plain http to {parts.hostname}; "
            "use an https:// API url (plain http is allowed only on loopback).",
            field="api_url",
            expected="https://HOST[/PATH]",
        )
    return api_url.rstrip("/")


def issue_payload(ticket: StoredTicket) -> dict[str, Any]:
    """The issue to create for a ticket: title, body and labels (type and priority)."""
    body = [
        f"Filed by claude-pm as **{ticket.id}** "
        f"({ticket.type.value}, priority {ticket.priority.value}).",
        "",
        f"- source agent: {ticket.source_agent or 'unknown'}",
        f"- seen {ticket.times_seen} time(s)",
    ]
    if ticket.file:
        where = f"{ticket.file}:{ticket.line}" if ticket.line else ticket.file
        body.append(f"- file: `{where}`")
    if ticket.context:
        body += ["", "```", ticket.context.replace("```", "`\u200b``"), "```"]
    body += ["", f"<!-- claude-pm fingerprint {ticket.fingerprint} -->"]
    return {
        "title": ticket.title,
        "body": "\n".join(body),
        "labels": [ticket.type.value, f"priority:{ticket.priority.value}"],
    }


class GitHubSink:
    """Creates one GitHub issue per ticket.

    Args:
        repo: ``owner/name``.
        token: a token allowed to create issues in ``repo``.
        api_url: the REST API base (default the public API).
        timeout_s: per request.

    Raises:
        InvalidInput: ``repo`` is not ``owner/name`` or the token is empty.
    """

    name = "github"

    def __init__(
        self, repo: str, token: str, *, api_url: str = DEFAULT_API_URL, timeout_s: float = 30.0
    ) -> None:
        if not _REPO.fullmatch(repo):
            raise InvalidInput(
                f"GitHub repository must be owner/name, got {repo!r}.",
                field="repo",
                expected="owner/name",
            )
        if not token:
            raise InvalidInput(
                "A GitHub token is needed to create issues; set GITHUB_TOKEN.",
                field="token",
            )
        self.repo = repo
        self.api_url = check_api_url(api_url)
        self.timeout_s = timeout_s
        self._token = token

    def publish(self, ticket: StoredTicket) -> str:
        """Create the issue and return its ``html_url``.

        Raises:
            TicketError: the API refused the request or could not be reached.
        """
        request = urllib.request.Request(
            f"{self.api_url}/repos/{self.repo}/issues",
            data=json.dumps(issue_payload(ticket)).encode("utf-8"),
            method="POST",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
                "User-Agent": "claude-pm",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        # Errors are raised ``from None``: an HTTPError's reason phrase is the server's
        # words, and a hostile server can put the token there.
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                data = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            with e:
                raise self._refused(ticket, e) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise TicketError(
                f"Could not reach the GitHub API at {self.api_url} for {ticket.id}: "
                f"{self._redact(str(e))}.",
                ticket_id=ticket.id,
            ) from None
        url = (data.get("html_url") or data.get("url")) if isinstance(data, dict) else None
        if not isinstance(url, str):
            raise TicketError(
                f"GitHub's answer for {ticket.id} has no issue url.", ticket_id=ticket.id
            )
        return url

    def _refused(self, ticket: StoredTicket, error: urllib.error.HTTPError) -> TicketError:
        """The error for a non-2xx answer: what happened, never what the server said at length."""
        if 300 <= error.code < 400:
            where = urllib.parse.urlsplit(error.headers.get("Location") or "").hostname
            where = self._redact(where) if where else None
            return TicketError(
                f"The GitHub API at {self.api_url} answered HTTP {error.code}, a redirect"
                + (f" to {where}" if where else "")
                + "; claude-pm does not follow redirects with the token. Give the final "
                "API url with --api-url.",
                ticket_id=ticket.id,
                status_code=error.code,
            )
        return TicketError(
            f"GitHub refused to create an issue for {ticket.id} in {self.repo}: "
            f"HTTP {error.code}{self._api_message(error)}. Check the token's permissions and "
            "the repository.",
            ticket_id=ticket.id,
            status_code=error.code,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._token, _REDACTED) if self._token else text

    def _api_message(self, error: urllib.error.HTTPError) -> str:
        """GitHub's ``message`` from an error body, short and with the token redacted."""
        try:
            body = json.loads(error.read(64 * 1024).decode("utf-8", "replace"))
        except (OSError, ValueError):
            return ""
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return ""
        text = " ".join(self._redact(message).split())
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[: MAX_MESSAGE_CHARS - 1] + "…"
        return f" ({text})"
