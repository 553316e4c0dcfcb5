"""The merge: Codex credits, API tokens and API dollars per person per UTC day.

Identity join (DESIGN: join only on email): a ChatGPT workspace user is the person
named by their email; an OpenAI user (`user_id` on usage and cost results) is the person
the users list gives an email for. People without an email stay apart under a
surface-prefixed id (`chatgpt:<id>`, `openai:<id>`); API results with no user at all go
to `unattributed`. Emails are compared case-insensitively (lower-cased), which an
anonymised email (a keyed pseudonym) also survives.

Cost basis per row: `billed` when the costs capture is grouped by `user_id`; `allocated`
when costs are per day (or per project) only, split over that day's people in
proportion to their API tokens (largest remainder, exact); `unattributed` for cost
results naming no user, or a pooled day with no API tokens to split it by. Rows on a
date no costs bucket covers have no cost (null), which is not the same as zero."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import NamedTuple

from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge import chatgpt, costs, usage, users
from verifier.merge.allocate import split_exactly
from verifier.merge.values import EXACT

UNATTRIBUTED = "unattributed"
BILLED = "billed"
ALLOCATED = "allocated"


@dataclass
class MergeInputs:
    """Everything parsed from the sources, per surface."""

    codex: chatgpt.CodexUsage = field(default_factory=chatgpt.CodexUsage)
    api_usage: usage.ApiUsage = field(default_factory=usage.ApiUsage)
    api_costs: costs.ApiCosts = field(default_factory=costs.ApiCosts)
    directory: users.Directory = field(default_factory=users.Directory)

    def add(self, source: Source) -> None:
        name = source.surface.name
        if name == chatgpt.SURFACE.name:
            chatgpt.parse(source, self.codex)
        elif name == usage.SURFACE.name:
            usage.parse(source, self.api_usage)
        elif name == costs.SURFACE.name:
            costs.parse(source, self.api_costs)
        elif name == users.SURFACE.name:
            users.parse(source, self.directory)
        else:  # pragma: no cover - the surface registry has exactly these four
            raise InputError(source.name, f"surface {name} has no merge parser")

    @property
    def surfaces(self) -> tuple[str, ...]:
        present = (
            (chatgpt.SURFACE.name, self.codex.sources),
            (usage.SURFACE.name, self.api_usage.sources),
            (costs.SURFACE.name, self.api_costs.sources),
            (users.SURFACE.name, self.directory.sources),
        )
        return tuple(name for name, sources in present if sources)


def parse_sources(sources: Iterable[Source]) -> MergeInputs:
    inputs = MergeInputs()
    for source in sources:
        inputs.add(source)
    return inputs


class MergedRow(NamedTuple):
    """One person on one UTC date. Money is Decimal; None means "no figure".
    (A NamedTuple, not a frozen dataclass: a month of data is a million of them.)"""

    date: str
    person: str
    email: str | None
    chatgpt_user_id: str | None
    openai_user_id: str | None
    codex_credits: Decimal
    codex_threads: int
    codex_turns: int
    codex_input_tokens: int
    codex_cached_input_tokens: int
    codex_output_tokens: int
    api_input_tokens: int
    api_cached_input_tokens: int
    api_output_tokens: int
    api_requests: int
    api_cost_usd: Decimal | None
    api_cost_basis: str | None
    partial: bool
    codex_cost_usd: Decimal | None = None
    total_cost_usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Share:
    """Part of a total attributed to people known on both surfaces."""

    total: Decimal
    joined: Decimal

    @property
    def ratio(self) -> Decimal | None:
        if self.total == 0:
            return None
        return (self.joined / self.total).quantize(Decimal("0.0001"))


@dataclass(frozen=True, slots=True)
class JoinCoverage:
    credits: Share
    dollars: Share
    people: int  # named people (not `unattributed`)
    people_joined: int  # of those, known on ChatGPT and in the OpenAI users list


@dataclass(frozen=True, slots=True)
class MergeResult:
    rows: tuple[MergedRow, ...]
    coverage: JoinCoverage
    surfaces: tuple[str, ...]
    credit_usd_rate: Decimal | None = None
    provisional: bool = False


class _Person:
    __slots__ = ("chatgpt_ids", "email", "openai_ids")

    def __init__(self, email: str | None) -> None:
        self.email = email
        self.chatgpt_ids: set[str] = set()
        self.openai_ids: set[str] = set()

    @property
    def joined(self) -> bool:
        return bool(self.chatgpt_ids and self.openai_ids)


class _Identities:
    """Resolves surface identities to people and remembers who is known where."""

    def __init__(self, codex_emails: dict[str, str | None], directory: dict[str, str | None]):
        self.people: dict[str, _Person] = {}
        self._chatgpt = {
            cid: self._enrol(email, f"chatgpt:{cid}") for cid, email in codex_emails.items()
        }
        for cid, person in self._chatgpt.items():
            self.people[person].chatgpt_ids.add(cid)
        self._openai = {
            uid: self._enrol(email, f"openai:{uid}") for uid, email in directory.items()
        }
        for uid, person in self._openai.items():
            self.people[person].openai_ids.add(uid)

    def _enrol(self, email: str | None, fallback: str) -> str:
        key = email.strip().lower() if email else None
        person = key or fallback
        if person not in self.people:
            self.people[person] = _Person(key)
        return person

    def chatgpt(self, user_id: str) -> str:
        return self._chatgpt[user_id]

    def openai(self, user_id: str | None) -> str:
        if user_id is None:
            return UNATTRIBUTED
        person = self._openai.get(user_id)
        if person is None:  # used the API but is not in the users list given
            person = self._openai[user_id] = self._enrol(None, f"openai:{user_id}")
            self.people[person].openai_ids.add(user_id)
        return person


class _Row:
    """A row being accumulated."""

    __slots__ = (
        "api_cached",
        "api_input",
        "api_output",
        "basis",
        "codex",
        "cost",
        "partial",
        "requests",
    )

    def __init__(self) -> None:
        self.codex: chatgpt.CodexDay | None = None
        self.api_input = 0
        self.api_cached = 0
        self.api_output = 0
        self.requests = 0
        self.cost: Decimal | None = None
        self.basis: str | None = None
        self.partial = False


def merge(
    inputs: MergeInputs, *, credit_usd_rate: Decimal | None = None, provisional: bool = False
) -> MergeResult:
    """Join and aggregate parsed surfaces into one row per (UTC date, person)."""
    if not (inputs.codex.sources or inputs.api_usage.sources or inputs.api_costs.sources):
        raise InputError("merge", "no ChatGPT usage, OpenAI usage or OpenAI costs capture given")
    with localcontext(EXACT):
        ids = _Identities(inputs.codex.emails, inputs.directory.emails)
        rows: dict[tuple[str, str], _Row] = {}
        _add_codex(rows, ids, inputs.codex)
        _add_api_usage(rows, ids, inputs.api_usage)
        _add_costs(rows, ids, inputs.api_costs, inputs.api_usage)
        covered = {
            day: (BILLED if cost_day.grouped_by_user else ALLOCATED, cost_day.partial)
            for day, cost_day in inputs.api_costs.days.items()
        }
        merged = _finish(rows, ids, covered, credit_usd_rate)
    return MergeResult(
        rows=merged,
        coverage=_coverage(merged, ids),
        surfaces=inputs.surfaces,
        credit_usd_rate=credit_usd_rate,
        provisional=provisional,
    )


def merge_sources(
    sources: Sequence[Source],
    *,
    credit_usd_rate: Decimal | None = None,
    provisional: bool = False,
) -> MergeResult:
    return merge(parse_sources(sources), credit_usd_rate=credit_usd_rate, provisional=provisional)


def _row(rows: dict[tuple[str, str], _Row], key: tuple[str, str]) -> _Row:
    row = rows.get(key)
    if row is None:
        row = rows[key] = _Row()
    return row


def _add_codex(
    rows: dict[tuple[str, str], _Row], ids: _Identities, codex: chatgpt.CodexUsage
) -> None:
    for (day, user_id), totals in codex.days.items():
        row = _row(rows, (day, ids.chatgpt(user_id)))
        if row.codex is None:
            row.codex = totals
        else:  # two workspace users sharing one email: one person
            row.codex = _sum_codex(row.codex, totals)
        row.partial = row.partial or totals.partial


def _sum_codex(a: chatgpt.CodexDay, b: chatgpt.CodexDay) -> chatgpt.CodexDay:
    total = chatgpt.CodexDay()
    for name in chatgpt.CodexDay.__slots__:
        if name == "partial":
            total.partial = a.partial or b.partial
        else:
            setattr(total, name, getattr(a, name) + getattr(b, name))
    return total


def _add_api_usage(
    rows: dict[tuple[str, str], _Row], ids: _Identities, api: usage.ApiUsage
) -> None:
    for (day, user_id), totals in api.days.items():
        row = _row(rows, (day, ids.openai(user_id)))
        row.api_input += totals.input
        row.api_cached += totals.cached_input
        row.api_output += totals.output
        row.requests += totals.requests
        row.partial = row.partial or totals.partial


def _add_costs(
    rows: dict[tuple[str, str], _Row],
    ids: _Identities,
    api_costs: costs.ApiCosts,
    api: usage.ApiUsage,
) -> None:
    weights = _token_weights(
        ids, api, {d for d, c in api_costs.days.items() if not c.grouped_by_user}
    )
    for day, cost_day in api_costs.days.items():
        if cost_day.grouped_by_user:
            for user_id, amount in cost_day.by_user.items():
                basis = UNATTRIBUTED if user_id is None else BILLED
                _charge(_row(rows, (day, ids.openai(user_id))), amount, basis, cost_day.partial)
        else:
            _allocate(rows, day, cost_day, weights.get(day, {}))


def _token_weights(
    ids: _Identities, api: usage.ApiUsage, pooled_days: set[str]
) -> dict[str, dict[str, int]]:
    """Per pooled date: API tokens per person, in person order (deterministic ties)."""
    weights: dict[str, dict[str, int]] = {}
    if not pooled_days:
        return weights
    for (day, user_id), totals in api.days.items():
        if day in pooled_days and totals.tokens > 0:
            per_person = weights.setdefault(day, {})
            person = ids.openai(user_id)
            per_person[person] = per_person.get(person, 0) + totals.tokens
    return {day: dict(sorted(people.items())) for day, people in weights.items()}


def _allocate(
    rows: dict[tuple[str, str], _Row], day: str, cost_day: costs.CostDay, weights: dict[str, int]
) -> None:
    if not weights:  # nobody used the API that day: nothing to split the cost by
        _charge(_row(rows, (day, UNATTRIBUTED)), cost_day.pooled, UNATTRIBUTED, cost_day.partial)
        return
    for person, share in split_exactly(cost_day.pooled, weights).items():
        _charge(_row(rows, (day, person)), share, ALLOCATED, cost_day.partial)


def _charge(row: _Row, amount: Decimal, basis: str, partial: bool) -> None:
    row.cost = amount if row.cost is None else row.cost + amount
    # An unattributed share and a named one cannot meet in one row: the person differs.
    row.basis = basis
    row.partial = row.partial or partial


def _finish(
    rows: dict[tuple[str, str], _Row],
    ids: _Identities,
    covered: dict[str, tuple[str, bool]],
    rate: Decimal | None,
) -> tuple[MergedRow, ...]:
    """Freeze rows in (date, person) order. A date a costs bucket covers gives every
    row on it a cost (zero when the costs do not name the person)."""
    out: list[MergedRow] = []
    zero = Decimal(0)
    people = ids.people
    labels: dict[str, tuple[str | None, str | None, str | None]] = {}
    for (day, person), row in sorted(rows.items()):
        codex = row.codex
        cost, basis, partial = row.cost, row.basis, row.partial
        if cost is None and day in covered:
            basis, day_partial = covered[day]
            cost, partial = zero, partial or day_partial
        identity = labels.get(person)
        if identity is None:
            identity = labels[person] = _identity_columns(people.get(person))
        credits = codex.credits if codex is not None else zero
        codex_cost = None if rate is None else credits * rate
        total = None if codex_cost is None else codex_cost + (cost or zero)
        out.append(
            MergedRow(
                date=day,
                person=person,
                email=identity[0],
                chatgpt_user_id=identity[1],
                openai_user_id=identity[2],
                codex_credits=credits,
                codex_threads=codex.threads if codex is not None else 0,
                codex_turns=codex.turns if codex is not None else 0,
                codex_input_tokens=codex.input if codex is not None else 0,
                codex_cached_input_tokens=codex.cached_input if codex is not None else 0,
                codex_output_tokens=codex.output if codex is not None else 0,
                api_input_tokens=row.api_input,
                api_cached_input_tokens=row.api_cached,
                api_output_tokens=row.api_output,
                api_requests=row.requests,
                api_cost_usd=cost,
                api_cost_basis=basis,
                partial=partial,
                codex_cost_usd=codex_cost,
                total_cost_usd=total,
            )
        )
    return tuple(out)


def _identity_columns(person: _Person | None) -> tuple[str | None, str | None, str | None]:
    """email, chatgpt_user_id, openai_user_id of a person (ids space-separated)."""
    if person is None:
        return None, None, None
    return (
        person.email,
        " ".join(sorted(person.chatgpt_ids)) or None,
        " ".join(sorted(person.openai_ids)) or None,
    )


def _coverage(rows: Sequence[MergedRow], ids: _Identities) -> JoinCoverage:
    zero = Decimal(0)
    credits = joined_credits = dollars = joined_dollars = zero
    with localcontext(EXACT):
        for row in rows:
            person = ids.people.get(row.person)
            joined = person is not None and person.joined
            credits += row.codex_credits
            dollars += row.api_cost_usd or zero
            if joined:
                joined_credits += row.codex_credits
                joined_dollars += row.api_cost_usd or zero
    active = {row.person for row in rows} - {UNATTRIBUTED}
    named = [ids.people[name] for name in sorted(active)]
    return JoinCoverage(
        credits=Share(credits, joined_credits),
        dollars=Share(dollars, joined_dollars),
        people=len(named),
        people_joined=sum(1 for p in named if p.joined),
    )
