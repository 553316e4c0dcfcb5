"""Builders of small capture sources for the merge tests (documented shapes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from verifier.consumer import CONTRACTS
from verifier.consumer.mapping import ReadingPlan, plan_from_profile
from verifier.inputs import Source, load_sources, source_from_document
from verifier.profile import profile_source
from verifier.store import Capture, Page, RequestInfo
from verifier.surfaces import SURFACES

DAY = date(2026, 5, 1)
DAY_SECONDS = 86_400


def unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def source(
    surface: str,
    *bodies: Any,
    query: Mapping[str, Any] | None = None,
    name: str | None = None,
    statuses: Sequence[int] | None = None,
    fingerprint: str | None = None,
    captured_at: str = "2026-05-02T00:00:00Z",
) -> Source:
    """A capture Source of `bodies` (one page each), as `verify capture` would write it."""
    spec = SURFACES[surface]
    codes = list(statuses or [200] * len(bodies))
    capture = Capture(
        surface=surface,
        request=RequestInfo("GET", spec.url_template, dict(spec.query if query is None else query)),
        pages=tuple(
            Page(status, spec.url_template, {}, body)
            for status, body in zip(codes, bodies, strict=True)
        ),
        captured_at=captured_at,
        key_fingerprint=fingerprint,
        source="test",
    )
    return source_from_document(capture.to_json(), name or f"{surface}.json", None)


def chatgpt_row(
    user_id: str,
    *,
    day: date = DAY,
    email: str | None = None,
    credits: Any = 0,
    threads: int = 0,
    turns: int = 0,
    tokens: tuple[int, int, int] = (0, 0, 0),
    start: Any = None,
    end: Any = None,
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id}
    if email is not None:
        user["email"] = email
    return {
        "start_time": rfc3339(day) if start is None else start,
        "end_time": rfc3339(day + timedelta(days=1)) if end is None else end,
        "user": user,
        "credits": credits,
        "threads": threads,
        "turns": turns,
        "tokens": {"text_input": tokens[0], "cached_input": tokens[1], "output": tokens[2]},
    }


def chatgpt_body(rows: list[Any], *, has_more: bool = False) -> dict[str, Any]:
    return {"data": rows, "has_more": has_more, "next_page": "cursor" if has_more else None}


def usage_result(
    user_id: str | None, *, tokens_in: int = 0, cached: int = 0, out: int = 0, requests: int = 0
) -> dict[str, Any]:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": tokens_in,
        "input_cached_tokens": cached,
        "output_tokens": out,
        "num_model_requests": requests,
        "user_id": user_id,
    }


def cost_result(user_id: str | None, value: Any, *, currency: Any = "usd") -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": currency},
        "line_item": None,
        "user_id": user_id,
        "project_id": None,
    }


def bucket(
    results: list[Any], *, day: date = DAY, start: int | None = None, end: int | None = None
) -> dict[str, Any]:
    return {
        "object": "bucket",
        "start_time": unix(day) if start is None else start,
        "end_time": unix(day) + DAY_SECONDS if end is None else end,
        "results": results,
    }


def openai_body(buckets: list[Any], *, has_more: bool = False) -> dict[str, Any]:
    return {
        "object": "page",
        "data": buckets,
        "has_more": has_more,
        "next_page": "page_x" if has_more else None,
    }


def users_body(
    users: Sequence[tuple[str, str | None]], *, has_more: bool = False
) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "organization.user", "id": uid, "email": email, "added_at": 0}
            for uid, email in users
        ],
        "first_id": None,
        "last_id": None,
        "has_more": has_more,
    }


PER_DAY_COSTS = {"bucket_width": "1d"}  # a costs capture not grouped by user


def documented_plans() -> dict[str, ReadingPlan]:
    """The reading plans locks of the documented captures give (seed shape for Codex,
    RFC 3339 Z edges there, Unix seconds on OpenAI): what the gate hands the merge."""
    from tests.conftest import DOCUMENTED_CAPTURES

    plans = {}
    for path in sorted(DOCUMENTED_CAPTURES.glob("*.json")):
        (documented,) = load_sources([path])
        contract = CONTRACTS[documented.surface.name]
        plans[contract.surface] = plan_from_profile(contract, profile_source(documented))
    return plans
