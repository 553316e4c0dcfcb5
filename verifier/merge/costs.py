"""Parser for `openai_org_costs`: API dollars per day, per user when the capture is
grouped by `user_id`.

`amount.value` is DOLLARS, read exactly (Decimal) from a JSON number or a numeric
string (times the scale a reviewer stated in the lock); any currency but `usd` is
refused rather than added to dollars. Fields are read through the consumer contract
(`verifier.consumer.declared.OPENAI_ORG_COSTS`) at the paths the reading plan gives.

A result is attributed by `user_id`; one without a `user_id` but with the live-only
`user_email` (api-facts §1.2.2) is attributed to the person with that email (emails are
pseudonymised from the address alone, so the same address joins across surfaces); one
with neither is unattributed. `organization_id` is not read (see the contract)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from sys import intern
from typing import Any, cast

from verifier.consumer.declared import OPENAI_ORG_COSTS as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.compiled import compile_reads
from verifier.merge.fields import readers
from verifier.merge.pages import Buckets, PageParser, combine_seen, feed
from verifier.merge.spill import Spill, Token, budget
from verifier.merge.timestamps import day_reader
from verifier.merge.values import EXACT, ValueProblem, describe, identity
from verifier.store import Capture
from verifier.surfaces import OPENAI_ORG_COSTS

SURFACE = OPENAI_ORG_COSTS
_Plain = list[tuple[Any, ...]]  # a bucket's readings, none of them None


class CostDay:
    """One UTC date of costs. `by_user` holds billed amounts (key None: a result with
    no user); `pooled` is a per-day/per-project total the merge allocates by tokens.
    Beyond the spill budget the two dicts wait on disk (`stash`) and come back when
    either is next read (so every reader sees them whole, as in memory)."""

    __slots__ = ("_by_email", "_by_user", "_stored", "grouped_by_user", "partial", "pooled")

    def __init__(
        self,
        by_user: dict[str | None, Decimal] | None = None,
        by_email: dict[str, Decimal] | None = None,
        pooled: Decimal = Decimal(0),
        grouped_by_user: bool = True,
        partial: bool = False,
    ) -> None:
        self._by_user: dict[str | None, Decimal] = {} if by_user is None else by_user
        self._by_email: dict[str, Decimal] = {} if by_email is None else by_email
        self._stored: tuple[Spill, Token] | None = None
        self.pooled = pooled
        self.grouped_by_user = grouped_by_user
        self.partial = partial

    @property
    def by_user(self) -> dict[str | None, Decimal]:
        if self._stored is not None:
            self._restore()
        return self._by_user

    @by_user.setter
    def by_user(self, value: dict[str | None, Decimal]) -> None:
        if self._stored is not None:
            self._restore()
        self._by_user = value

    @property
    def by_email(self) -> dict[str, Decimal]:
        if self._stored is not None:
            self._restore()
        return self._by_email

    @by_email.setter
    def by_email(self, value: dict[str, Decimal]) -> None:
        if self._stored is not None:
            self._restore()
        self._by_email = value

    def held(self) -> int:
        """Amounts held in memory."""
        return len(self._by_user) + len(self._by_email)

    def stash(self, spill: Spill) -> None:
        """The amounts to `spill` (as their exact text), to come back when next read."""
        if self._stored is not None or not self.held():
            return
        users = [(user_id, str(value)) for user_id, value in self._by_user.items()]
        emails = [(address, str(value)) for address, value in self._by_email.items()]
        self._stored = (spill, spill.put((users, emails)))
        self._by_user, self._by_email = {}, {}

    def release(self) -> None:
        """Forget the amounts (the join has read them; a parser may still hold this day)."""
        self._by_user, self._by_email, self._stored = {}, {}, None

    def amounts(self) -> tuple[dict[str | None, Decimal], dict[str, Decimal]]:
        """`by_user` and `by_email` to read, left on disk when they wait there (a reader
        of every date in turn, the restatement digests, holds one date at a time)."""
        if self._stored is None:
            return self._by_user, self._by_email
        return self._read(*self._stored)

    def _restore(self) -> None:
        assert self._stored is not None
        stored, self._stored = self._stored, None
        self._by_user, self._by_email = self._read(*stored)

    @staticmethod
    def _read(spill: Spill, token: Token) -> tuple[dict[str | None, Decimal], dict[str, Decimal]]:
        users, emails = spill.get(token)
        return (
            {user_id: Decimal(value) for user_id, value in users},
            {address: Decimal(value) for address, value in emails},
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CostDay):
            return NotImplemented
        return (
            self.by_user == other.by_user
            and self.by_email == other.by_email
            and self.pooled == other.pooled
            and self.grouped_by_user == other.grouped_by_user
            and self.partial == other.partial
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it was

    def __repr__(self) -> str:
        return (
            f"CostDay(by_user={self.by_user!r}, by_email={self.by_email!r}, "
            f"pooled={self.pooled!r}, grouped_by_user={self.grouped_by_user!r}, "
            f"partial={self.partial!r})"
        )


@dataclass
class ApiCosts:
    days: dict[str, CostDay] = field(default_factory=dict)
    bucket_days: dict[str, bool] = field(default_factory=dict)
    dollars_in: Decimal = Decimal(0)
    sources: list[str] = field(default_factory=list)
    spill: Spill = field(default_factory=Spill, compare=False, repr=False)

    def spill_if_over(self) -> None:
        """Beyond the budget of amounts held: every date's to disk."""
        if sum(cost_day.held() for cost_day in self.days.values()) > budget():
            for cost_day in self.days.values():
                cost_day.stash(self.spill)


