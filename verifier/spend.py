"""What `verify report` shows: the gate over a set of captures, and (when the gate passes)
the merged spend per day, per surface and per person, with coverage and join coverage.

Money stays Decimal. A day a surface did not cover has no value (None), never 0. When the
gate fails there is no spend at all: the merge would refuse those captures, so the report
shows why instead of numbers that may be wrong.

The Codex native dollars (`codex_native_cost_usd`, the vendor's `totals.cost_usd`) are
shown on their own, as `verify merge` writes them: never added to credits, to their
dollar value or to the API dollars. A total of them is None (missing) as soon as one row
behind it lacks the figure. With `--by model|client` the Codex credits are also broken
down as `verify merge --by` does (`verifier.merge.breakdown`), summed per label over the
range; the parts and the `difference to totals` add up to the credits.

Coverage per surface and day comes from `verifier.coverage`: the windows each capture
says the vendor answered (capture format 2), or its request window and the buckets and
rows it holds; a date is whole when the answered seconds cover all of it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext
from pathlib import Path

from verifier.anonymise import require_same_fingerprint
from verifier.coverage import DAY_SECONDS, Gap, Interval, index_source, normalise
from verifier.findings import Report
from verifier.gate import run_gate
from verifier.inputs import Source, expand_paths
from verifier.lock import DEFAULT_LOCKS_DIR
from verifier.merge.breakdown import DIFFERENCE, Breakdown, PartRow
from verifier.merge.core import MergedRow, MergeResult
from verifier.merge.load import load_capture, merge_sources
from verifier.merge.values import EXACT, add_known
from verifier.surfaces import SURFACE_NAMES

CODEX = "chatgpt_enterprise_usage"
USAGE = "openai_org_usage_completions"
COSTS = "openai_org_costs"
USERS = "openai_org_users"
COVERAGE_BASIS = (
    "what the captures record the vendor answered (or, for older captures, the window "
    "they asked for and the buckets and rows they hold)"
)
FULL, PARTIAL = "full", "partial"


@dataclass(frozen=True, slots=True)
class DaySpend:
    """One UTC day: Codex credits and dollars by surface; None where not covered."""

    date: str
    credits: Decimal | None
    dollars: Mapping[str, Decimal | None]  # surface -> dollars
    top: tuple[tuple[str, Decimal], ...]  # the day's biggest spenders (dollars, else credits)
    # Codex native dollars: None where not covered or a row behind it lacks the figure.
    native: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PersonSpend:
    person: str  # a pseudonym (captures are anonymised), `chatgpt:<id>`, or `unattributed`
    credits: Decimal
    dollars: Decimal | None
    native: Decimal | None = None  # Codex native dollars on the dates Codex covers


@dataclass(frozen=True, slots=True)
class PartSpend:
    """One model (client) of the `--by` breakdown over the whole range, or the
    difference between the rows' credits and the parts the vendor listed."""

    labels: tuple[str | None, ...]  # LABEL_COLUMNS of the breakdown; None for a difference
    basis: str  # VENDOR_PART or DIFFERENCE
    credits: Decimal | None  # None: an entry behind it lacked its credits
    person_days: int


@dataclass(frozen=True, slots=True)
class SurfaceCoverage:
    surface: str
    days: Mapping[str, str]  # date -> FULL | PARTIAL; a date not here was not covered
    note: str = ""


@dataclass(frozen=True, slots=True)
class SpendView:
    gate: Report
    merged: MergeResult | None  # None when the gate refuses the merge
    days: tuple[DaySpend, ...]
    people: tuple[PersonSpend, ...]  # by spend, biggest first
    coverage: tuple[SurfaceCoverage, ...]
    dates: tuple[str, ...]  # every UTC day from the first to the last one seen
    dollar_surfaces: tuple[str, ...]  # what the dollar bars stack
    gaps: tuple[Gap, ...] = ()  # dates inside the range a surface did not cover, and why
    breakdown: Breakdown | None = None  # `--by model|client`
    parts: tuple[PartSpend, ...] = ()  # the breakdown, biggest first, the difference last


def build_spend_view(
    paths: Sequence[str | Path],
    *,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    allow_unlocked: bool = False,
    credit_usd_rate: Decimal | None = None,
    breakdown: Breakdown | None = None,
) -> SpendView:
    """Gate the captures, then merge them exactly as `verify merge` would (`breakdown`:
    as `verify merge --by model|client`)."""
    sources = [load_capture(path) for path in expand_paths(paths)]  # captures only
    captured = [(s.capture, s.name) for s in sources if s.capture is not None]
    require_same_fingerprint([c for c, _ in captured], [n for _, n in captured])
    gate = run_gate(paths, locks_dir=locks_dir, allow_unlocked=allow_unlocked)
    if gate.verdict == "fail":  # the parsers may not even read drifted captures
        return SpendView(gate, None, (), (), (), (), (), ())
    provisional = allow_unlocked and bool(gate.extra.get("unlocked"))
    merged = merge_sources(
        sources, credit_usd_rate=credit_usd_rate, provisional=provisional, breakdown=breakdown
    )
    coverage = _coverage(sources, merged)
    dates = _all_dates(coverage)
    dollar_surfaces = (COSTS, CODEX) if credit_usd_rate is not None else (COSTS,)
    with localcontext(EXACT):  # the merge's sums never round; neither do these
        days = _days(merged.rows, dates, merged.covered, dollar_surfaces)
        people = _people(merged.rows, merged.covered.get(CODEX, frozenset()))
        parts = _parts(merged.parts)
    return SpendView(
        gate,
        merged,
        days,
        people,
        coverage,
        dates,
        dollar_surfaces,
        tuple(merged.gaps),
        breakdown,
        parts,
    )


