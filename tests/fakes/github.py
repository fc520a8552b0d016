"""A fake GitHub REST API on 127.0.0.1: ``POST /repos/{owner}/{repo}/issues`` only.

It checks the bearer token, records every request (path, headers, JSON body)
and answers like GitHub: 201 with ``number`` and ``html_url``, 401 for a wrong
token, 404 for another repository, 422 for an issue without a title.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes.loopback import LoopbackServer


class FakeGitHub(LoopbackServer):
    """Use as a context manager; ``url`` is the API base to give the client."""

    def __init__(self, *, token: str = "test-token", repo: str = "acme/widgets") -> None:
        self.token = token
        self.repo = repo
        self.requests: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__()

    def _answer(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"message": "Bad credentials"}
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
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
