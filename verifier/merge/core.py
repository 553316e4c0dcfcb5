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

import contextlib
import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from verifier.consumer import contract_for
from verifier.consumer.mapping import ReadingPlan, plan_from_profile, readings_json
from verifier.coverage import Gap
from verifier.errors import InputError
from verifier.findings import Finding
from verifier.inputs import Source
from verifier.merge import chatgpt, costs, usage, users
from verifier.merge.allocate import split_exactly
from verifier.merge.breakdown import Breakdown, PartRow, part_rows
from verifier.merge.stream import parsed
from verifier.merge.values import EXACT, add_known

UNATTRIBUTED = "unattributed"
BILLED = "billed"
ALLOCATED = "allocated"


@dataclass
class MergeInputs:
    """Everything parsed from the sources, per surface. `plans` says where each
    surface's fields are read (the gate's, from the locks); a surface without one is
    read as its capture's own profile resolves among the known shape variants."""

    codex: chatgpt.CodexUsage = field(default_factory=chatgpt.CodexUsage)
    api_usage: usage.ApiUsage = field(default_factory=usage.ApiUsage)
    api_costs: costs.ApiCosts = field(default_factory=costs.ApiCosts)
    directory: users.Directory = field(default_factory=users.Directory)
    plans: Mapping[str, ReadingPlan] = field(default_factory=dict)
    used: dict[str, ReadingPlan] = field(default_factory=dict)
    breakdown: Breakdown | None = None  # `--by model|client`: Codex credits per part

    def add(self, source: Source) -> None:
        name = source.surface.name
        plan = self.plan_for(source)
        self.used[name] = plan
        if name == chatgpt.SURFACE.name:
            chatgpt.parse(source, plan, self.codex, self.breakdown)
        elif name == usage.SURFACE.name:
            usage.parse(source, plan, self.api_usage)
        elif name == costs.SURFACE.name:
            costs.parse(source, plan, self.api_costs)
        elif name == users.SURFACE.name:
            users.parse(source, plan, self.directory)
        else:  # pragma: no cover - the surface registry has exactly these four
            raise InputError(source.name, f"surface {name} has no merge parser")

    def add_parsed(self, surface: str, parser: Any, plan: ReadingPlan | None) -> None:
        """One capture its surface parser has read (`verifier.merge.stream.Parser`, or
        what came back of it from a worker process, `Parsed`)."""
        if plan is not None:
            self.used[surface] = plan
        read = parsed(parser)
        aggregate, name = read.aggregate, read.name
        if isinstance(aggregate, chatgpt.CodexUsage):
            chatgpt.combine(self.codex, aggregate, name)
        elif isinstance(aggregate, usage.ApiUsage):
            usage.combine(self.api_usage, aggregate, name, read.first)
        elif isinstance(aggregate, costs.ApiCosts):
            costs.combine(self.api_costs, aggregate, name, read.first)
        else:
            users.combine(self.directory, aggregate, name)

    def plan_for(self, source: Source) -> ReadingPlan:
        plan = self.plans.get(source.surface.name)
        if plan is not None:
            return plan
        contract = contract_for(source.surface)
        if contract is None:  # pragma: no cover - every surface has a contract
            raise InputError(source.name, f"surface {source.surface.name} has no merge parser")
        from verifier.profile import profile_source  # the profiler only when unplanned

        return plan_from_profile(contract, profile_source(source))

    @property
    def surfaces(self) -> tuple[str, ...]:
        present = (
            (chatgpt.SURFACE.name, self.codex.sources),
            (usage.SURFACE.name, self.api_usage.sources),
            (costs.SURFACE.name, self.api_costs.sources),
            (users.SURFACE.name, self.directory.sources),
        )
        return tuple(name for name, sources in present if sources)


