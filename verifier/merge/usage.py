"""Parser for `openai_org_usage_completions`: API tokens and requests per user/day.

Reads through its consumer contract (`verifier.consumer.declared`): daily buckets
whose edges are decoded in the recorded format, results grouped by `user_id` (a result
with a null `user_id` is usage nobody can be named for; an absent `input_cached_tokens`
reads as 0, as documented)."""

from __future__ import annotations

from dataclasses import dataclass, field

from verifier.consumer.declared import OPENAI_ORG_USAGE_COMPLETIONS as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.inputs import Source
from verifier.merge.fields import readers
from verifier.merge.pages import buckets
from verifier.merge.timestamps import day_reader
from verifier.merge.values import ValueProblem
from verifier.surfaces import OPENAI_ORG_USAGE_COMPLETIONS

SURFACE = OPENAI_ORG_USAGE_COMPLETIONS


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


def parse(source: Source, plan: ReadingPlan, into: ApiUsage | None = None) -> ApiUsage:
    usage = into if into is not None else ApiUsage()
    edges = day_reader(plan, "data[]")
    user, tokens_in, cached, tokens_out, requests = readers(
        plan,
        "user_id",
        "input_tokens",
        "input_cached_tokens",
        "output_tokens",
        "num_model_requests",
    )
    days = usage.days
    for prefix, index, day, partial, results in buckets(source, edges, usage.bucket_days):
        for position, result in enumerate(results):
            try:
                user_id = user.identifier(result)
                counts = (
                    tokens_in.count(result),
                    cached.count(result),
                    tokens_out.count(result),
                    requests.count(result),
                )
            except ValueProblem as problem:
                raise problem.at(source.name, prefix, (index, position)) from None
            totals = days.get((day, user_id))
            if totals is None:
                totals = days[day, user_id] = ApiDay()
            # Several results per user and bucket (e.g. also grouped by model) add up.
            totals.partial = totals.partial or partial
            totals.input += counts[0] or 0  # required counts are never None
            totals.cached_input += counts[1] or 0
            totals.output += counts[2] or 0
            totals.requests += counts[3] or 0
    usage.sources.append(source.name)
    return usage


__all__ = ["CONTRACT", "SURFACE", "ApiDay", "ApiUsage", "parse"]
