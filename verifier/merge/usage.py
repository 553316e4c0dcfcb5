"""Parser for `openai_org_usage_completions`: API tokens and requests per user/day.

Reads through its consumer contract (`verifier.consumer.declared`): daily buckets
whose edges are decoded in the recorded format, results grouped by `user_id` (a result
with a null `user_id` is usage nobody can be named for; an absent `input_cached_tokens`
reads as 0, as documented)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from verifier.consumer.declared import OPENAI_ORG_USAGE_COMPLETIONS as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.compiled import compile_reads
from verifier.merge.fields import readers
from verifier.merge.pages import Buckets, PageParser, combine_seen, feed
from verifier.merge.pairs import PairIndex, picker
from verifier.merge.spill import SpilledDates, budget
from verifier.merge.timestamps import day_reader
from verifier.merge.values import ValueProblem, identity
from verifier.surfaces import OPENAI_ORG_USAGE_COMPLETIONS

SURFACE = OPENAI_ORG_USAGE_COMPLETIONS
# A result's readings: user id, input, cached input, output tokens, requests.
Result = tuple[str | None, int | None, int | None, int | None, int | None]


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


class UsageDays:
    """API usage per (UTC date, user id), stored by column: a slot per pair
    (`verifier.merge.pairs.PairIndex`), the four counts in 64-bit arrays and the partial
    flags in a bytearray (about 40 bytes a pair where an ApiDay and its four ints take
    about 290: a half year of a thousand-seat organisation is hundreds of thousands of
    pairs). `items()` hands each pair over as a fresh ApiDay."""

    __slots__ = (
        "_cached",
        "_input",
        "_order",
        "_output",
        "_pairs",
        "_partial",
        "_requests",
        "_spilled",
    )

    def __init__(self) -> None:
        self._order: dict[str, None] = {}  # every date in the order it came
        self._spilled = SpilledDates()  # dates written to disk (`verifier.merge.spill`)
        self._fresh()

    def _fresh(self) -> None:
        self._pairs = PairIndex()
        self._input = array("q")
        self._cached = array("q")
        self._output = array("q")
        self._requests = array("q")
        self._partial = bytearray()

    def __len__(self) -> int:
        return len(self._partial) + self._spilled.pairs()

    def add(
        self, day: str, user_id: str | None, counts: tuple[int, int, int, int], partial: bool
    ) -> None:
        """Add one result (input, cached input, output, requests) to its pair."""
        if self._spilled and day in self._spilled:
            self._restore(day)  # the whole date back before it is added to
        slot, new = self._pairs.locate(day, user_id)
        try:
            if new:
                if day not in self._order:
                    self._order[day] = None
                self._input.append(counts[0])
                self._cached.append(counts[1])
                self._output.append(counts[2])
                self._requests.append(counts[3])
                self._partial.append(partial)
                return
            self._input[slot] += counts[0]
            self._cached[slot] += counts[1]
            self._output[slot] += counts[2]
            self._requests[slot] += counts[3]
            self._partial[slot] = self._partial[slot] or partial
        except OverflowError:  # sums beyond 2**63 tokens: bad input, never a wrapped count
            raise InputError(
                "merge", f"API token counts for {day} add up beyond 2**63; not a real count"
            ) from None

    def add_bucket(self, day: str, partial: bool, results: Sequence[Result]) -> None:
        """`add` for a bucket's results at once, each (user id, input, cached input,
        output, requests; an unknown count None, added as 0): the date looked up once,
        each pair's counts added in place."""
        if not results:
            return
        if self._spilled and day in self._spilled:
            self._restore(day)  # the whole date back before it is added to
        if day not in self._order:
            self._order[day] = None
        slots = self._pairs.locate_all(day, [result[0] for result in results])
        tokens_in, cached, tokens_out = self._input, self._cached, self._output
        requests, flags = self._requests, self._partial
        try:
            for slot, (_, more_in, more_cached, more_out, more_requests) in zip(
                slots, results, strict=True
            ):
                if slot == len(flags):  # a new pair: slots are handed out in order
                    tokens_in.append(more_in or 0)
                    cached.append(more_cached or 0)
                    tokens_out.append(more_out or 0)
                    requests.append(more_requests or 0)
                    flags.append(partial)
                    continue
                tokens_in[slot] += more_in or 0
                cached[slot] += more_cached or 0
                tokens_out[slot] += more_out or 0
                requests[slot] += more_requests or 0
                if partial:
                    flags[slot] = True
        except OverflowError:  # sums beyond 2**63 tokens: bad input, never a wrapped count
            raise InputError(
                "merge", f"API token counts for {day} add up beyond 2**63; not a real count"
            ) from None

    def spill_if_over(self) -> None:
        """Beyond the budget of pairs: every date to disk, and start again empty."""
        if len(self._partial) <= budget():
            return
        columns = (self._input, self._cached, self._output, self._requests)
        for day in self._pairs.days():
            users, slots = self._pairs.columns(day)
            if slots:
                pick = picker(slots)
                chunk = (  # by column: a date's values in a few C-level passes
                    users,
                    [array("q", pick(column)).tobytes() for column in columns],
                    bytes(pick(self._partial)),
                )
                self._spilled.put(day, chunk, len(slots))
        self._fresh()

    def _restore(self, day: str) -> None:
        users, counts, partial = self._spilled.pop(day)
        for user_id in users:
            self._pairs.insert(day, user_id)
        for column, values in zip(
            (self._input, self._cached, self._output, self._requests), counts, strict=True
        ):
            column.frombytes(values)
        self._partial.extend(partial)

    def days(self) -> list[str]:
        """Every date, in the order they came."""
        return list(self._order)

    def dates(self) -> set[str]:
        return self._pairs.dates() | self._spilled.dates()

    def pairs_on(self, day: str) -> int:
        """About how many pairs a date has (the join's work on it, for splitting)."""
        return self._pairs.count(day) + self._spilled.pairs_on(day)

    def items(self, day: str | None = None) -> Iterator[tuple[tuple[str, str | None], ApiDay]]:
        """Every pair, or those of one date."""
        for day_text in self.days() if day is None else [day]:
            for user_id, tokens_in, cached, tokens_out, requests, partial in self.figures(day_text):
                totals = ApiDay()
                totals.input, totals.cached_input, totals.output = tokens_in, cached, tokens_out
                totals.requests, totals.partial = requests, partial
                yield (day_text, user_id), totals

    def figures(self, day: str) -> Iterator[tuple[str | None, int, int, int, int, bool]]:
        """One date's pairs as (user id, input, cached input, output, requests, partial),
        no ApiDay made (the merge reads every pair this way). A date on disk is read
        from there, not brought back (the join reads each date once)."""
        chunk = self._spilled.get(day)
        if chunk is not None:
            users, counts, partial = chunk
            columns = [array("q", column) for column in counts]
            yield from zip(users, *columns, map(bool, partial), strict=True)
            return
        yield from self._held(day)

    def _held(self, day: str) -> Iterator[tuple[str | None, int, int, int, int, bool]]:
        users, slots = self._pairs.columns(day)
        if not slots:
            return
        pick = picker(slots)  # by column: a date's values in a few C-level passes
        columns = [pick(column) for column in (self._input, self._cached, self._output)]
        partial = map(bool, pick(self._partial))
        yield from zip(users, *columns, pick(self._requests), partial, strict=True)


