"""The sandbox HTTP server: standard-library ThreadingHTTPServer on 127.0.0.1.

It routes the four endpoints, checks the Bearer key (401 with the OpenAI envelope,
never echoing what was sent), adds the vendor's usual response headers, and applies
latency and the `faults` scenario. It binds to loopback only: it is a test double,
not a service.
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from verifier.sandbox import endpoints, faults
from verifier.sandbox.endpoints import Answer, ApiError, Request, ValidationProblem
from verifier.sandbox.scenarios import SandboxConfig
from verifier.sandbox.shapes import ORGANIZATION_ID

Endpoint = Callable[[SandboxConfig, Request, "int | None"], Answer]
CODEX_USAGE = re.compile(r"^/v1/analytics/codex/workspaces/([^/]+)/usage$")
ROUTES: dict[str, tuple[str, Endpoint]] = {
    "/v1/organization/usage/completions": ("usage", endpoints.usage_completions),
    "/v1/organization/costs": ("costs", endpoints.costs),
    "/v1/organization/users": ("users", endpoints.users),
}
UNAUTHORISED = ApiError(
    401,
    "Incorrect API key provided. You can find your API key in your organization settings.",
    code="invalid_api_key",
)
ANSWER_CACHE_SIZE = 256
NOT_FOUND = ApiError(404, "Invalid URL (no such endpoint in the sandbox).", code=None)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, config: SandboxConfig, port: int = 0) -> None:
        self.config = config
        self.stopping = threading.Event()
        self._claimed: set[str] = set()
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        # Every request's path and query, in arrival order: tests prove with it what a
        # client asked for (e.g. that an incremental capture asks only for missing days).
        self.request_log: list[Request] = []
        super().__init__(("127.0.0.1", port), SandboxHandler)

    def record(self, request: Request) -> None:
        with self._lock:
            self.request_log.append(request)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def claim(self, label: str) -> bool:
        """True only the first time `label` is claimed: a transient fault fires once."""
        with self._lock:
            if label in self._claimed:
                return False
            self._claimed.add(label)
            return True

    def answer_for(self, target: str, compute: Callable[[], Answer]) -> Answer:
        """Answers are a pure function of the request, so recent ones are kept: the
        emulator's own CPU should not be what a latency benchmark of the client measures."""
        with self._lock:
            cached = self._answers.get(target)
            if cached is not None:
                self._answers.move_to_end(target)
                return cached
        answer = compute()
        with self._lock:
            self._answers[target] = answer
            if len(self._answers) > ANSWER_CACHE_SIZE:
                self._answers.popitem(last=False)
        return answer

    def next_request_id(self) -> str:
        with self._lock:
            return f"req_sandbox{next(self._request_ids):08d}"

    def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server is shutting down."""
        if seconds > 0:
            self.stopping.wait(seconds)


class SandboxHandler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    server_version = "verify-sandbox"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line carries cursors and the test output must stay clean."""

    def do_GET(self) -> None:
        config = self.server.config
        parts = urlsplit(self.path)
        request = Request(parts.path, _query(parts.query))
        self.server.record(request)
        route, endpoint = _route(parts.path)
        self.server.pause(config.latency)
        if not self._authorised():
            self._send(UNAUTHORISED.answer())
            return
        if endpoint is None:
            self._send(NOT_FOUND.answer())
            return
        fault = None
        if config.scenario.faults:
            fault = faults.fault_before(route, request, config.retry_after_ms, self.server.claim)
        if fault is not None and fault.answer is not None:
            self._send(fault.answer)
            return
        answer = self.server.answer_for(
            f"{parts.path}?{parts.query}", lambda: _call(endpoint, config, request)
        )
        if config.scenario.faults:
            answer = faults.rewrite_after(route, request, answer)
        if fault is not None and fault.kind == "slow":
            self.server.pause(config.slow_seconds)
        self._send(answer, truncate=fault is not None and fault.kind == "truncate")

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self.server.config.api_keys

    def _send(self, answer: Answer, *, truncate: bool = False) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("x-request-id", self.server.next_request_id())
            self.send_header("openai-organization", ORGANIZATION_ID)
            self.send_header("openai-processing-ms", "12")
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if truncate:
                # Promise the whole body, send half, hang up: a truncated transfer.
                self.wfile.write(answer.body[: len(answer.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)


def _query(text: str) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in parse_qs(text, keep_blank_values=True).items()}


def _route(path: str) -> tuple[str, Endpoint | None]:
    if path in ROUTES:
        return ROUTES[path]
    if CODEX_USAGE.match(path):
        return "codex", endpoints.codex_usage
    return "", None


def _call(endpoint: Endpoint, config: SandboxConfig, request: Request) -> Answer:
    page_cap = config.fault_page_cap if config.scenario.faults else None
    try:
        return endpoint(config, request, page_cap)
    except (ApiError, ValidationProblem) as problem:
        return problem.answer()
