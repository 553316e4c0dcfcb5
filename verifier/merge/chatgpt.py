"""Parser for `chatgpt_enterprise_usage`: Codex credits and tokens per workspace user/day.

Reads every documented shape through its consumer contract
(`verifier.consumer.declared.CHATGPT_ENTERPRISE_USAGE`): the seed's rows (RFC 3339
edges, `user{id,email}`, top-level `credits`, `tokens{}`) and the vendor's (Unix-second
edges, `user_id` / `actor{user_id,email}`, `totals{credits, threads, turns, *_tokens}`),
at the paths the reading plan gives (a lock's mapping, accepted moves included).
A row without a user is unattributed credits; a count the row does not carry is
unknown (None), never 0. The vendor's optional `totals.cost_usd` (native USD-billed
usage, separate from credits) is read exactly, unknown when a row does not carry it;
it is never added to credits or to API dollars. With a breakdown (`verify merge --by
model|client`) the credits per model (per client) are kept too
(`verifier.merge.breakdown`)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from sys import intern
from typing import Any

from verifier.consumer.declared import CHATGPT_ENTERPRISE_USAGE as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.breakdown import Breakdown, PartReader, Parts
from verifier.merge.compiled import compile_reads
from verifier.merge.fields import readers
from verifier.merge.pages import PageParser, feed
from verifier.merge.pairs import PairIndex, picker
from verifier.merge.spill import SpilledDates, budget
from verifier.merge.timestamps import day_reader
from verifier.merge.values import EXACT, ValueProblem, add_known, identity
from verifier.surfaces import CHATGPT_ENTERPRISE_USAGE

SURFACE = CHATGPT_ENTERPRISE_USAGE
COUNTS = ("threads", "turns", "input_tokens", "cached_input_tokens", "output_tokens")


class CodexDay:
    """One workspace user's Codex totals for one UTC date (None: a row lacked it)."""

    __slots__ = (
        "cached_input",
        "cost_usd",
        "credits",
        "input",
        "output",
        "partial",
        "threads",
        "turns",
    )

    def __init__(self) -> None:
        self.credits = Decimal(0)
        self.cost_usd: Decimal | None = Decimal(0)
        self.threads: int | None = 0
        self.turns: int | None = 0
        self.input: int | None = 0
        self.cached_input: int | None = 0
        self.output: int | None = 0
        self.partial = False

    def add(
        self, credits: Decimal, counts: list[int | None], cost_usd: Decimal | None = None
    ) -> None:
        """Add one row: credits, the counts in `COUNTS` order, the native USD cost."""
        self.credits += credits
        self.cost_usd = add_known(self.cost_usd, cost_usd)
        threads, turns, tokens_in, cached, tokens_out = counts
        self.threads = add_known(self.threads, threads)
        self.turns = add_known(self.turns, turns)
        self.input = add_known(self.input, tokens_in)
        self.cached_input = add_known(self.cached_input, cached)
        self.output = add_known(self.output, tokens_out)


_ZERO = Decimal(0)
_BEYOND_64_BITS = "Codex counts for one person and day add up beyond 2**63; not a real count"
_UNKNOWN = -1  # a count some row of the pair did not carry (counts are never negative)

# A pair's totals as the join reads them: credits, threads, turns, input, cached input
# and output tokens (None: unknown), the native dollars (None: unknown).
Cells = tuple[Decimal, int | None, int | None, int | None, int | None, int | None, Decimal | None]


def _known(column: Sequence[int]) -> list[int | None]:
    """A count column's values, None where unknown (the whole column in C when none is)."""
    if _UNKNOWN not in column:
        return list(column)
    return [None if count == _UNKNOWN else count for count in column]


