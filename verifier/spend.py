"""What `verify report` shows: the gate over a set of captures, and (when the gate passes)
the merged spend per day, per surface and per person, with coverage and join coverage.

Money stays Decimal. A day a surface did not cover has no value (None), never 0. When the
gate fails there is no spend at all: the merge would refuse those captures, so the report
shows why instead of numbers that may be wrong.

Coverage per surface and day is derived from the bucket dates present in the captures
(costs and usage send a bucket for every day asked for, even an empty one; the ChatGPT
surface only has rows for days with activity, so a quiet day there shows as not seen)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from verifier.anonymise import require_same_fingerprint
from verifier.findings import Report
from verifier.gate import run_gate
from verifier.inputs import expand_paths
from verifier.lock import DEFAULT_LOCKS_DIR
from verifier.merge.core import MergedRow, MergeInputs, MergeResult, merge
from verifier.merge.load import load_capture
from verifier.surfaces import SURFACE_NAMES

CODEX = "chatgpt_enterprise_usage"
USAGE = "openai_org_usage_completions"
COSTS = "openai_org_costs"
USERS = "openai_org_users"
COVERAGE_BASIS = (
    "derived from the bucket dates present in the captures (the captures carry no "
    "coverage record); a ChatGPT day without any activity shows as not seen"
)
FULL, PARTIAL = "full", "partial"


@dataclass(frozen=True, slots=True)
class DaySpend:
    """One UTC day: Codex credits and dollars by surface; None where not covered."""

    date: str
    credits: Decimal | None
    dollars: Mapping[str, Decimal | None]  # surface -> dollars
    top: tuple[tuple[str, Decimal], ...]  # the day's biggest spenders (dollars, else credits)


@dataclass(frozen=True, slots=True)
class PersonSpend:
    person: str  # a pseudonym (captures are anonymised), `chatgpt:<id>`, or `unattributed`
    credits: Decimal
    dollars: Decimal | None


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


def build_spend_view(
    paths: Sequence[str | Path],
    *,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    allow_unlocked: bool = False,
    credit_usd_rate: Decimal | None = None,
) -> SpendView:
    """Gate the captures, then merge them exactly as `verify merge` would."""
    sources = [load_capture(path) for path in expand_paths(paths)]  # captures only
    captured = [(s.capture, s.name) for s in sources if s.capture is not None]
    require_same_fingerprint([c for c, _ in captured], [n for _, n in captured])
    gate = run_gate(paths, locks_dir=locks_dir, allow_unlocked=allow_unlocked)
    inputs = MergeInputs()
    if gate.verdict == "fail":  # the parsers may not even read drifted captures
        return SpendView(gate, None, (), (), (), (), ())
    for source in sources:
        inputs.add(source)
    del sources
    coverage = _coverage(inputs)
    dates = _all_dates(coverage)
    provisional = allow_unlocked and bool(gate.extra.get("unlocked"))
    merged = merge(inputs, credit_usd_rate=credit_usd_rate, provisional=provisional)
    dollar_surfaces = (COSTS, CODEX) if credit_usd_rate is not None else (COSTS,)
    covered = {c.surface: c.days for c in coverage}
    days = _days(merged.rows, dates, covered, dollar_surfaces)
    return SpendView(gate, merged, days, _people(merged.rows), coverage, dates, dollar_surfaces)


def _coverage(inputs: MergeInputs) -> tuple[SurfaceCoverage, ...]:
    codex_days = dict.fromkeys(sorted({day for day, _user in inputs.codex.days}), FULL)
    by_surface = {
        CODEX: SurfaceCoverage(CODEX, codex_days, "days with activity"),
        USAGE: SurfaceCoverage(USAGE, _bucket_days(inputs.api_usage.bucket_days)),
        COSTS: SurfaceCoverage(COSTS, _bucket_days(inputs.api_costs.bucket_days)),
        USERS: SurfaceCoverage(
            USERS, {}, f"a list, not daily: {len(inputs.directory.emails)} user(s)"
        ),
    }
    return tuple(by_surface[name] for name in SURFACE_NAMES if name in by_surface)


def _bucket_days(bucket_days: Mapping[str, bool]) -> dict[str, str]:
    return {day: PARTIAL if partial else FULL for day, partial in sorted(bucket_days.items())}


def _all_dates(coverage: Sequence[SurfaceCoverage]) -> tuple[str, ...]:
    seen = sorted({day for c in coverage for day in c.days})
    if not seen:
        return ()
    first, last = date.fromisoformat(seen[0]), date.fromisoformat(seen[-1])
    return tuple((first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1))


def _days(
    rows: Sequence[MergedRow],
    dates: Sequence[str],
    covered: Mapping[str, Mapping[str, str]],
    dollar_surfaces: Sequence[str],
) -> tuple[DaySpend, ...]:
    credits: dict[str, Decimal] = {}
    dollars: dict[tuple[str, str], Decimal] = {}
    people: dict[str, dict[str, Decimal]] = {}
    for row in rows:
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
            surface: dollars.get((day, surface), Decimal(0)) if day in covered[surface] else None
            for surface in dollar_surfaces
        }
        codex = credits.get(day, Decimal(0)) if day in covered[CODEX] else None
        ranked = sorted(people.get(day, {}).items(), key=lambda item: (-item[1], item[0]))
        out.append(DaySpend(day, codex, by_surface, tuple(ranked[:3])))
    return tuple(out)


def _spent(row: MergedRow) -> Decimal:
    """A row's spend for ranking: dollars when it has any, else its credits."""
    dollars = (row.api_cost_usd or Decimal(0)) + (row.codex_cost_usd or Decimal(0))
    return dollars or row.codex_credits


def _people(rows: Sequence[MergedRow]) -> tuple[PersonSpend, ...]:
    credits: dict[str, Decimal] = {}
    dollars: dict[str, Decimal | None] = {}
    for row in rows:
        credits[row.person] = credits.get(row.person, Decimal(0)) + row.codex_credits
        row_dollars = [v for v in (row.api_cost_usd, row.codex_cost_usd) if v is not None]
        if row_dollars:
            dollars[row.person] = (dollars.get(row.person) or Decimal(0)) + sum(row_dollars)
        else:
            dollars.setdefault(row.person, None)
    people = [PersonSpend(p, credits[p], dollars[p]) for p in credits]
    return tuple(sorted(people, key=lambda p: (-(p.dollars or Decimal(0)), -p.credits, p.person)))
