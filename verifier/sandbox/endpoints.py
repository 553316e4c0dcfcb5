"""The four emulated endpoints: parameter validation, data, pagination.

Each endpoint is a function `(config, Request) -> Answer`; vendor validation errors are
raised as `ApiError` (OpenAI envelope) or `ValidationProblem` (the Codex API's
FastAPI-style 422) and turned into answers by the server. Cursors are opaque, bound to
the exact query like the vendor's (replaying one with another query is a 400).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from verifier.sandbox import shapes
from verifier.sandbox.data import (
    DAY_SECONDS,
    ApiDay,
    api_rows,
    codex_page,
    day_of,
    day_start,
    days_between,
    people,
)
from verifier.sandbox.scenarios import SandboxConfig

CODEX_LOOKBACK_DAYS = 90
CODEX_DEFAULT_DAYS = 30
USAGE_GROUP_BY = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
COSTS_GROUP_BY = ("project_id", "line_item", "user_id", "api_key_id")
COSTS_GROUP_BY_DOCUMENTED = ("project_id", "line_item", "api_key_id")


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    query: Mapping[str, tuple[str, ...]]

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def group_by(self) -> tuple[str, ...]:
        """`group_by=a`, `group_by[]=a&group_by[]=b` and `group_by=a,b` are all accepted."""
        raw = [*self.query.get("group_by", ()), *self.query.get("group_by[]", ())]
        return tuple(part for value in raw for part in value.split(",") if part)

    def fingerprint(self) -> str:
        """The query without its cursor: a cursor is only valid for the same query."""
        kept = sorted(
            (k, v) for k, vs in self.query.items() if k not in ("page", "after") for v in vs
        )
        return hashlib.sha256(orjson.dumps([self.path, kept])).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


def json_answer(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Answer:
    return Answer(status, orjson.dumps(document), headers=dict(headers or {}))


class ApiError(Exception):
    """A vendor error answered with the OpenAI envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = "invalid_request_error",
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.envelope = {"error": {"message": message, "type": kind, "param": param, "code": code}}

    def answer(self) -> Answer:
        return json_answer(self.status, self.envelope)