def parse_sources(
    sources: Iterable[Source],
    plans: Mapping[str, ReadingPlan] | None = None,
    breakdown: Breakdown | None = None,
) -> MergeInputs:
    inputs = MergeInputs(plans=plans or {}, breakdown=breakdown)
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
    codex_credits: Decimal | None
    codex_threads: int | None
    codex_turns: int | None
    codex_input_tokens: int | None
    codex_cached_input_tokens: int | None
    codex_output_tokens: int | None
    api_input_tokens: int | None
    api_cached_input_tokens: int | None
    api_output_tokens: int | None
    api_requests: int | None
    api_cost_usd: Decimal | None
    api_cost_basis: str | None
    partial: bool
    codex_cost_usd: Decimal | None = None  # credits x --credit-usd-rate
    total_cost_usd: Decimal | None = None
    covered_by: str = ""  # the surfaces whose captures cover this date, space-separated
    # The vendor's `totals.cost_usd`: Codex usage billed natively in dollars, separate
    # from credits; None when a row behind the cell did not carry it (never 0).
    codex_native_cost_usd: Decimal | None = None


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
class RowCounts:
    """How many rows the table has, over how many UTC dates, and how many are partial."""

    rows: int = 0
    dates: int = 0
    partial: int = 0


@dataclass(frozen=True, slots=True)
class MergeResult:
    rows: tuple[MergedRow, ...]
    coverage: JoinCoverage
    surfaces: tuple[str, ...]
    credit_usd_rate: Decimal | None = None
    provisional: bool = False
    # Time coverage: per surface, the UTC dates its captures cover, and what is missing.
    covered: Mapping[str, frozenset[str]] = field(default_factory=dict)
    gaps: tuple[Gap, ...] = ()
    findings: tuple[Finding, ...] = ()  # value_restated, coverage_gap

    @property
    def restatements(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == "value_restated")

    readings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    breakdown: Breakdown | None = None  # `--by model|client`: `parts` is the table
    parts: tuple[PartRow, ...] = ()
    # Counted as the rows were made: also right for a streamed table (`rows` empty).
    counts: RowCounts = RowCounts()


class Table(Protocol):
    """A merge table a writer reads batch by batch (`MergeStream`, or `HeldTable`)."""

    head: MergeResult  # everything known before the rows

    def batches(self) -> Iterator[Sequence[MergedRow]]: ...

    def result(self, rows: tuple[MergedRow, ...] = ()) -> MergeResult:
        """After the last batch: the coverage and the counts of the rows made."""
        ...


class HeldTable:
    """A merge result whose rows are all made and held, read as a `Table`."""

    def __init__(self, result: MergeResult) -> None:
        self.head = result

    def batches(self) -> Iterator[Sequence[MergedRow]]:
        yield self.head.rows

    def result(self, rows: tuple[MergedRow, ...] = ()) -> MergeResult:
        return self.head


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

    def chatgpt(self, user_id: str | None) -> str:
        return UNATTRIBUTED if user_id is None else self._chatgpt[user_id]

    @property
    def chatgpt_people(self) -> Mapping[str, str]:
        """Workspace user id -> person (every Codex user is known up front)."""
        return self._chatgpt

    @property
    def openai_people(self) -> Mapping[str, str]:
        """OpenAI user id -> person, for those known so far (`openai` adds the others)."""
        return self._openai

    def by_email(self, address: str) -> str:
        """The person an email names (a cost result with no user_id, only user_email):
        whoever the users list or ChatGPT knows by that email, else a new person."""
        return self._enrol(address, f"email:{address}")

    def openai(self, user_id: str | None) -> str:
        if user_id is None:
            return UNATTRIBUTED
        person = self._openai.get(user_id)
        if person is None:  # used the API but is not in the users list given
            person = self._openai[user_id] = self._enrol(None, f"openai:{user_id}")
            self.people[person].openai_ids.add(user_id)
        return person


# People whose rows on a date are made at once (`MergeStream.batches`): with thousands of
# people a date, a whole date's rows held at once grew the join's memory with the people.
ROW_SLICE = 4096

TIME_SURFACES = (chatgpt.SURFACE.name, usage.SURFACE.name, costs.SURFACE.name)


def merge(inputs: MergeInputs, **options: Any) -> MergeResult:
    """Join and aggregate parsed surfaces into one row per (UTC date, person), every row
    held; `options` are `MergeStream`'s (which makes the same rows a date at a time)."""
    return MergeStream(inputs, **options).collect()