def _coverage(sources: Sequence[Source], merged: MergeResult) -> tuple[SurfaceCoverage, ...]:
    """Per surface and date: covered whole, in part, or not (a date absent)."""
    spans: dict[str, dict[str, list[Interval]]] = {}
    for source in sources:
        index = index_source(source)
        if index is not None:
            per_day = spans.setdefault(index.surface, {})
            for day, intervals in index.days.items():
                per_day.setdefault(day, []).extend(intervals)
    out = []
    for surface in SURFACE_NAMES:
        if surface == USERS:
            people = sum(
                _list_length(body.value)
                for s in sources
                if s.surface.name == USERS
                for body in s.ok_bodies
            )
            out.append(SurfaceCoverage(surface, {}, f"a list, not daily: {people} user(s)"))
            continue
        per_day = spans.get(surface, {})
        days = {
            day: FULL if _seconds(per_day.get(day, [])) >= DAY_SECONDS else PARTIAL
            for day in sorted(merged.covered.get(surface, ()))
        }
        out.append(SurfaceCoverage(surface, days))
    return tuple(out)


def _seconds(intervals: Sequence[Interval]) -> int:
    return sum(end - start for start, end in normalise(intervals))


def _list_length(body: object) -> int:
    data = body.get("data") if isinstance(body, dict) else None
    return len(data) if isinstance(data, list) else 0


def _all_dates(coverage: Sequence[SurfaceCoverage]) -> tuple[str, ...]:
    seen = sorted({day for c in coverage for day in c.days})
    if not seen:
        return ()
    first, last = date.fromisoformat(seen[0]), date.fromisoformat(seen[-1])
    return tuple((first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1))


def _days(
    rows: Sequence[MergedRow],
    dates: Sequence[str],
    covered: Mapping[str, Collection[str]],
    dollar_surfaces: Sequence[str],
) -> tuple[DaySpend, ...]:
    credits: dict[str, Decimal] = {}
    dollars: dict[tuple[str, str], Decimal] = {}
    native: dict[str, Decimal | None] = {}
    people: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        native[row.date] = add_known(native.get(row.date, Decimal(0)), row.codex_native_cost_usd)
        if row.codex_credits is not None:
            credits[row.date] = credits.get(row.date, Decimal(0)) + row.codex_credits
        if row.api_cost_usd is not None:
            key = (row.date, COSTS)
            dollars[key] = dollars.get(key, Decimal(0)) + row.api_cost_usd
        if row.codex_cost_usd is not None:
            key = (row.date, CODEX)
            dollars[key] = dollars.get(key, Decimal(0)) + row.codex_cost_usd
        spent = _spent(row)
        if spent:
            people.setdefault(row.date, {})[row.person] = spent
    out = []
    for day in dates:
        by_surface = {
            surface: dollars.get((day, surface), Decimal(0))
            if day in covered.get(surface, ())
            else None
            for surface in dollar_surfaces
        }
        codex_covers = day in covered.get(CODEX, ())
        codex = credits.get(day, Decimal(0)) if codex_covers else None
        ranked = sorted(people.get(day, {}).items(), key=lambda item: (-item[1], item[0]))
        # A covered date without rows has no row lacking the figure, but nothing says the
        # capture reports it at all: missing, as the merge leaves such a cell empty.
        day_native = native.get(day) if codex_covers else None
        out.append(DaySpend(day, codex, by_surface, tuple(ranked[:3]), day_native))
    return tuple(out)


def _spent(row: MergedRow) -> Decimal:
    """A row's spend for ranking: dollars when it has any, else its credits."""
    dollars = (row.api_cost_usd or Decimal(0)) + (row.codex_cost_usd or Decimal(0))
    return dollars or row.codex_credits or Decimal(0)


def _people(rows: Sequence[MergedRow], codex_dates: Collection[str]) -> tuple[PersonSpend, ...]:
    credits: dict[str, Decimal] = {}
    dollars: dict[str, Decimal | None] = {}
    native: dict[str, Decimal | None] = {}
    for row in rows:
        if row.date in codex_dates:  # elsewhere the Codex capture says nothing
            native[row.person] = add_known(
                native.get(row.person, Decimal(0)), row.codex_native_cost_usd
            )
        credits[row.person] = credits.get(row.person, Decimal(0)) + (row.codex_credits or 0)
        row_dollars = [v for v in (row.api_cost_usd, row.codex_cost_usd) if v is not None]
        if row_dollars:
            dollars[row.person] = (dollars.get(row.person) or Decimal(0)) + sum(row_dollars)
        else:
            dollars.setdefault(row.person, None)
    people = [PersonSpend(p, credits[p], dollars[p], native.get(p)) for p in credits]
    return tuple(sorted(people, key=lambda p: (-(p.dollars or Decimal(0)), -p.credits, p.person)))


def _parts(rows: Sequence[PartRow]) -> tuple[PartSpend, ...]:
    """The breakdown summed per label over the range (None as soon as one part lacks its
    credits); the biggest first, the differences last."""
    credits: dict[tuple[tuple[str | None, ...], str], Decimal | None] = {}
    days: dict[tuple[tuple[str | None, ...], str], int] = {}
    for row in rows:
        key = (row.labels, row.basis)
        credits[key] = add_known(credits.get(key, Decimal(0)), row.credits)
        days[key] = days.get(key, 0) + 1
    parts = [
        PartSpend(labels, basis, credits[labels, basis], days[labels, basis])
        for labels, basis in credits
    ]
    return tuple(
        sorted(
            parts,
            key=lambda p: (
                p.basis == DIFFERENCE,
                p.credits is None,
                -(p.credits or 0),
                tuple(label or "" for label in p.labels),
            ),
        )
    )