def parse(source: Source, plan: ReadingPlan, into: ApiCosts | None = None) -> ApiCosts:
    costs = into if into is not None else ApiCosts()
    parser = Parser(source.name, plan, source.capture)
    feed(parser, source)
    combine(costs, parser.costs, source.name, parser.buckets.first)
    return costs


class Parser(PageParser):
    """One capture's cost buckets into an ApiCosts of its own, slice by slice (a
    `verifier.merge.pages.RowParser`); `keep` (a bucket -> bool) leaves buckets out.

    A capture is grouped by user when its request asked for it or when any result names
    a user, which a stream knows only at the end: amounts are summed per user either way
    and pooled per day at `finish` when the capture turns out not to be grouped."""

    def __init__(
        self,
        name: str,
        plan: ReadingPlan,
        capture: Capture | None,
        keep: Callable[[Any], bool] | None = None,
    ) -> None:
        super().__init__(name, keep)
        self.costs = ApiCosts()
        self.buckets = Buckets(name, day_reader(plan, "data[]"))
        self.costs.bucket_days = self.buckets.seen
        self._fields = readers(plan, "user_id", "amount", "currency", "user_email")
        user, amount, currency, email = self._fields
        self._fast = compile_reads(
            [(currency, "plain"), (amount, "money"), (user, "identifier"), (email, "identifier")]
        )
        self._grouped = capture is not None and "user_id" in _group_by(capture.request.query)

    @property
    def sources(self) -> list[str]:
        return self.costs.sources

    def finish(self) -> None:
        if not self._grouped:
            with localcontext(EXACT):
                for cost_day in self.costs.days.values():
                    cost_day.grouped_by_user = False
                    for amount in (*cost_day.by_user.values(), *cost_day.by_email.values()):
                        cost_day.pooled += amount
                    cost_day.by_user, cost_day.by_email = {}, {}
        super().finish()

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        days, keep, fast = self.costs.days, self._keep, self._fast
        with localcontext(EXACT):  # dollars add up exactly or the merge stops
            for index, bucket in enumerate(rows, first):
                if keep is not None and not keep(bucket):
                    continue
                day, partial, results = self.buckets.bucket(prefix, index, bucket)
                cost_day = days.get(day)
                if cost_day is None:
                    cost_day = days[day] = CostDay()
                cost_day.partial = cost_day.partial or partial
                reads = [fast(result) for result in results]
                if None in reads:  # something is off: the careful reading decides
                    self._careful(prefix, index, cost_day, results)
                else:
                    self._add_plain(cost_day, cast(_Plain, reads), results, (prefix, index))
        self.costs.spill_if_over()

    def _add_plain(
        self, cost_day: CostDay, reads: _Plain, results: list[Any], where: tuple[str, int]
    ) -> None:
        """A bucket's results read by the fast path: `_add_result` for plain ones."""
        by_user, by_email, total = cost_day.by_user, cost_day.by_email, Decimal(0)
        for position, (code, value, user_id, address) in enumerate(reads):
            if code != "usd":  # `_add_result` says what else it may be, or which error
                try:
                    self._add_result(cost_day, results[position])
                except ValueProblem as problem:
                    raise problem.at(self.name, where[0], (where[1], position)) from None
                continue
            if user_id is not None:
                user_id = intern(user_id)
                had = by_user.get(user_id)
                by_user[user_id] = value if had is None else had + value
                self._grouped = True  # a result names a user
            elif address is not None:
                key = address.strip().lower()  # as the merge keys people by email
                had = by_email.get(key)
                by_email[key] = value if had is None else had + value
                self._grouped = True
            else:
                if not self._grouped and isinstance(self._fields[0].raw(results[position]), str):
                    self._grouped = True  # an empty user id is still one
                by_user[None] = by_user[None] + value if None in by_user else value
            total += value
        self.costs.dollars_in += total

    def _careful(self, prefix: str, index: int, cost_day: CostDay, results: list[Any]) -> None:
        """One bucket's results through the FieldReaders: what they mean, or the error."""
        for position, result in enumerate(results):
            try:
                self._add_result(cost_day, result)
            except ValueProblem as problem:
                raise problem.at(self.name, prefix, (index, position)) from None

    def _add_result(self, cost_day: CostDay, result: Any) -> None:
        user, amount, currency, email = self._fields
        code = currency.value(result)
        if not isinstance(code, str) or code.lower() != "usd":
            shown = f'"{code}"' if isinstance(code, str) and len(code) <= 8 else describe(code)
            raise ValueProblem(
                currency.path,
                f"expected usd, found {shown}; the merge assumes dollars and never converts",
            )
        value = amount.money(result)
        assert value is not None  # required: money() raised otherwise
        user_id = identity(user.identifier(result))
        address = email.identifier(result) if user_id is None else None
        if not self._grouped and (isinstance(user.raw(result), str) or address is not None):
            self._grouped = True  # a result names a user: the capture is grouped by user
        if address is not None:
            key = address.strip().lower()  # as the merge keys people by email
            by_email = cost_day.by_email
            by_email[key] = by_email[key] + value if key in by_email else value
        else:
            by_user = cost_day.by_user
            by_user[user_id] = by_user[user_id] + value if user_id in by_user else value
        self.costs.dollars_in += value