class MergeStream:
    """The merge's rows, made date by date (`batches`, once), with the join coverage and
    the row counts added up as they go (`result` after the last batch).

    `covered` gives per surface the UTC dates its captures cover (`verifier.coverage`);
    a surface's cells are empty on every other date. Without it, the dates the parsed
    data itself names are taken as covered. `consume` empties `inputs` as they are
    joined: with a writer taking each date's rows as they come (`verify merge`), neither
    the aggregates nor the table are ever held whole at once. `head` is the result
    before any row: everything a writer needs up front (columns, rate, restatements,
    the `--by` table); its coverage and counts are those of no rows."""

    def __init__(
        self,
        inputs: MergeInputs,
        *,
        credit_usd_rate: Decimal | None = None,
        provisional: bool = False,
        covered: Mapping[str, Iterable[str]] | None = None,
        gaps: Sequence[Gap] = (),
        findings: Sequence[Finding] = (),
        consume: bool = False,
    ) -> None:
        if not (inputs.codex.sources or inputs.api_usage.sources or inputs.api_costs.sources):
            raise InputError(
                "merge", "no ChatGPT usage, OpenAI usage or OpenAI costs capture given"
            )
        self._inputs, self._rate, self._consume = inputs, credit_usd_rate, consume
        with localcontext(EXACT):
            self._ids = ids = _Identities(inputs.codex.emails, inputs.directory.emails)
            self._dates = _dates_covered(inputs, covered)
            api_costs = inputs.api_costs.days
            self._costs_on = {
                day: (BILLED if cost_day.grouped_by_user else ALLOCATED, cost_day.partial)
                for day, cost_day in api_costs.items()
            }
            pooled = {d for d, c in api_costs.items() if not c.grouped_by_user}
            self._weights = _token_weights(ids, inputs.api_usage, pooled)
            by = inputs.breakdown
            # The breakdown reads every Codex day (kept, not consumed): made up front.
            parts = (
                part_rows(
                    by,
                    inputs.codex.days,
                    inputs.codex.parts,
                    ids.chatgpt,
                    lambda person: _identity_columns(ids.people.get(person)),
                )
                if by
                else ()
            )
        self._all_days = sorted(
            inputs.codex.days.dates() | inputs.api_usage.days.dates() | set(api_costs)
        )
        self._labels: dict[str, tuple[str | None, str | None, str | None]] = {}
        self._tally = _Tally(ids)
        self.head = MergeResult(
            rows=(),
            coverage=self._tally.coverage(),
            surfaces=inputs.surfaces,
            credit_usd_rate=credit_usd_rate,
            provisional=provisional,
            covered=self._dates,
            gaps=tuple(gaps),
            findings=tuple(findings),
            readings=readings_json(inputs.used),
            breakdown=by,
            parts=parts,
        )

    def batches(self) -> Iterator[list[MergedRow]]:
        """The rows in (date, person) order, one date at a time, in batches of at most
        `ROW_SLICE` rows: only that date's figures and a batch's rows are held, and with
        `consume` its aggregates go as they are
        made (the Codex days stay when the breakdown reads them). The cycle collector
        waits until the last batch (`gc_paused`)."""
        with gc_paused():
            yield from self._batches(self._all_days)

    def days(self) -> list[str]:
        """Every UTC date the table has rows on, in order (`batches` makes them all)."""
        return list(self._all_days)

    def work(self) -> list[int]:
        """Per date (`days`), about how many pairs the join reads on it."""
        codex, api, spend = (
            self._inputs.codex.days,
            self._inputs.api_usage.days,
            self._inputs.api_costs.days,
        )
        return [
            codex.pairs_on(day) + api.pairs_on(day) + (c.held() if (c := spend.get(day)) else 0)
            for day in self._all_days
        ]

    def batches_of(self, days: Sequence[str]) -> Iterator[list[MergedRow]]:
        """`batches` of these dates only (a run of `days()`; the others' rows are
        another process's to make, `verifier.merge.split_join`): their rows and tally
        are the same as in the whole run, whatever was made before them."""
        with gc_paused():
            yield from self._batches(days)

    def tally(self) -> Any:
        """The coverage and counts added up so far, small and picklable (`absorb`)."""
        return self._tally.state()

    def absorb(self, tally: Any) -> None:
        """Add another process's `tally` of the other dates (`batches_of`)."""
        self._tally.absorb(tally)

    def _batches(self, days: Sequence[str]) -> Iterator[list[MergedRow]]:
        inputs, ids, consume = self._inputs, self._ids, self._consume
        api_costs = inputs.api_costs.days
        codex_consumed = consume and not inputs.breakdown
        frame = _Frame(ids, self._costs_on, self._dates, self._rate, inputs.codex.native_reported)
        for day in days:
            with localcontext(EXACT):
                rows: dict[str, list[Any]] = {}  # person -> figures (`_add_codex`)
                _add_codex(rows, ids, inputs.codex.days.figures(day, codex_consumed))
                _add_api_usage(rows, ids, inputs.api_usage.days.figures(day))
                cost_day = api_costs.pop(day, None) if consume else api_costs.get(day)
                if cost_day:
                    _add_costs(rows, ids, cost_day, self._weights.get(day, {}))
                    if consume:  # the capture's parser may hold it still
                        cost_day.release()
                people = sorted(rows)
            # A date's rows are made (and written) a slice of its people at a time: the
            # figures of a date are all needed before its first row, its rows are not.
            for start in range(0, max(len(people), 1), ROW_SLICE):
                with localcontext(EXACT):
                    part = people[start : start + ROW_SLICE]
                    made = _finish(day, part, rows, frame, self._labels)
                    self._tally.add(made, first=start == 0)
                yield made
            if consume:
                rows.clear()

    def result(self, rows: tuple[MergedRow, ...] = ()) -> MergeResult:
        """The result once every batch was made (`rows`: the table, when it was kept)."""
        return replace(
            self.head,
            rows=rows,
            coverage=self._tally.coverage(),
            counts=self._tally.counts(),
        )

    def collect(self) -> MergeResult:
        """Every row made and held: the result as a library caller wants it."""
        rows = tuple(row for batch in self.batches() for row in batch)
        return self.result(rows)


