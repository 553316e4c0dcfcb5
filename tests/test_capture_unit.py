"""Capture core against `httpx.MockTransport`: windows, cursors, retries, redirects, writes."""

from __future__ import annotations

import itertools
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import (
    CANARY_CODEX_KEY,
    CANARY_OPENAI_KEY,
    CANARY_WORKSPACE_ID,
    assert_no_canary,
)
from verifier.capture import (
    CaptureOptions,
    Fetcher,
    NoProgress,
    RetryPolicy,
    Safety,
    fetch_chain,
    plan_windows,
    retry_after_seconds,
    run_capture,
    unix,
)
from verifier.credentials import SurfaceAccess
from verifier.errors import RefusedError, UsageError
from verifier.store import Capture
from verifier.surfaces import get_surface

Handler = Callable[[httpx.Request], httpx.Response]
POLICY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=1.0, budget=10.0, timeout=1.0)
IDENTITY = Safety(anonymise=lambda capture: capture, guard=lambda data: None)
START, END = date(2026, 5, 1), date(2026, 5, 3)


def access(name: str, base: str = "https://api.test") -> SurfaceAccess:
    surface = get_surface(name)
    key = CANARY_CODEX_KEY if surface.path_env else CANARY_OPENAI_KEY
    values = {"workspace_id": CANARY_WORKSPACE_ID} if surface.path_env else {}
    return SurfaceAccess(surface, base, key, values)


class Recorder:
    """Sleeps recorded instead of slept, so retry tests take no wall time."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def fetcher(handler: Handler, sleeps: Recorder | None = None) -> Fetcher:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Fetcher(client, POLICY, NoProgress(), sleeps or Recorder(), random.Random(7))


def page(data: list[Any], next_page: str | None) -> dict[str, Any]:
    return {
        "object": "page",
        "data": data,
        "has_more": next_page is not None,
        "next_page": next_page,
    }


def options(**extra: Any) -> CaptureOptions:
    return CaptureOptions(start=START, end=END, retry=POLICY, **extra)


# -- windows -------------------------------------------------------------------------------


def test_usage_windows_respect_the_31_bucket_cap() -> None:
    opts = CaptureOptions(start=date(2026, 1, 1), end=date(2026, 3, 16))  # 75 days
    windows, note = plan_windows(get_surface("openai_org_usage_completions"), opts)
    assert [(w.end - w.start).days for w in windows] == [31, 31, 13]
    assert windows[0].start == date(2026, 1, 1)
    assert windows[-1].end == date(2026, 3, 17)  # end date is inclusive
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert note is None


def test_costs_windows_respect_the_180_bucket_cap() -> None:
    opts = CaptureOptions(start=date(2026, 1, 1), end=date(2026, 7, 19))  # 200 days
    windows, _ = plan_windows(get_surface("openai_org_costs"), opts)
    assert [(w.end - w.start).days for w in windows] == [180, 20]


def test_window_override_cannot_exceed_the_vendor_cap() -> None:
    opts = CaptureOptions(
        start=date(2026, 1, 1), end=date(2026, 3, 1), window_days={"openai_org_costs": 500}
    )
    windows, _ = plan_windows(get_surface("openai_org_costs"), opts)
    assert max((w.end - w.start).days for w in windows) == 60


def test_codex_range_is_clamped_to_the_90_day_lookback() -> None:
    today = date(2026, 6, 30)
    opts = CaptureOptions(start=date(2026, 1, 1), end=today, today=today)
    windows, note = plan_windows(get_surface("chatgpt_enterprise_usage"), opts)
    assert windows[0].start == today - timedelta(days=89)
    assert windows[-1].end == today + timedelta(days=1)
    assert note is not None and "90 days" in note


def test_users_list_has_no_window() -> None:
    assert plan_windows(get_surface("openai_org_users"), options()) == ([], None)


def test_end_before_start_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="before"):
        CaptureOptions(start=END, end=START)


# -- cursors -------------------------------------------------------------------------------


def test_follows_next_page_cursors_keeping_the_query() -> None:
    seen: list[httpx.QueryParams] = []
    bodies = {None: page([1], "c1"), "c1": page([2], "c2"), "c2": page([3], None)}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        return httpx.Response(200, json=bodies[request.url.params.get("page")])

    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options())
    assert [p.body["data"] for p in chain.pages] == [[1], [2], [3]]
    assert [q.get("page") for q in seen] == [None, "c1", "c2"]
    assert all(q["group_by"] == "user_id" and q["bucket_width"] == "1d" for q in seen)
    assert chain.events == ()


def test_users_list_paginates_with_after_last_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        last = {None: "user-a", "user-a": "user-b"}.get(after)
        body = {"object": "list", "data": [], "last_id": last or "user-z", "has_more": bool(last)}
        return httpx.Response(200, json=body)

    chain = fetch_chain(fetcher(handler), access("openai_org_users"), None, options())
    assert len(chain.pages) == 3
    assert chain.pages[-1].url.endswith("after=user-b")


def test_cursor_loop_is_an_event_not_a_hang() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=page([1], "same-cursor"))

    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options())
    assert len(calls) == 2
    assert [(e.page, e.problem) for e in chain.events] == [(1, "cursor_loop")]


def test_has_more_without_cursor_is_an_event() -> None:
    body = {"object": "page", "data": [], "has_more": True, "next_page": None}
    chain = fetch_chain(
        fetcher(lambda r: httpx.Response(200, json=body)),
        access("openai_org_costs"),
        None,
        options(),
    )
    assert [(e.page, e.problem, e.cursor_field) for e in chain.events] == [
        (0, "has_more_without_cursor", "next_page")
    ]


def test_page_count_guard_stops_an_endless_chain() -> None:
    counter = iter(range(1_000_000))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page([], f"c{next(counter)}"))

    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options(max_pages=5))
    assert len(chain.pages) == 5
    assert chain.events[0].problem == "too_many_pages"


# -- retries -------------------------------------------------------------------------------


def flaky(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """Answer with each item in turn, then repeat the last one."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        answer = answers[min(len(calls), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, calls


