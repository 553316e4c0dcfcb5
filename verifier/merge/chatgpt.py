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

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from verifier.consumer.declared import CHATGPT_ENTERPRISE_USAGE as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.breakdown import Breakdown, PartReader, Parts
from verifier.merge.fields import readers
from verifier.merge.pages import PageParser, feed
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


@dataclass
class CodexUsage:
    """Everything the merge needs from the ChatGPT surface, over all its sources.
    A `None` user id holds credits no workspace user is named for."""

    days: dict[tuple[str, str | None], CodexDay] = field(default_factory=dict)
    emails: dict[str, str | None] = field(default_factory=dict)  # user id -> email
    credits_in: Decimal = Decimal(0)
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
        self._parts = PartReader(plan, breakdown) if breakdown else None

    @property
    def sources(self) -> list[str]:
        return self.usage.sources

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        usage, edges, user, email, credits = (
            self.usage,
            self._edges,
            self._user,
            self._email,
            self._credits,
        )
        counts, keep, emails = self._counts, self._keep, self.usage.emails
        native_reader, parts = self._native, self._parts
        with localcontext(EXACT):  # credits add up exactly or the merge stops
            for index, row in enumerate(rows, first):
                if keep is not None and not keep(row):
                    continue
                try:
                    day, partial = edges.of(row)
                    user_id = identity(user.identifier(row))
                    amount = credits.money(row)
                    assert amount is not None  # required: money() raised otherwise
                    native = native_reader.money(row)
                    _day(usage, day, user_id, partial).add(
                        amount, [c.count(row) for c in counts], native
                    )
                    usage.credits_in += amount
                    usage.native_reported = usage.native_reported or native is not None
                    if parts is not None:
                        parts.add(usage.parts.setdefault((day, user_id), Parts()), row)
                    if user_id is not None:
                        address = email.identifier(row)
                        if address is not None or user_id not in emails:
                            emails[user_id] = address
                except ValueProblem as problem:
                    raise problem.at(self.name, prefix, (index,)) from None
                except _Overlap as overlap:
                    raise InputError(
                        self.name, f"{prefix}/data/{index}: {_second_row(overlap.day)}"
                    ) from None


def combine(into: CodexUsage, part: CodexUsage, name: str) -> None:
    """Add one capture's Codex usage to that of the captures before it (the same rules
    as rows within one capture: a user's day twice only as two clamped edge pieces)."""
    into.native_reported = into.native_reported or part.native_reported
    if not into.sources:  # the first capture: taken as it is
        into.days, into.emails, into.credits_in = part.days, part.emails, part.credits_in
        into.parts = part.parts
        into.sources.extend(part.sources)
        return
    with localcontext(EXACT):
        for key, totals in part.days.items():
            known = into.days.get(key)
            if known is None:
                into.days[key] = totals
                continue
            if key[1] is not None and not (totals.partial and known.partial):
                raise InputError(name, _second_row(key[0]))
            known.partial = known.partial or totals.partial
            known.add(
                totals.credits,
                [totals.threads, totals.turns, totals.input, totals.cached_input, totals.output],
                totals.cost_usd,
            )
        into.credits_in += part.credits_in
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


def _day(usage: CodexUsage, day: str, user_id: str | None, partial: bool) -> CodexDay:
    key = (day, user_id)
    totals = usage.days.get(key)
    if totals is None:
        totals = usage.days[key] = CodexDay()
    elif user_id is not None and not (partial and totals.partial):
        # Two pieces of one day are fine only when both are clamped edge buckets
        # (unattributed rows of one day add up: nobody is counted twice).
        raise _Overlap(day)
    totals.partial = totals.partial or partial
    return totals


__all__ = [
    "CONTRACT",
    "SURFACE",
    "CodexDay",
    "CodexUsage",
    "Parser",
    "add_known",
    "combine",
    "parse",
]