class CodexDays(Mapping[tuple[str, str | None], CodexDay]):
    """Codex totals per (UTC date, workspace user), stored by column (as
    `verifier.merge.usage.UsageDays`): a slot per pair (`verifier.merge.pairs.PairIndex`),
    the five counts in 64-bit arrays (-1: unknown), credits and native dollars as exact
    Decimals in lists, the partial flags in a bytearray. About 160 bytes a pair (the
    Decimal most of it) where a CodexDay with its key and its ints took about 370 (a half
    year of a thousand seats is 200,000 pairs).
    Reading a pair hands over a fresh CodexDay; a parser adds its rows with `add_row`."""

    __slots__ = (
        "_counts",
        "_credits",
        "_native",
        "_order",
        "_pairs",
        "_partial",
        "_spilled",
    )

    def __init__(self) -> None:
        self._order: dict[str, None] = {}  # every date in the order it came
        self._spilled = SpilledDates()  # dates written to disk (`verifier.merge.spill`)
        self._fresh()

    def _fresh(self) -> None:
        self._pairs = PairIndex()
        self._counts = tuple(array("q") for _ in COUNTS)
        self._credits: list[Decimal] = []
        self._native: list[Decimal | None] = []
        self._partial = bytearray()

    def __len__(self) -> int:
        return len(self._pairs) + self._spilled.pairs()

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        for day in list(self._order):
            yield from self.keys_of(day)

    def __getitem__(self, key: tuple[str, str | None]) -> CodexDay:
        slot = self.slot(*key)
        if slot is None:
            raise KeyError(key)
        return self._totals(slot)

    def dates(self) -> set[str]:
        return self._pairs.dates() | self._spilled.dates()

    def pairs_on(self, day: str) -> int:
        """About how many pairs a date has (the join's work on it, for splitting)."""
        return self._pairs.count(day) + self._spilled.pairs_on(day)

    def days(self) -> list[str]:
        """Every date, in the order they came."""
        return list(self._order)

    def keys_of(self, day: str) -> list[tuple[str, str | None]]:
        """The pairs of one date."""
        if day in self._spilled:
            self._restore(day)
        return [(day, user_id) for user_id, _ in self._pairs.of(day)]

    def slot(self, day: str, user_id: str | None) -> int | None:
        if self._spilled and day in self._spilled:
            self._restore(day)  # the whole date back before any row of it is compared
        return self._pairs.find(day, user_id)

    def new(self, day: str, user_id: str | None, partial: bool) -> int:
        """A pair with nothing added yet (zeros, as CodexDay starts)."""
        if self._spilled and day in self._spilled:
            self._restore(day)
        if day not in self._order:
            self._order[day] = None
        slot = self._pairs.insert(day, user_id)
        for column in self._counts:
            column.append(0)
        self._credits.append(_ZERO)
        self._native.append(_ZERO)
        self._partial.append(partial)
        return slot

    def add_row(
        self,
        day: str,
        user_id: str | None,
        partial: bool,
        credits: Decimal,
        counts: Sequence[int | None],
        cost_usd: Decimal | None,
    ) -> None:
        """One row added to its pair, made when there is none (`slot`, `new`,
        `mark_partial` and `add` in one step: a row of a capture's hundred thousand).
        A second row for a named user and date is `_Overlap`, unless both are clamped
        edge pieces (unattributed rows of one date add up: nobody is counted twice)."""
        if self._spilled and day in self._spilled:
            self._restore(day)  # the whole date back before any row of it is compared
        slot = self._pairs.find(day, user_id)
        if slot is not None:
            if user_id is not None and not (partial and self._partial[slot]):
                raise _Overlap(day)
            if partial:
                self._partial[slot] = True
            self.add(slot, credits, counts, cost_usd)
            return
        threads, turns, tokens_in, cached, tokens_out = counts
        columns = self._counts
        try:  # unrolled: this is the common row (a new pair)
            columns[0].append(_UNKNOWN if threads is None else threads)
            columns[1].append(_UNKNOWN if turns is None else turns)
            columns[2].append(_UNKNOWN if tokens_in is None else tokens_in)
            columns[3].append(_UNKNOWN if cached is None else cached)
            columns[4].append(_UNKNOWN if tokens_out is None else tokens_out)
        except OverflowError:  # beyond 2**63: bad input; the columns back to one length
            for column in self._counts:
                del column[len(self._partial) :]
            raise InputError("merge", _BEYOND_64_BITS) from None
        if day not in self._order:
            self._order[day] = None
        self._pairs.insert(day, user_id)
        self._credits.append(_ZERO + credits)  # as `add` to a new pair's zero gives
        self._native.append(None if cost_usd is None else _ZERO + cost_usd)
        self._partial.append(partial)

    def spill_if_over(self) -> None:
        """Beyond the budget of pairs: every date to disk, and start again empty."""
        if len(self._partial) <= budget():
            return
        for day in self._pairs.days():
            users, slots = self._pairs.columns(day)
            if not slots:
                continue
            pick = picker(slots)
            chunk = (  # by column: a date's values in a few C-level passes
                users,
                list(map(str, pick(self._credits))),
                [None if value is None else str(value) for value in pick(self._native)],
                [array("q", pick(column)).tobytes() for column in self._counts],
                bytes(pick(self._partial)),
            )
            self._spilled.put(day, chunk, len(slots))
        self._fresh()

    def detach(self, day: str) -> CodexDays:
        """The date's pairs on their own when they are on disk (read back, not kept
        here: the join's way), else this CodexDays itself."""
        chunk = self._spilled.pop(day)
        if chunk is None:
            return self
        alone = CodexDays()
        alone._load(day, chunk)
        return alone

    def figures(self, day: str, take: bool = False) -> Iterator[tuple[str | None, Cells, bool]]:
        """One date's pairs as (user id, `Cells`, partial), no CodexDay made (the join
        reads every pair this way), column by column in a few C-level passes; `take`:
        taken out (the join's way). A date on disk is read from there, not brought back."""
        chunk = self._spilled.pop(day) if take else self._spilled.get(day)
        if chunk is not None:
            users, credits, native, counts, partial = chunk
            amounts: Iterator[Decimal] = map(Decimal, credits)
            dollars = [None if value is None else Decimal(value) for value in native]
            columns = [_known(array("q", column)) for column in counts]
            yield from zip(
                users, zip(amounts, *columns, dollars, strict=True), map(bool, partial), strict=True
            )
            return
        users, slots = self._pairs.columns(day)
        if not slots:
            return
        pick = picker(slots)
        cells = list(
            zip(
                pick(self._credits),
                *(_known(pick(column)) for column in self._counts),
                pick(self._native),
                strict=True,
            )
        )
        flags = list(map(bool, pick(self._partial)))
        if take:  # the pairs out of the index, their Decimals freed
            self._pairs.drop(day)
            for slot in slots:
                self._credits[slot] = _ZERO
                self._native[slot] = None
        yield from zip(users, cells, flags, strict=True)

    def _restore(self, day: str) -> None:
        self._load(day, self._spilled.pop(day))

    def _load(self, day: str, chunk: Any) -> None:
        if day not in self._order:
            self._order[day] = None
        users, credits, native, counts, partial = chunk
        for user_id in users:
            self._pairs.insert(day, user_id)
        for column, values in zip(self._counts, counts, strict=True):
            column.frombytes(values)
        self._credits.extend(map(Decimal, credits))
        self._native.extend(None if value is None else Decimal(value) for value in native)
        self._partial.extend(partial)

    def partial(self, slot: int) -> bool:
        return bool(self._partial[slot])

    def mark_partial(self, slot: int, partial: bool) -> None:
        if partial:
            self._partial[slot] = True

    def add(
        self,
        slot: int,
        credits: Decimal,
        counts: Sequence[int | None],
        cost_usd: Decimal | None = None,
    ) -> None:
        """`CodexDay.add` on a slot: a count stays unknown once a row lacked it."""
        self._credits[slot] += credits
        native = self._native[slot]
        self._native[slot] = None if native is None or cost_usd is None else native + cost_usd
        try:
            for column, value in zip(self._counts, counts, strict=True):
                if value is None:
                    column[slot] = _UNKNOWN
                elif column[slot] != _UNKNOWN:
                    column[slot] += value
        except OverflowError:  # beyond 2**63: bad input, never a wrapped count
            raise InputError("merge", _BEYOND_64_BITS) from None

    def _totals(self, slot: int) -> CodexDay:
        totals = CodexDay()
        totals.credits = self._credits[slot]
        totals.cost_usd = self._native[slot]
        columns = self._counts
        threads, turns, tokens_in = columns[0][slot], columns[1][slot], columns[2][slot]
        cached, tokens_out = columns[3][slot], columns[4][slot]
        totals.threads = None if threads == _UNKNOWN else threads
        totals.turns = None if turns == _UNKNOWN else turns
        totals.input = None if tokens_in == _UNKNOWN else tokens_in
        totals.cached_input = None if cached == _UNKNOWN else cached
        totals.output = None if tokens_out == _UNKNOWN else tokens_out
        totals.partial = bool(self._partial[slot])
        return totals