def test_429_honours_retry_after_then_succeeds() -> None:
    handler, calls = flaky(
        httpx.Response(429, headers={"Retry-After": "3"}, json={"error": "slow down"}),
        httpx.Response(200, json=page([1], None)),
    )
    sleeps = Recorder()
    chain = fetch_chain(fetcher(handler, sleeps), access("openai_org_costs"), None, options())
    assert [p.status for p in chain.pages] == [200]
    assert len(calls) == 2
    assert sleeps.sleeps[0] >= 3.0


def test_retry_after_ms_is_preferred_like_the_openai_sdk() -> None:
    headers = httpx.Headers({"retry-after-ms": "250", "Retry-After": "9"})
    assert retry_after_seconds(headers) == 0.25


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, None),
        ({"retry-after-ms": "nan", "Retry-After": "2"}, 2.0),
        ({}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(httpx.Headers(headers)) == expected


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delay = policy.backoff(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_persistent_5xx_is_recorded_after_the_last_attempt() -> None:
    error = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    handler, calls = flaky(httpx.Response(503, json=error))
    sleeps = Recorder()
    chain = fetch_chain(fetcher(handler, sleeps), access("openai_org_costs"), None, options())
    assert len(calls) == POLICY.attempts
    assert len(sleeps.sleeps) == POLICY.attempts - 1
    assert [p.status for p in chain.pages] == [503]
    assert chain.failure is None


def test_non_retryable_status_is_not_retried() -> None:
    handler, calls = flaky(httpx.Response(400, json={"error": "bad"}))
    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options())
    assert len(calls) == 1
    assert chain.pages[0].status == 400


def test_retry_after_beyond_the_budget_stops_retrying() -> None:
    handler, calls = flaky(httpx.Response(429, headers={"Retry-After": "3600"}))
    sleeps = Recorder()
    chain = fetch_chain(fetcher(handler, sleeps), access("openai_org_costs"), None, options())
    assert len(calls) == 1
    assert sleeps.sleeps == []
    assert chain.pages[0].status == 429


def test_timeouts_and_dropped_connections_are_retried() -> None:
    handler, calls = flaky(
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection without sending complete body"),
        httpx.Response(200, json=page([1], None)),
    )
    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options())
    assert len(calls) == 3
    assert chain.pages[0].body["data"] == [1]


