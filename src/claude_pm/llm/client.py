"""The seam between the loop and a provider: :class:`ModelClient`, and how its failures look.

A client takes one neutral :class:`~claude_pm.llm.types.ModelRequest` and
returns one :class:`~claude_pm.llm.types.ModelResponse`. Retrying is the
client's business (the SDKs retry 408, 409, 429, 5xx and connection errors,
``max_retries`` times, honouring ``retry-after``); what is left after the
retries is raised as :class:`ModelAPIError`, which the loop turns into a run
stopped with ``api_error``. The error's ``kind`` says what happened in words a
program can branch on, and its message says what to do::

    ClaudePMError
    └── ModelAPIError     kind, status_code, retry_after_s, api, retries
    └── ModelSDKMissing   the provider's SDK is not installed (package)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from claude_pm.errors import ClaudePMError

if TYPE_CHECKING:
    from claude_pm.llm.types import ModelRequest, ModelResponse


class ModelClient(Protocol):
    """Sends one request to a model and returns its reply.

    Raises:
        ModelAPIError: the API failed (after the client's own retries).
    """

    def create(self, request: ModelRequest) -> ModelResponse: ...


class APIErrorKind(StrEnum):
    """What kind of failure a model API reported."""

    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    AUTHENTICATION = "authentication"
    BAD_REQUEST = "bad_request"
    CONNECTION = "connection"
    SERVER = "server"
    OTHER = "other"


#: Kinds the SDKs retry before giving up (a later run may well succeed).
RETRIED_KINDS = frozenset(
    {
        APIErrorKind.RATE_LIMITED,
        APIErrorKind.OVERLOADED,
        APIErrorKind.CONNECTION,
        APIErrorKind.SERVER,
    }
)


class ModelAPIError(ClaudePMError):
    """A model API call failed; ``kind`` says how, the message says what to do.

    Attributes:
        kind: the :class:`APIErrorKind`.
        status_code: the HTTP status, or None when no answer came.
        retry_after_s: how long the server asked to wait, when it said.
        api: which API failed ("Messages API", "Chat Completions API"...).
        retries: how many retries the client made before giving up.
    """

    kind: APIErrorKind
    status_code: int | None
    retry_after_s: float | None
    api: str
    retries: int

    def __init__(
        self,
        message: str,
        *,
        kind: APIErrorKind,
        status_code: int | None = None,
        retry_after_s: float | None = None,
        api: str = "model API",
        retries: int = 0,
    ) -> None:
        kind = APIErrorKind(kind)
        super().__init__(
            message,
            kind=kind.value,
            status_code=status_code,
            retry_after_s=retry_after_s,
            api=api,
            retries=retries,
        )
        self.kind = kind
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.api = api
        self.retries = retries


class ModelSDKMissing(ClaudePMError):
    """The provider's SDK is not installed."""

    package: str

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"The {package} package is not installed; install it with "
            f"pip install 'claude-pm[{extra}]'.",
            package=package,
        )
        self.package = package


def kind_for_status(status_code: int) -> APIErrorKind:
    """The kind of an HTTP error status (503 and Anthropic's 529 mean overloaded)."""
    if status_code == 429:
        return APIErrorKind.RATE_LIMITED
    if status_code in (503, 529):
        return APIErrorKind.OVERLOADED
    if status_code in (401, 403):
        return APIErrorKind.AUTHENTICATION
    if status_code >= 500:
        return APIErrorKind.SERVER
    if 400 <= status_code < 500:
        return APIErrorKind.BAD_REQUEST
    return APIErrorKind.OTHER


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a response asked to wait: ``retry-after-ms``, else ``retry-after`` (s or a date)."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        return float(lowered["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    import email.utils

    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, float(email.utils.mktime_tz(parsed)) - time.time())


def error_detail(body: Any, fallback: str) -> str:
    """``type: message`` from an API error body (``{"error": {"type", "message"}}``)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            kind = inner.get("type") or inner.get("code")
            return f"{kind}: {inner['message']}" if kind else str(inner["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return fallback


def status_error(
    *,
    api: str,
    status_code: int,
    detail: str,
    retry_after: float | None,
    max_retries: int,
    key_hint: str,
) -> ModelAPIError:
    """The :class:`ModelAPIError` for an HTTP error answer, with a message saying what to do.

    ``key_hint`` names where the credentials come from ("ANTHROPIC_API_KEY").
    """
    kind = kind_for_status(status_code)
    retries = max_retries if kind in RETRIED_KINDS else 0
    after = f" after {retries} retries" if retries else ""
    wait = f" (the server asked to wait {retry_after:g} s)" if retry_after is not None else ""
    http = f"HTTP {status_code}"
    if kind is APIErrorKind.RATE_LIMITED:
        text = (
            f"rate limited by the {api} ({http}){after}: {detail}{wait}. "
            "Wait and run again, or raise max_retries."
        )
    elif kind is APIErrorKind.OVERLOADED:
        text = (
            f"the {api} is overloaded ({http}){after}: {detail}{wait}. "
            "Try again later, or raise max_retries."
        )
    elif kind is APIErrorKind.AUTHENTICATION:
        what = "refused the credentials" if status_code == 401 else "denied the request"
        text = f"the {api} {what} ({http}): {detail}. Check {key_hint}."
    elif kind is APIErrorKind.BAD_REQUEST:
        hint = (
            "Check the base URL and the model name."
            if status_code == 404
            else "Check the model name and the request limits (max_output_tokens)."
        )
        text = f"the {api} rejected the request ({http}): {detail}. {hint}"
    elif kind is APIErrorKind.SERVER:
        text = f"the {api} failed ({http}){after}: {detail}. Try again later."
    else:
        text = f"the {api} answered {http}: {detail}"
    return ModelAPIError(
        text,
        kind=kind,
        status_code=status_code,
        retry_after_s=retry_after,
        api=api,
        retries=retries,
    )


def connection_error(
    *, api: str, base_url: str, timed_out: bool, detail: str, max_retries: int, url_hint: str
) -> ModelAPIError:
    """The :class:`ModelAPIError` for a request that got no answer (refused, reset, timed out)."""
    after = f" after {max_retries} retries" if max_retries else ""
    if timed_out:
        text = (
            f"no answer from the {api} at {base_url}{after}: the request timed out. "
            "Check that the server is up, or raise the request timeout."
        )
    else:
        text = f"could not reach the {api} at {base_url}{after}: {detail}. Check {url_hint}."
    return ModelAPIError(text, kind=APIErrorKind.CONNECTION, api=api, retries=max_retries)


__all__ = [
    "RETRIED_KINDS",
    "APIErrorKind",
    "ModelAPIError",
    "ModelClient",
    "ModelSDKMissing",
    "connection_error",
    "error_detail",
    "kind_for_status",
    "retry_after_s",
    "status_error",
]
