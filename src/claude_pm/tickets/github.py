"""Publish tickets as GitHub issues through the REST API (``POST /repos/{repo}/issues``).

Uses only ``urllib.request``. The token and repository are given by the
caller; the API base url is configurable so tests point it at a local fake.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from claude_pm.errors import InvalidInput, TicketError
from claude_pm.tickets.model import StoredTicket

DEFAULT_API_URL = "https://api.github.com"
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


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
        if not _REPO.match(repo):
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
        self.api_url = api_url.rstrip("/")
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
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                data = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            raise TicketError(
                f"GitHub refused to create an issue for {ticket.id} in {self.repo}: "
                f"HTTP {e.code} {detail}. Check the token's permissions and the repository.",
                ticket_id=ticket.id,
                status_code=e.code,
            ) from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise TicketError(
                f"Could not reach the GitHub API at {self.api_url} for {ticket.id}: {e}.",
                ticket_id=ticket.id,
            ) from e
        url = data.get("html_url") or data.get("url")
        if not isinstance(url, str):
            raise TicketError(
                f"GitHub's answer for {ticket.id} has no issue url.", ticket_id=ticket.id
            )
        return url