def test_a_2xx_that_is_not_json_is_retried() -> None:
    handler, calls = flaky(
        httpx.Response(200, content=b'{"object": "pa'),
        httpx.Response(200, json=page([1], None)),
    )
    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options())
    assert len(calls) == 2
    assert chain.pages[0].body is not None


def test_network_failure_beyond_retries_marks_the_chain_failed() -> None:
    handler, calls = flaky(httpx.ConnectError("connection refused"))
    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options())
    assert len(calls) == POLICY.attempts
    assert chain.failure is not None and "ConnectError" in chain.failure
    assert_no_canary(chain.failure)


# -- redirects and what is recorded ------------------------------------------------------------


def test_cross_host_redirect_is_not_followed_and_never_gets_the_key() -> None:
    hosts: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append((request.url.host, request.headers.get("authorization")))
        if request.url.host == "api.test":
            return httpx.Response(302, headers={"Location": "https://evil.example/steal"})
        return httpx.Response(200, json=page([], None))

    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options())
    assert [h for h, _ in hosts] == ["api.test"]
    assert chain.pages[0].status == 302
    assert chain.pages[0].body_text is not None and "not followed" in chain.pages[0].body_text


def test_same_origin_redirect_is_followed_with_the_key() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.url.path == "/v1/organization/costs":
            return httpx.Response(307, headers={"Location": "/v1/organization/costs2"})
        return httpx.Response(200, json=page([9], None))

    chain = fetch_chain(fetcher(handler), access("openai_org_costs"), None, options())
    assert chain.pages[0].body["data"] == [9]
    assert [auth for _, auth in seen] == [f"Bearer {CANARY_OPENAI_KEY}"] * 2


def test_recorded_pages_keep_headers_but_not_the_workspace_id_or_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"data": [], "has_more": False, "next_page": None}
        return httpx.Response(200, json=body, headers={"x-request-id": "req_1"})

    chain = fetch_chain(fetcher(handler), access("chatgpt_enterprise_usage"), None, options())
    recorded = chain.pages[0]
    assert recorded.headers["x-request-id"] == "req_1"
    assert "/workspaces/{workspace_id}/usage" in recorded.url
    assert_no_canary(orjson.dumps(recorded.to_json()))


def test_window_query_uses_unix_seconds() -> None:
    seen: list[httpx.QueryParams] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        return httpx.Response(200, json=page([], None))

    surface_access = access("openai_org_usage_completions")
    windows, _ = plan_windows(surface_access.surface, options())
    fetch_chain(fetcher(handler), surface_access, windows[0], options())
    assert seen[0]["start_time"] == str(unix(START))
    assert seen[0]["end_time"] == str(unix(END + timedelta(days=1)))
    assert seen[0]["limit"] == "31"


# -- whole runs --------------------------------------------------------------------------------


def run(handler: Handler, out: Path, names: list[str], **extra: Any) -> Any:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    safety = extra.pop("safety", IDENTITY)
    return run_capture(
        client, [access(n) for n in names], options(**extra), out, safety, sleep=Recorder()
    )


def test_final_non_2xx_becomes_an_http_status_finding_with_the_vendor_message(
    tmp_path: Path,
) -> None:
    error = {
        "error": {
            "message": "Invalid value for 'group_by': 'user_id'.",
            "type": "invalid_request_error",
            "param": "group_by",
            "code": "invalid_value",
        }
    }
    result = run(lambda r: httpx.Response(400, json=error), tmp_path, ["openai_org_costs"])
    assert result.exit_code == 1
    (finding,) = result.findings
    assert finding.kind == "http_status"
    assert "Invalid value for 'group_by'" in finding.message
    assert finding.pointer == "/pages/0/status"
    document = orjson.loads(result.paths[0].read_bytes())
    assert document["pages"][0]["status"] == 400
    assert document["findings"][0]["kind"] == "http_status"
    assert document["findings"][0]["source"] == str(result.paths[0])