def _dates_covered(
    inputs: MergeInputs, covered: Mapping[str, Iterable[str]] | None
) -> dict[str, frozenset[str]]:
    present = set(inputs.surfaces)
    if covered is not None:
        return {s: frozenset(covered.get(s, ())) for s in TIME_SURFACES if s in present}
    named = {
        chatgpt.SURFACE.name: inputs.codex.days.dates(),
        usage.SURFACE.name: set(inputs.api_usage.bucket_days),
        costs.SURFACE.name: set(inputs.api_costs.bucket_days) | set(inputs.api_costs.days),
    }
    return {s: frozenset(days) for s, days in named.items() if s in present}


# A person's figures on the date being joined, in a list (no object per row): the Codex
# `chatgpt.Cells` (None: not named), API input, cached input and output tokens,
# requests, the cost (None: none charged), its basis, partial.
_CODEX, _API_IN, _API_CACHED, _API_OUT, _REQUESTS, _COST, _BASIS, _PARTIAL = range(8)


def _add_codex(
    rows: dict[str, list[Any]],
    ids: _Identities,
    figures: Iterable[tuple[str | None, chatgpt.Cells, bool]],
) -> None:
    """One date's Codex totals (`chatgpt.CodexDays.figures`) into its rows."""
    person_of = ids.chatgpt_people
    for user_id, cells, partial in figures:
        person = UNATTRIBUTED if user_id is None else person_of[user_id]
        row = rows.get(person)
        if row is None:
            rows[person] = [cells, 0, 0, 0, 0, None, None, partial]
        else:  # two workspace users sharing one email: one person
            row[_CODEX] = _sum_codex(row[_CODEX], cells)
            row[_PARTIAL] = row[_PARTIAL] or partial


def _sum_codex(a: chatgpt.Cells, b: chatgpt.Cells) -> chatgpt.Cells:
    return (
        a[0] + b[0],
        add_known(a[1], b[1]),
        add_known(a[2], b[2]),
        add_known(a[3], b[3]),
        add_known(a[4], b[4]),
        add_known(a[5], b[5]),
        add_known(a[6], b[6]),
    )


def _add_api_usage(
    rows: dict[str, list[Any]],
    ids: _Identities,
    figures: Iterable[tuple[str | None, int, int, int, int, bool]],
) -> None:
    """One date's API usage (`usage.UsageDays.figures`) into its rows."""
    known, person_of, get = ids.openai_people, ids.openai, rows.get
    for user_id, tokens_in, cached, tokens_out, requests, partial in figures:
        person = UNATTRIBUTED if user_id is None else known.get(user_id)
        if person is None:  # used the API but is not in the users list given
            person = person_of(user_id)
        row = get(person)
        if row is None:
            rows[person] = [None, tokens_in, cached, tokens_out, requests, None, None, partial]
            continue
        row[_API_IN] += tokens_in
        row[_API_CACHED] += cached
        row[_API_OUT] += tokens_out
        row[_REQUESTS] += requests
        if partial:
            row[_PARTIAL] = True


