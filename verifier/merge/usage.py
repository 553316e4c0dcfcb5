"""Parser for `openai_org_usage_completions`: API tokens and requests per user/day.

Reads the documented shape (daily buckets with Unix-second edges, results grouped by
`user_id`); a result with a null `user_id` is usage nobody can be named for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verifier.inputs import Source
from verifier.merge.pages import buckets
from verifier.merge.timestamps import DayReader
from verifier.merge.values import (
    ValueProblem,
    count,
    identifier,
    member,
    optional_count,
    optional_member,
)
from verifier.surfaces import OPENAI_ORG_USAGE_COMPLETIONS

SURFACE = OPENAI_ORG_USAGE_COMPLETIONS

# The consumer contract: every path this parser reads (ancestors are implied).
CONSUMED_PATHS = frozenset(
    {
        "data",
        "has_more",
        "data[].start_time",
        "data[].end_time",
        "data[].results",
        "data[].results[].user_id",
        "data[].results[].input_tokens",
        "data[].results[].input_cached_tokens",
        "data[].results[].output_tokens",
        "data[].results[].num_model_requests",
    }
)


class ApiDay:
    """One OpenAI user's API usage for one UTC date (`input` includes `cached_input`)."""

    __slots__ = ("cached_input", "input", "output", "partial", "requests")

    def __init__(self) -> None:
        self.input = 0
        self.cached_input = 0
        self.output = 0
        self.requests = 0
        self.partial = False

    @property
    def tokens(self) -> int:
        """The weight for allocating a day's cost: all input (cached included) + output."""
        return self.input + self.output


@dataclass
class ApiUsage:
    days: dict[tuple[str, str | None], ApiDay] = field(default_factory=dict)  # (date, user_id)
    bucket_days: dict[str, bool] = field(default_factory=dict)  # date -> partial
    sources: list[str] = field(default_factory=list)


def parse(source: Source, into: ApiUsage | None = None) -> ApiUsage:
    usage = into if into is not None else ApiUsage()
    reader = DayReader(SURFACE, "data[].start_time", "data[].end_time")
    days = usage.days
    for prefix, index, day, partial, results in buckets(source, reader, usage.bucket_days):
        for position, result in enumerate(results):
            try:
                user_id, tokens_in, cached, tokens_out, requests = _read_fast(
                    result
                ) or _read_checked(result)
            except ValueProblem as problem:
                raise problem.at(source.name, prefix, (index, position)) from None
            totals = days.get((day, user_id))
            if totals is None:
                totals = days[day, user_id] = ApiDay()
            # Several results per user and bucket (e.g. also grouped by model) add up.
            totals.partial = totals.partial or partial
            totals.input += tokens_in
            totals.cached_input += cached
            totals.output += tokens_out
            totals.requests += requests
    usage.sources.append(source.name)
    return usage


# user id, input tokens (cached included), cached input tokens, output tokens, requests
_Result = tuple[str | None, int, int, int, int]


def _read_fast(result: Any) -> _Result | None:
    """The common case in a few lookups; None sends the result to `_read_checked`."""
    try:
        user_id, cached = result.get("user_id"), result.get("input_cached_tokens", 0)
        tokens_in, tokens_out = result["input_tokens"], result["output_tokens"]
        requests = result["num_model_requests"]
    except (KeyError, TypeError, AttributeError):
        return None
    if cached is None:
        cached = 0
    if (
        (user_id is not None and (type(user_id) is not str or not user_id))
        or type(tokens_in) is not int
        or type(cached) is not int
        or type(tokens_out) is not int
        or type(requests) is not int
        or tokens_in < 0
        or cached < 0
        or tokens_out < 0
        or requests < 0
    ):
        return None
    return user_id, tokens_in, cached, tokens_out, requests


def _read_checked(result: Any) -> _Result:
    """Reads a result field by field, raising ValueProblem at the first unreadable one."""
    path = "data[].results[]."
    return (
        identifier(optional_member(result, "user_id", path + "user_id"), path + "user_id"),
        count(member(result, "input_tokens", path + "input_tokens"), path + "input_tokens"),
        optional_count(
            optional_member(result, "input_cached_tokens", path + "input_cached_tokens"),
            path + "input_cached_tokens",
        ),
        count(member(result, "output_tokens", path + "output_tokens"), path + "output_tokens"),
        count(
            member(result, "num_model_requests", path + "num_model_requests"),
            path + "num_model_requests",
        ),
    )