@dataclass
class ApiUsage:
    days: UsageDays = field(default_factory=UsageDays)  # (date, user_id) -> counts
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
        self._fast = compile_reads(
            [(self._fields[0], "identifier"), *((f, "count") for f in self._fields[1:])]
        )

    @property
    def sources(self) -> list[str]:
        return self.usage.sources

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        fast, days, keep = self._fast, self.usage.days, self._keep
        for index, bucket in enumerate(rows, first):
            if keep is not None and not keep(bucket):
                continue
            day, partial, results = self.buckets.bucket(prefix, index, bucket)
            reads = [fast(result) for result in results]
            if None in reads:  # something is off: the careful reading decides
                self._careful(prefix, index, day, partial, results)
                continue
            # Several results per user and bucket (e.g. also grouped by model) add up;
            # a count the plan lets be unknown adds 0 (required counts are never None).
            # (User ids need no `intern`: the pair index keeps one string per user.)
            days.add_bucket(day, partial, cast(list[Result], reads))
        days.spill_if_over()

    def _careful(
        self, prefix: str, index: int, day: str, partial: bool, results: list[Any]
    ) -> None:
        """One bucket's results through the FieldReaders: what they mean, or the error."""
        user, tokens_in, cached, tokens_out, requests = self._fields
        for position, result in enumerate(results):
            try:
                user_id = identity(user.identifier(result))
                counts = (  # required counts are never None
                    tokens_in.count(result) or 0,
                    cached.count(result) or 0,
                    tokens_out.count(result) or 0,
                    requests.count(result) or 0,
                )
            except ValueProblem as problem:
                raise problem.at(self.name, prefix, (index, position)) from None
            self.usage.days.add(day, user_id, counts, partial)


def combine(into: ApiUsage, part: ApiUsage, name: str, first: dict[str, str]) -> None:
    """Add one capture's API usage to that of the captures before it; `first` says where
    each date's first bucket is in `name` (for the error naming an overlap)."""
    combine_seen(name, into.bucket_days, part.bucket_days, first)
    if not into.sources:
        into.days = part.days
    else:
        for day in part.days.days():  # date by date: a spilled one is read back alone
            for user_id, tokens_in, cached, tokens_out, requests, partial in part.days.figures(day):
                into.days.add(day, user_id, (tokens_in, cached, tokens_out, requests), partial)
            into.days.spill_if_over()
    into.sources.extend(part.sources)


__all__ = ["CONTRACT", "SURFACE", "ApiDay", "ApiUsage", "Parser", "combine", "parse"]