class ValidationProblem(Exception):
    """The Codex analytics API validates like FastAPI: 422 `{detail: [{loc, msg, type}]}`."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.detail = [{"loc": ["query", name], "msg": message, "type": "value_error"}]

    def answer(self) -> Answer:
        return json_answer(422, {"detail": self.detail})


# -- shared parameter parsing --------------------------------------------------------------


def int_param(request: Request, name: str, problem: Callable[[str, str], Exception]) -> int | None:
    raw = request.one(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise problem(name, f"Invalid type for '{name}'.") from None


def openai_problem(name: str, message: str) -> ApiError:
    return ApiError(400, message, param=name, code="invalid_type")


def openai_range_problem(name: str, message: str) -> ApiError:
    """Out-of-range values come back with `param: null` (api-facts §1.2 item 5)."""
    return ApiError(400, message, param=None)


def limit_param(
    request: Request,
    default: int,
    maximum: int,
    problem: Callable[[str, str], Exception],
    range_problem: Callable[[str, str], Exception] | None = None,
) -> int:
    """`limit` within [1, maximum]; an out-of-range value is rejected, never clamped."""
    limit = int_param(request, "limit", problem)
    if limit is None:
        return default
    out_of_range = range_problem or problem
    if limit > maximum:
        raise out_of_range(
            "limit",
            f"Invalid limit provided: {limit}. Limit must be less than or equal to {maximum}.",
        )
    if limit < 1:
        raise out_of_range("limit", f"Invalid limit provided: {limit}. Limit must be at least 1.")
    return limit


def encode_cursor(offset: int, request: Request) -> str:
    token = f"{offset}:{request.fingerprint()}".encode()
    return "page_" + base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode_cursor(cursor: str | None, request: Request) -> int:
    """Offset of a cursor, or 0 without one; a cursor from another query is refused."""
    if cursor is None:
        return 0
    try:
        raw = cursor.removeprefix("page_")
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        offset_text, fingerprint = text.split(":", 1)
        offset = int(offset_text)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Invalid page cursor.", param="page") from None
    if fingerprint != request.fingerprint() or offset < 0:
        raise ApiError(
            400,
            "The page cursor does not belong to this query; restart without 'page'.",
            param="page",
        )
    return offset


def page_of(items: list[Any], offset: int, size: int) -> tuple[list[Any], bool]:
    chunk = items[offset : offset + size]
    return chunk, offset + size < len(items)


# -- OpenAI usage and costs: daily buckets --------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketQuery:
    start: int
    end: int
    limit: int
    group_by_user: bool
    offset: int


def bucket_query(
    config: SandboxConfig,
    request: Request,
    *,
    max_limit: int,
    allowed_group_by: tuple[str, ...],
    other_widths_valid: bool,
) -> BucketQuery:
    start = int_param(request, "start_time", openai_problem)
    if start is None:
        raise ApiError(400, "Missing required parameter: 'start_time'.", param=None)
    end = int_param(request, "end_time", openai_problem)
    end = day_start(config.anchor) if end is None else end
    if start < 0 or end <= start:
        raise ApiError(400, "'end_time' must be after 'start_time'.", param="end_time")
    width = request.one("bucket_width") or "1d"
    if width != "1d":
        if other_widths_valid and width in ("1m", "1h"):
            raise ApiError(
                400,
                f"bucket_width={width} is valid for the vendor but the sandbox emulates 1d",
                param="bucket_width",
            )
        raise ApiError(
            400,
            f"Invalid value for 'bucket_width': '{width}'. Supported values are: '1d'.",
            param="bucket_width",
            code="invalid_value",
        )
    group_by = request.group_by()
    for value in group_by:
        if value not in allowed_group_by:
            listed = ", ".join(f"'{v}'" for v in allowed_group_by)
            raise ApiError(
                400,
                f"Invalid value for 'group_by': '{value}'. Supported values are: {listed}.",
                param="group_by",
                code="invalid_value",
            )
    return BucketQuery(
        start=start,
        end=end,
        limit=limit_param(request, 7, max_limit, openai_problem, openai_range_problem),
        group_by_user="user_id" in group_by,
        offset=decode_cursor(request.one("page"), request),
    )


def bucket_bounds(start: int, end: int) -> list[tuple[int, int]]:
    """Daily buckets covering [start, end), edge buckets clamped to the window."""
    first = start - start % DAY_SECONDS
    return [
        (max(day, start), min(day + DAY_SECONDS, end)) for day in range(first, end, DAY_SECONDS)
    ]


def in_history(config: SandboxConfig, seconds: int) -> bool:
    day = day_of(seconds)
    return config.anchor - timedelta(days=config.days) <= day < config.anchor


def day_rows(config: SandboxConfig, seconds: int, group_by_user: bool) -> list[ApiDay]:
    if not in_history(config, seconds):
        return []
    rows = api_rows(config.users, day_of(seconds))
    if group_by_user or not rows:
        return rows
    return [_total(rows)]


def _total(rows: list[ApiDay]) -> ApiDay:
    """Without group_by the vendor answers one result per bucket, group fields null."""
    return ApiDay(
        person=None,
        day=rows[0].day,
        input_tokens=sum(r.input_tokens for r in rows),
        cached_tokens=sum(r.cached_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        requests=sum(r.requests for r in rows),
    )


def bucket_page(
    config: SandboxConfig,
    request: Request,
    query: BucketQuery,
    result: Callable[[ApiDay], dict[str, Any]],
    page_size: int,
) -> dict[str, Any]:
    bounds, has_more = page_of(bucket_bounds(query.start, query.end), query.offset, page_size)
    buckets = [
        shapes.bucket(s, e, [result(row) for row in day_rows(config, s, query.group_by_user)])
        for s, e in bounds
    ]
    cursor = encode_cursor(query.offset + page_size, request) if has_more else None
    return shapes.openai_page(buckets, has_more, cursor)


def usage_completions(config: SandboxConfig, request: Request, page_cap: int | None) -> Answer:
    width = request.one("bucket_width") or "1d"
    max_limit = {"1d": 31, "1h": 168, "1m": 1440}.get(width, 31)
    query = bucket_query(
        config,
        request,
        max_limit=max_limit,
        allowed_group_by=USAGE_GROUP_BY,
        other_widths_valid=True,
    )
    shape = config.scenario.shape
    size = min(query.limit, page_cap or query.limit)
    return json_answer(
        200, bucket_page(config, request, query, lambda r: shapes.usage_result(r, shape), size)
    )


def costs(config: SandboxConfig, request: Request, page_cap: int | None) -> Answer:
    allowed = COSTS_GROUP_BY_DOCUMENTED if config.scenario.rejects_user_grouping else COSTS_GROUP_BY
    query = bucket_query(
        config, request, max_limit=180, allowed_group_by=allowed, other_widths_valid=False
    )
    shape = config.scenario.shape
    size = min(query.limit, page_cap or query.limit)
    return json_answer(
        200, bucket_page(config, request, query, lambda r: shapes.cost_result(r, shape), size)
    )


# -- OpenAI users list: `after` cursor ------------------------------------------------------


def users(config: SandboxConfig, request: Request, page_cap: int | None) -> Answer:
    limit = limit_param(request, 20, 100, openai_problem, openai_range_problem)
    size = min(limit, page_cap or limit)
    everyone = list(people(config.users))
    after = request.one("after")
    offset = 0
    if after:
        ids = [p.openai_id for p in everyone]
        if after not in ids:
            raise ApiError(400, "Invalid 'after': no user with that id.", param="after")
        offset = ids.index(after) + 1
    chunk, has_more = page_of(everyone, offset, size)
    listed = [shapes.user_object(p, config.scenario.shape) for p in chunk]
    return json_answer(200, shapes.users_page(listed, has_more))


# -- ChatGPT Enterprise Codex usage ---------------------------------------------------------


def codex_usage(config: SandboxConfig, request: Request, page_cap: int | None) -> Answer:
    anchor = day_start(config.anchor)
    start = int_param(request, "start_time", ValidationProblem)
    end = int_param(request, "end_time", ValidationProblem)
    end = anchor if end is None else end
    start = end - CODEX_DEFAULT_DAYS * DAY_SECONDS if start is None else start
    if end <= start:
        raise ValidationProblem("end_time", "end_time must be after start_time")
    if start < anchor - CODEX_LOOKBACK_DAYS * DAY_SECONDS:
        raise ValidationProblem(
            "start_time", f"start_time is more than {CODEX_LOOKBACK_DAYS} days in the past"
        )
    group_by = request.one("group_by") or "day"
    if group_by not in ("day", "week"):
        raise ValidationProblem("group_by", "Input should be 'day' or 'week'")
    if group_by == "week":
        raise ValidationProblem("group_by", "group_by=week is not emulated by the sandbox")
    limit = limit_param(request, 1000, 30_000, ValidationProblem)
    size = min(limit, page_cap or limit)
    offset = decode_cursor(request.one("page"), request)
    days = [
        d
        for d in days_between(day_of(start), day_of(end - 1) + timedelta(days=1))
        if in_history(config, day_start(d))
    ]
    chunk, total = codex_page(config.people_in_chatgpt, days, offset, size)
    has_more = offset + size < total
    shape = config.scenario.shape
    cursor = encode_cursor(offset + size, request) if has_more else None
    rows = [shapes.codex_row(row, shape) for row in chunk]
    return json_answer(200, shapes.codex_page(rows, has_more, cursor, shape))
