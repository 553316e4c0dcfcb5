"""The `faults` scenario: what goes wrong, where, and on which attempt.

Transient faults hit the first attempt of the first matching request of a run only, so
a client that retries gets the right data; one fault is permanent so a client must
report it instead of hanging:

    route   first page (no cursor)            later pages
    codex   502 HTML page, once               slow answer, once; the last page claims
                                              has_more=true without a next_page
    usage   429 + Retry-After, once           truncated body, once
    costs   500 (OpenAI envelope), once       500 on EVERY attempt (cannot be retried)
    users   slow answer, once                 cursor loop: last_id repeats `after`
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from verifier.sandbox.endpoints import Answer, ApiError, Request, json_answer

FaultKind = Literal["status", "slow", "truncate"]

BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
SERVER_ERROR = ApiError(
    500,
    "The server had an error while processing your request. Sorry about that!",
    code=None,
    kind="server_error",
)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    answer: Answer | None = None


def is_first_page(request: Request) -> bool:
    return request.one("page") is None and request.one("after") is None


def fault_before(
    route: str, request: Request, retry_after_ms: int, claim: Callable[[str], bool]
) -> Fault | None:
    """The fault to inject instead of (or while sending) the normal answer, if any.

    `claim(label)` is true the first time a transient fault with that label is asked
    for in this server's life, so each transient fault happens exactly once."""
    first = is_first_page(request)
    if route == "costs" and not first:
        return Fault("status", SERVER_ERROR.answer())
    if not claim(f"{route}:{'first' if first else 'later'}"):
        return None
    if route == "codex":
        if first:
            return Fault("status", Answer(502, BAD_GATEWAY_HTML, content_type="text/html"))
        return Fault("slow")
    if route == "usage":
        if first:
            return Fault("status", rate_limited(retry_after_ms))
        return Fault("truncate")
    if route == "costs":
        return Fault("status", SERVER_ERROR.answer())
    if route == "users" and first:
        return Fault("slow")
    return None


def rate_limited(retry_after_ms: int) -> Answer:
    error = ApiError(
        429,
        "Rate limit reached for requests. Please try again shortly.",
        code="rate_limit_exceeded",
        kind="requests",
    )
    headers = {"Retry-After": "1", "retry-after-ms": str(retry_after_ms)}
    return json_answer(429, error.envelope, headers)


def rewrite_after(route: str, request: Request, answer: Answer) -> Answer:
    """Pagination faults that change a correct answer rather than replace it."""
    if answer.status != 200 or route not in ("codex", "users"):
        return answer
    document: dict[str, Any] = orjson.loads(answer.body)
    if route == "codex" and not document["has_more"]:
        document["has_more"] = True  # ...but no cursor to continue with
    elif route == "users" and not is_first_page(request):
        document["has_more"] = True
        document["last_id"] = request.one("after")  # the same cursor again: a loop
    else:
        return answer
    return json_answer(answer.status, document, answer.headers)