@dataclass
class CodexUsage:
    """Everything the merge needs from the ChatGPT surface, over all its sources.
    A `None` user id holds credits no workspace user is named for."""

    days: CodexDays = field(default_factory=CodexDays)
    emails: dict[str, str | None] = field(default_factory=dict)  # user id -> email
    sources: list[str] = field(default_factory=list)
    # Whether any row carried `totals.cost_usd`: only then is a person the capture does
    # not name on a covered date known to have 0 native dollars (else: unknown).
    native_reported: bool = False
    # With a breakdown (`--by model|client`): the parts per (day, workspace user).
    parts: dict[tuple[str, str | None], Parts] = field(default_factory=dict)


def parse(
    source: Source,
    plan: ReadingPlan,
    into: CodexUsage | None = None,
    breakdown: Breakdown | None = None,
) -> CodexUsage:
    usage = into if into is not None else CodexUsage()
    parser = Parser(source.name, plan, breakdown=breakdown)
    feed(parser, source)
    combine(usage, parser.usage, source.name)
    return usage


class Parser(PageParser):
    """One capture's rows into a CodexUsage of its own, slice by slice (a
    `verifier.merge.pages.RowParser`); `keep` (a row -> bool) leaves rows out unread;
    `breakdown` also keeps the credits per model or client (read only then)."""

    def __init__(
        self,
        name: str,
        plan: ReadingPlan,
        keep: Callable[[Any], bool] | None = None,
        breakdown: Breakdown | None = None,
    ) -> None:
        super().__init__(name, keep)
        self.usage = CodexUsage()
        self._edges = day_reader(plan, "data[]")
        self._user, self._email, self._credits, self._native = readers(
            plan, "user_id", "email", "credits", "cost_usd"
        )
        self._counts = readers(plan, *COUNTS)
        # The common row in one step; `_careful` for any other (`verifier.merge.compiled`).
        self._fast = compile_reads(
            [
                (self._edges.start.field, "plain"),
                (self._edges.end.field, "plain"),
                (self._user, "identifier"),
                (self._credits, "money"),
                (self._native, "money"),
                (self._email, "identifier"),
                *((reader, "count") for reader in self._counts),
            ]
        )
        self._parts = PartReader(plan, breakdown) if breakdown else None

    @property
    def sources(self) -> list[str]:
        return self.usage.sources

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        usage, fast, keep, parts = self.usage, self._fast, self._keep, self._parts
        emails, plain_days, day_of = usage.emails, self._edges.plain, self._edges.plain_day
        add_row = usage.days.add_row
        with localcontext(EXACT):  # credits add up exactly or the merge stops
            for index, row in enumerate(rows, first):
                if keep is not None and not keep(row):
                    continue
                try:
                    got = fast(row)
                    if got is None:  # something is off: the careful reading decides
                        self._careful(row)
                        continue
                    start, end, user_id, amount, native, address, *counts = got
                    found = plain_days.get((start, end)) or day_of(start, end)
                    add_row(found[0], user_id, found[1], amount, counts, native)
                    if native is not None:
                        usage.native_reported = True
                    if parts is not None:
                        user_id = user_id and intern(user_id)  # a key per pair: one string
                        parts.add(usage.parts.setdefault((found[0], user_id), Parts()), row)
                    if user_id is not None and (address is not None or user_id not in emails):
                        emails[user_id] = address
                except ValueProblem as problem:
                    raise problem.at(self.name, prefix, (index,)) from None
                except _Overlap as overlap:
                    raise InputError(
                        self.name, f"{prefix}/data/{index}: {_second_row(overlap.day)}"
                    ) from None
        usage.days.spill_if_over()  # between slices

    def _careful(self, row: Any) -> None:
        """One row through the FieldReaders: what it means, or the error it is."""
        usage = self.usage
        day, partial = self._edges.of(row)
        user_id = identity(self._user.identifier(row))
        amount = self._credits.money(row)
        assert amount is not None  # required: money() raised otherwise
        native = self._native.money(row)
        counts = [c.count(row) for c in self._counts]
        usage.days.add_row(day, user_id, partial, amount, counts, native)
        usage.native_reported = usage.native_reported or native is not None
        if self._parts is not None:
            self._parts.add(usage.parts.setdefault((day, user_id), Parts()), row)
        if user_id is not None:
            address = self._email.identifier(row)
            if address is not None or user_id not in usage.emails:
                usage.emails[user_id] = address


