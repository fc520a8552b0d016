"""A fake GitHub REST API on 127.0.0.1: ``POST /repos/{owner}/{repo}/issues`` only.

It checks the bearer token, records every request (path, headers, JSON body)
and answers like GitHub: 201 with ``number`` and ``html_url``, 401 for a wrong
token, 404 for another repository, 422 for an issue without a title.

Two hostile modes for the credential tests: ``redirect_to`` answers every
request with a 302 to that url, and ``echo_headers`` puts the request's
headers (the token among them) into every error body and reason phrase.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes.loopback import LoopbackServer


class FakeGitHub(LoopbackServer):
    """Use as a context manager; ``url`` is the API base to give the client."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        repo: str = "acme/widgets",
        redirect_to: str | None = None,
        echo_headers: bool = False,
    ) -> None:
        self.token = token
        self.repo = repo
        self.redirect_to = redirect_to
        self.echo_headers = echo_headers
        self.requests: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__()

    def _answer(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            if self.redirect_to is not None:
                return 302, {"message": "Moved"}
            if headers.get("authorization") != f"Bearer {self.token}":
                message = "Bad credentials"
                if self.echo_headers:
                    message += f" (you sent {headers})"
                return 401, {"message": message, "echo": headers}
            if path != f"/repos/{self.repo}/issues":
                return 404, {"message": "Not Found"}
            if not isinstance(body, dict) or not body.get("title"):
                return 422, {"message": "Validation Failed"}
            number = len(self.issues) + 1
            issue = {
                "number": number,
                "title": body["title"],
                "body": body.get("body", ""),
                "labels": [{"name": name} for name in body.get("labels", [])],
                "html_url": f"https://github.example/{self.repo}/issues/{number}",
                "state": "open",
            }
            self.issues.append(issue)
            return 201, issue

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = fake._answer(self.path, headers, body)
                payload = json.dumps(answer).encode()
                reason = None
                if fake.echo_headers and status >= 400:
                    reason = f"Echo {headers.get('authorization')}"
                self.send_response(status, reason)
                if status == 302 and fake.redirect_to is not None:
                    self.send_header("location", fake.redirect_to)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