def _add_costs(
    rows: dict[str, list[Any]], ids: _Identities, cost_day: costs.CostDay, weights: dict[str, int]
) -> None:
    """One date's API dollars into its rows: billed per user, or a pooled total split
    over the day's people by their API tokens (`weights`)."""
    partial = cost_day.partial
    if not cost_day.grouped_by_user:
        if not weights:  # nobody used the API that day: nothing to split the cost by
            _charge(rows, UNATTRIBUTED, cost_day.pooled, UNATTRIBUTED, partial)
            return
        for person, share in split_exactly(cost_day.pooled, weights).items():
            _charge(rows, person, share, ALLOCATED, partial)
        return
    known, person_of = ids.openai_people, ids.openai
    for user_id, amount in cost_day.by_user.items():
        if user_id is None:
            _charge(rows, UNATTRIBUTED, amount, UNATTRIBUTED, partial)
        else:  # (`known` first: `openai` adds a user missing from the users list)
            _charge(rows, known.get(user_id) or person_of(user_id), amount, BILLED, partial)
    for address, amount in cost_day.by_email.items():
        _charge(rows, ids.by_email(address), amount, BILLED, partial)


def _charge(
    rows: dict[str, list[Any]], person: str, amount: Decimal, basis: str, partial: bool
) -> None:
    row = rows.get(person)
    if row is None:
        rows[person] = [None, 0, 0, 0, 0, amount, basis, partial]
        return
    cost = row[_COST]
    row[_COST] = amount if cost is None else cost + amount
    # An unattributed share and a named one cannot meet in one row: the person differs.
    row[_BASIS] = basis
    row[_PARTIAL] = row[_PARTIAL] or partial


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


class _Frame(NamedTuple):
    """What every date's rows are frozen with (`_finish`)."""

    ids: _Identities
    costs_on: dict[str, tuple[str, bool]]  # date -> (basis, partial) where costs cover it
    dates: Mapping[str, frozenset[str]]  # surface -> the dates its captures cover
    rate: Decimal | None
    native_reported: bool


def _finish(
    day: str,
    people: Sequence[str],
    rows: dict[str, list[Any]],
    frame: _Frame,
    labels: dict[str, tuple[str | None, str | None, str | None]],
) -> list[MergedRow]:
    """Freeze the rows of these `people` (in order) on one date. A surface's cells are
    figures (zero when it does not name the person) on the dates its captures cover, and
    empty elsewhere: a number the merge does not have is never shown as 0. `labels`
    (person -> identity columns) is kept across dates."""
    out: list[MergedRow] = []
    append, zero, rate, known = out.append, Decimal(0), frame.rate, frame.ids.people
    dates = frame.dates
    covered_by = " ".join(name for name in TIME_SURFACES if day in dates.get(name, ()))
    cost_on = frame.costs_on.get(day)
    # A covered date the Codex capture does not name the person on: no Codex usage, so
    # zeros; native dollars too, but only when the capture reports them at all.
    no_codex: tuple[Any, ...] = (
        (zero, 0, 0, 0, 0, 0, zero if frame.native_reported else None)
        if day in dates.get(chatgpt.SURFACE.name, ())
        else _NO_CODEX
    )
    in_usage = day in dates.get(usage.SURFACE.name, ())
    make = tuple.__new__
    day_basis, day_partial = cost_on if cost_on is not None else (None, False)
    for person in people:
        codex, api_in, api_cached, api_out, requests, cost, basis, partial = rows[person]
        if cost is None and cost_on is not None:
            basis, cost, partial = day_basis, zero, partial or day_partial
        identity = labels.get(person)
        if identity is None:
            identity = labels[person] = _identity_columns(known.get(person))
        email, chatgpt_ids, openai_ids = identity
        credits, threads, turns, codex_in, codex_cached, codex_out, native = (
            no_codex if codex is None else codex
        )
        if rate is None:
            codex_cost = total = None
        else:
            codex_cost = None if credits is None else credits * rate
            total = None if codex_cost is None or cost is None else codex_cost + cost
        if not (in_usage or requests or api_in or api_out):
            api_in = api_cached = api_out = requests = None
        # Straight into the tuple (`MergedRow._make` without its call): a million rows.
        append(
            make(
                MergedRow,
                (
                    day,
                    person,
                    email,
                    chatgpt_ids,
                    openai_ids,
                    credits,
                    threads,
                    turns,
                    codex_in,
                    codex_cached,
                    codex_out,
                    api_in,
                    api_cached,
                    api_out,
                    requests,
                    cost,
                    basis,
                    partial,
                    codex_cost,
                    total,
                    covered_by,
                    native,
                ),
            )
        )
    return out


