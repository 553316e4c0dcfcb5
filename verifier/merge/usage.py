"""Parser for `openai_org_usage_completions`: API tokens and requests per user/day.

Reads through its consumer contract (`verifier.consumer.declared`): daily buckets
whose edges are decoded in the recorded format, results grouped by `user_id` (a result
with a null `user_id` is usage nobody can be named for; an absent `input_cached_tokens`
reads as 0, as documented)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verifier.consumer.declared import OPENAI_ORG_USAGE_COMPLETIONS as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.inputs import Source
from verifier.merge.fields import readers
from verifier.merge.pages import Buckets, PageParser, combine_seen, feed
from verifier.merge.timestamps import day_reader
from verifier.merge.values import ValueProblem, identity
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
    parser = Parser(source.name, plan)
    feed(parser, source)
    combine(usage, parser.usage, source.name, parser.buckets.first)
    return usage


class Parser(PageParser):
    """One capture's buckets into an ApiUsage of its own, slice by slice (a
    `verifier.merge.pages.RowParser`); `keep` (a bucket -> bool) leaves buckets out."""

    def __init__(
        self, name: str, plan: ReadingPlan, keep: Callable[[Any], bool] | None = None
    ) -> None:
        super().__init__(name, keep)
        self.usage = ApiUsage()
        self.buckets = Buckets(name, day_reader(plan, "data[]"))
        self.usage.bucket_days = self.buckets.seen
        self._fields = readers(
            plan,
            "user_id",
            "input_tokens",
            "input_cached_tokens",
            "output_tokens",
            "num_model_requests",
        )

    @property
    def sources(self) -> list[str]:
        return self.usage.sources

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        user, tokens_in, cached, tokens_out, requests = self._fields
        days, keep = self.usage.days, self._keep
        for index, bucket in enumerate(rows, first):
            if keep is not None and not keep(bucket):
                continue
            day, partial, results = self.buckets.bucket(prefix, index, bucket)
            for position, result in enumerate(results):
                try:
                    user_id = identity(user.identifier(result))
                    counts = (
                        tokens_in.count(result),
                        cached.count(result),
                        tokens_out.count(result),
                        requests.count(result),
                    )
                except ValueProblem as problem:
                    raise problem.at(self.name, prefix, (index, position)) from None
                totals = days.get((day, user_id))
                if totals is None:
                    totals = days[day, user_id] = ApiDay()
                # Several results per user and bucket (e.g. also grouped by model) add up.
                totals.partial = totals.partial or partial
                totals.input += counts[0] or 0  # required counts are never None
                totals.cached_input += counts[1] or 0
                totals.output += counts[2] or 0
                totals.requests += counts[3] or 0


def combine(into: ApiUsage, part: ApiUsage, name: str, first: dict[str, str]) -> None:
    """Add one capture's API usage to that of the captures before it; `first` says where
    each date's first bucket is in `name` (for the error naming an overlap)."""
    combine_seen(name, into.bucket_days, part.bucket_days, first)
    if not into.sources:
        into.days = part.days
    else:
        for key, totals in part.days.items():
            known = into.days.get(key)
            if known is None:
                into.days[key] = totals
                continue
            known.partial = known.partial or totals.partial
            known.input += totals.input
            known.cached_input += totals.cached_input
            known.output += totals.output
            known.requests += totals.requests
    into.sources.extend(part.sources)


__all__ = ["CONTRACT", "SURFACE", "ApiDay", "ApiUsage", "Parser", "combine", "parse"]