def combine(into: ApiCosts, part: ApiCosts, name: str, first: dict[str, str]) -> None:
    """Add one capture's costs to those of the captures before it; `first` says where
    each date's first bucket is in `name` (for the errors naming it)."""
    combine_seen(name, into.bucket_days, part.bucket_days, first)
    with localcontext(EXACT):
        for day, cost_day in part.days.items():
            into.spill_if_over()  # date by date, as the parser does slice by slice
            known = into.days.get(day)
            if known is None:
                into.days[day] = cost_day
                continue
            if known.grouped_by_user != cost_day.grouped_by_user:
                raise InputError(
                    name,
                    f"{first.get(day, '')}: costs for {day} come from captures grouped "
                    "differently (by user and not); merge one grouping per day",
                )
            known.partial = known.partial or cost_day.partial
            known.pooled += cost_day.pooled
            for user_id, value in cost_day.by_user.items():
                had = known.by_user.get(user_id)
                known.by_user[user_id] = value if had is None else had + value
            for address, value in cost_day.by_email.items():
                had = known.by_email.get(address)
                known.by_email[address] = value if had is None else had + value
        into.dollars_in += part.dollars_in
    into.sources.extend(part.sources)


def _group_by(query: Mapping[str, Any]) -> set[str]:
    raw = query.get("group_by", query.get("group_by[]", ()))
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    return {part.strip() for value in values for part in str(value).split(",")}


__all__ = ["CONTRACT", "SURFACE", "ApiCosts", "CostDay", "Parser", "combine", "parse"]