def test_network_failure_writes_nothing_for_that_surface(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/users"):
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=page([], None))

    result = run(handler, tmp_path, ["openai_org_costs", "openai_org_users"])
    assert result.exit_code == 3
    assert [p.name.split("__")[0] for p in result.paths] == ["openai_org_costs"]
    assert result.failures[0].startswith("openai_org_users")
    assert sorted(p.name for p in tmp_path.iterdir()) == [result.paths[0].name]


def test_pages_of_all_windows_land_in_one_file_in_order(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start_time"])
        return httpx.Response(200, json=page([start], None))

    result = run(
        handler,
        tmp_path,
        ["openai_org_usage_completions"],
        window_days={"openai_org_usage_completions": 1},
    )
    document = orjson.loads(result.paths[0].read_bytes())
    starts = [p["body"]["data"][0] for p in document["pages"]]
    assert starts == [unix(START + timedelta(days=n)) for n in range(3)]
    assert document["request"]["query"]["start_time"] == unix(START)


def test_leak_gate_refusal_leaves_nothing_on_disk(tmp_path: Path) -> None:
    def refuse(data: bytes) -> None:
        raise RefusedError("leak gate: an email address at /pages/0/body/data/0")

    safety = Safety(anonymise=lambda c: c, guard=refuse)
    with pytest.raises(RefusedError):
        run(
            lambda r: httpx.Response(200, json=page([], None)),
            tmp_path,
            ["openai_org_costs"],
            safety=safety,
        )
    assert list(tmp_path.iterdir()) == []


def test_findings_are_built_from_the_anonymised_pages(tmp_path: Path) -> None:
    error = {
        "error": {
            "message": "user dev1@sandbox.example refused",
            "type": "x",
            "param": None,
            "code": None,
        }
    }

    pseudonym = b"u-0123456789abcdef01234567@anon.invalid"  # shaped like the anonymiser's

    def scrub(capture: Capture) -> Capture:
        text = orjson.dumps(capture.to_json()).replace(b"dev1@sandbox.example", pseudonym)
        from verifier.store import capture_from_json

        return capture_from_json(orjson.loads(text), "memory")

    result = run(
        lambda r: httpx.Response(403, json=error),
        tmp_path,
        ["openai_org_costs"],
        safety=Safety(anonymise=scrub, guard=lambda b: None),
    )
    assert pseudonym.decode() in result.findings[0].message
    assert b"dev1@sandbox.example" not in result.paths[0].read_bytes()


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    lock = threading.Lock()
    in_flight = [0, 0]  # now, max

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
        return httpx.Response(200, json=page([], None))

    result = run(
        handler,
        tmp_path,
        ["openai_org_usage_completions", "openai_org_costs"],
        concurrency=2,
        window_days={"openai_org_usage_completions": 1},
    )
    assert len(result.paths) == 2
    assert in_flight[1] == 2


def test_ctrl_c_cancels_every_chain_and_writes_nothing(tmp_path: Path) -> None:
    """SIGINT while chains run: the handler only cancels; KeyboardInterrupt is raised
    once the pool has stopped, and no capture file is written."""
    calls = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] == 1:
            os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread's handler
            time.sleep(0.05)
        else:
            # Pages no faster than a real server would give them: on a loaded machine
            # the main thread may wait a while for its turn to run the handler (once
            # 30,000 mock pages went by first); 50 pages are then about a second.
            time.sleep(0.02)
        # A fresh cursor every time: the chain would page on until the page guard.
        return httpx.Response(200, json=page([], f"cursor-{calls[0]}"))

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run(
            handler,
            tmp_path,
            ["openai_org_usage_completions"],
            window_days={"openai_org_usage_completions": 1},
        )
    assert signal.getsignal(signal.SIGINT) is before
    assert list(tmp_path.glob("**/*.json")) == []
    assert calls[0] < 50  # the chains stopped instead of paging on