def combine(into: CodexUsage, part: CodexUsage, name: str) -> None:
    """Add one capture's Codex usage to that of the captures before it (the same rules
    as rows within one capture: a user's day twice only as two clamped edge pieces)."""
    into.native_reported = into.native_reported or part.native_reported
    if not into.sources:  # the first capture: taken as it is
        into.days, into.emails = part.days, part.emails
        into.parts = part.parts
        into.sources.extend(part.sources)
        return
    with localcontext(EXACT):
        days = into.days
        for day in part.days.days():  # date by date: a spilled one is read back alone
            alone = part.days.detach(day)
            for key in alone.keys_of(day):
                user_id, totals = key[1], alone[key]
                slot = days.slot(day, user_id)
                if slot is None:
                    slot = days.new(day, user_id, totals.partial)
                elif user_id is not None and not (totals.partial and days.partial(slot)):
                    raise InputError(name, _second_row(day))
                days.mark_partial(slot, totals.partial)
                counts = [totals.threads, totals.turns, totals.input, totals.cached_input]
                days.add(slot, totals.credits, [*counts, totals.output], totals.cost_usd)
            days.spill_if_over()
        for key, parts in part.parts.items():
            into.parts.setdefault(key, Parts()).absorb(parts)
    for user_id, address in part.emails.items():
        if address is not None or user_id not in into.emails:
            into.emails[user_id] = address
    into.sources.extend(part.sources)


def _second_row(day: str) -> str:
    return (
        f"a second row for the same workspace user and UTC date {day}; "
        "a merge would count that day twice"
    )


class _Overlap(Exception):
    def __init__(self, day: str) -> None:
        self.day = day


__all__ = [
    "CONTRACT",
    "SURFACE",
    "CodexDay",
    "CodexDays",
    "CodexUsage",
    "Parser",
    "add_known",
    "combine",
    "parse",
]