_NO_CODEX: tuple[None, ...] = (None,) * 7


def _identity_columns(person: _Person | None) -> tuple[str | None, str | None, str | None]:
    """email, chatgpt_user_id, openai_user_id of a person (ids space-separated)."""
    if person is None:
        return None, None, None
    return (
        person.email,
        " ".join(sorted(person.chatgpt_ids)) or None,
        " ".join(sorted(person.openai_ids)) or None,
    )


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing, aggregating and making rows create millions of acyclic objects; the cycle
    collector would scan them over and over (about half the cost of a large load, a fifth
    of making the table) for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Tally:
    """The join coverage and the row counts, added up batch by batch as rows are made,
    a column at a time. Who is joined (known on ChatGPT and in the OpenAI users list) is
    settled when the identities are built: the join only adds people known on one
    side (an API user missing from the users list, a cost's email)."""

    def __init__(self, ids: _Identities) -> None:
        self._ids = ids
        self._joined = {name for name, person in ids.people.items() if person.joined}
        self._seen: set[str] = set()
        zero = Decimal(0)
        # Every figure, zeros too: a sum's exponent (its written digits) is theirs.
        self._credits = self._joined_credits = self._dollars = self._joined_dollars = zero
        self._rows = self._dates = self._partial = 0

    def add(self, rows: list[MergedRow], *, first: bool = True) -> None:
        """One batch of rows; `first`: the first (or only) batch of its date."""
        if not rows:
            return
        joined = self._joined
        people = list(map(_PERSON, rows))
        credits = list(map(_CREDITS, rows))
        dollars = list(map(_DOLLARS, rows))
        self._seen.update(people)
        with localcontext(EXACT):
            self._credits = sum([c for c in credits if c is not None], self._credits)
            self._dollars = sum([d for d in dollars if d is not None], self._dollars)
            self._joined_credits = sum(
                [c for p, c in zip(people, credits, strict=True) if c is not None and p in joined],
                self._joined_credits,
            )
            self._joined_dollars = sum(
                [d for p, d in zip(people, dollars, strict=True) if d is not None and p in joined],
                self._joined_dollars,
            )
        self._partial += sum(map(_PARTIAL_FLAG, rows))
        self._rows += len(rows)
        self._dates += first

    def counts(self) -> RowCounts:
        return RowCounts(rows=self._rows, dates=self._dates, partial=self._partial)

    def state(self) -> tuple[Any, ...]:
        """What was added up (`absorb` adds it to another tally of the same join)."""
        return (
            self._seen,
            self._credits,
            self._joined_credits,
            self._dollars,
            self._joined_dollars,
            self._rows,
            self._dates,
            self._partial,
        )

    def absorb(self, state: tuple[Any, ...]) -> None:
        """Another tally's `state` (other dates) added: exact sums, so the order the
        dates were added in does not change a digit."""
        seen, credits, joined_credits, dollars, joined_dollars, rows, dates, partial = state
        self._seen.update(seen)
        with localcontext(EXACT):
            self._credits += credits
            self._joined_credits += joined_credits
            self._dollars += dollars
            self._joined_dollars += joined_dollars
        self._rows += rows
        self._dates += dates
        self._partial += partial

    def coverage(self) -> JoinCoverage:
        named = self._seen - {UNATTRIBUTED}
        return JoinCoverage(
            credits=Share(self._credits, self._joined_credits),
            dollars=Share(self._dollars, self._joined_dollars),
            people=len(named),
            people_joined=len(named & self._joined),
        )


_PERSON = itemgetter(1)
_CREDITS = itemgetter(5)
_DOLLARS = itemgetter(15)
_PARTIAL_FLAG = itemgetter(17)
