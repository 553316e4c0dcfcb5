"""Applying the dedupe rules (`dedupe.py`) to a merge's captures, and the restatements.

    plan_merge(indexes)          per surface and UTC date, which captures' data is used
    without_days(source, days)   a capture with the data of some dates left out
    only_days(source, days)      a capture with only the data of some dates
    day_totals(inputs, ...)      per person, what one capture says about one date
    restatements(plan, values)   `value_restated` findings, newest capture winning

The parsers never see a bucket twice: the merge parses every capture with the dates it
lost left out, so their own checks (a date read twice is refused) stay a safety net.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from verifier.coverage import SourceIndex, iso_day, unit_interval
from verifier.errors import InputError
from verifier.findings import Finding
from verifier.inputs import Body, Source
from verifier.merge import chatgpt, costs, usage
from verifier.merge.dedupe import DescribePiece, Piece, plan_day
from verifier.merge.values import money_text

UNATTRIBUTED = "unattributed"
Totals = Mapping[str, str]  # metric -> value text, for one person on one date


@dataclass(frozen=True, slots=True)
class Version:
    """Two captures holding the same bucket of `surface` on `day` (older first)."""

    surface: str
    day: str
    older: int
    newer: int
    tie: bool  # the same captured_at: values must agree


@dataclass
class MergePlan:
    names: Sequence[str]
    captured_at: Sequence[str]
    drop: dict[int, set[str]] = field(default_factory=dict)  # capture -> dates left out
    versions: list[Version] = field(default_factory=list)
    value_days: dict[int, set[str]] = field(default_factory=dict)  # capture -> dates to read

    def dates_dropped(self, capture: int) -> frozenset[str]:
        return frozenset(self.drop.get(capture, ()))


def plan_merge(indexes: Sequence[SourceIndex | None], names: Sequence[str]) -> MergePlan:
    """Decide, per surface and date, which captures are used; raises OverlapError."""
    captured = [index.captured_at if index is not None else "" for index in indexes]
    plan = MergePlan(names=names, captured_at=captured)
    pieces: dict[tuple[str, str], list[Piece]] = {}
    for position, index in enumerate(indexes):
        if index is None:
            continue
        when = capture_order(index.captured_at)
        for day, spans in index.days.items():
            piece = Piece(position, when, spans)
            pieces.setdefault((index.surface, day), []).append(piece)
    for (surface, day), day_pieces in sorted(pieces.items()):
        if len(day_pieces) < 2:
            continue
        decided = plan_day(day_pieces, DescribePiece(names, surface, day))
        for capture in decided.dropped:
            plan.drop.setdefault(capture, set()).add(day)
        for pairs, tie in ((decided.versions, False), (decided.ties, True)):
            for older, newer in pairs:
                plan.versions.append(Version(surface, day, older, newer, tie))
                for capture in (older, newer):
                    plan.value_days.setdefault(capture, set()).add(day)
    return plan


def capture_order(captured_at: str) -> str:
    """`captured_at` as text that sorts in time order: RFC 3339 UTC with microseconds
    (older captures have whole seconds, newer ones a fraction; text alone would sort
    `...:48Z` after `...:48.5Z`). Unparseable text sorts as itself."""
    try:
        moment = datetime.fromisoformat(captured_at)
    except ValueError:
        return captured_at
    if moment.tzinfo is None:
        return captured_at
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- capture views -------------------------------------------------------------------------


def _filtered(source: Source, keep: Callable[[Any], bool]) -> Source:
    bodies = []
    for body in source.bodies:
        data = body.value.get("data") if body.ok and isinstance(body.value, dict) else None
        if isinstance(data, list):
            value = {**body.value, "data": [unit for unit in data if keep(unit)]}
            body = Body(body.status, value, body.pointer_prefix, body.url, body.body_text)
        bodies.append(body)
    return Source(source.name, source.surface, tuple(bodies), source.capture)


def _unit_day(unit: Any) -> str | None:
    interval = unit_interval(unit)
    return None if interval is None else iso_day(interval[0])


def without_days(source: Source, days: frozenset[str]) -> Source:
    """The capture with the buckets/rows of `days` left out (unreadable ones are kept, so
    the parser names what is wrong with them)."""
    if not days:
        return source
    return _filtered(source, lambda unit: _unit_day(unit) not in days)


def only_days(source: Source, days: Iterable[str]) -> Source:
    wanted = frozenset(days)
    return _filtered(source, lambda unit: _unit_day(unit) in wanted)


# -- values per person ------------------------------------------------------------------------


def day_totals(
    codex: chatgpt.CodexUsage,
    api: usage.ApiUsage,
    api_costs: costs.ApiCosts,
    surface: str,
    day: str,
) -> dict[str, Totals]:
    """Per person pseudonym (the surface's user id), the figures one capture gives for one
    date; a person absent from the capture is absent here (zero)."""
    out: dict[str, Totals] = {}
    # One date's pairs only (`figures`: read from the spill file, not brought back).
    if surface == chatgpt.SURFACE.name:
        for user, cells, _partial in codex.days.figures(day):
            credits, threads, turns, tokens_in, cached, tokens_out, native = cells
            # A row naming nobody is the unattributed credits; a count the vendor did
            # not send is missing (never 0).
            figures = {
                "credits": _text(credits),
                "threads": _count(threads),
                "turns": _count(turns),
                "input_tokens": _count(tokens_in),
                "cached_input_tokens": _count(cached),
                "output_tokens": _count(tokens_out),
            }
            if native is not None:  # the vendor's native dollars, when sent
                figures["cost_usd"] = _text(native)
            out[user or "unattributed"] = figures
    elif surface == usage.SURFACE.name:
        for api_user, tokens_in, cached, tokens_out, requests, _partial in api.days.figures(day):
            out[api_user or UNATTRIBUTED] = {
                "input_tokens": str(tokens_in),
                "cached_input_tokens": str(cached),
                "output_tokens": str(tokens_out),
                "requests": str(requests),
            }
    elif surface == costs.SURFACE.name:
        cost_day = api_costs.days.get(day)
        if cost_day is not None:
            if cost_day.grouped_by_user:
                by_user, by_email = cost_day.amounts()
                for cost_user, amount in by_user.items():
                    out[cost_user or UNATTRIBUTED] = {"cost_usd": _text(amount)}
                for address, amount in by_email.items():
                    out[address] = {"cost_usd": _text(amount)}
            else:
                out[UNATTRIBUTED] = {"cost_usd": _text(cost_day.pooled)}
    return out


def _count(value: int | None) -> str:
    return "missing" if value is None else str(value)


def _text(amount: Decimal) -> str:
    return money_text(amount) or "0"


# -- restatements -------------------------------------------------------------------------------

ValueLookup = Callable[[int, str, str], Mapping[str, Totals]]  # capture, surface, day


def restatements(plan: MergePlan, values: ValueLookup) -> list[Finding]:
    """`value_restated` per person whose figures differ between consecutive versions of a
    bucket; raises InputError for versions with the same captured_at that disagree."""
    findings: list[Finding] = []
    for version in plan.versions:
        old = values(version.older, version.surface, version.day)
        new = values(version.newer, version.surface, version.day)
        changed = sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))
        if changed and version.tie:
            raise InputError(
                "merge",
                f"{version.surface} {version.day}: {plan.names[version.older]} and "
                f"{plan.names[version.newer]} were captured at the same time "
                f"({plan.captured_at[version.newer]}) with different values, so neither "
                "can be taken as the newer; merge only one of them",
            )
        findings.extend(_restated(plan, version, person, old, new) for person in changed)
    return findings


def _restated(
    plan: MergePlan,
    version: Version,
    person: str,
    old: Mapping[str, Totals],
    new: Mapping[str, Totals],
) -> Finding:
    before, after = old.get(person) or {}, new.get(person) or {}
    old_text, new_text = totals_text(before), totals_text(after)
    older, newer = plan.names[version.older], plan.names[version.newer]
    return Finding(
        surface=version.surface,
        source=newer,
        kind="value_restated",
        path="data[]",
        pointer="",
        severity="warning",
        expected=f"{old_text} (captured {plan.captured_at[version.older]} in {older})",
        observed=f"{new_text} (captured {plan.captured_at[version.newer]} in {newer})",
        message=(
            f"{version.day} {person}: the vendor restated {old_text} as {new_text}; "
            "the newer capture is used"
        ),
        consumed_by_merge=True,
        details={
            "day": version.day,
            "person": person,
            "old": dict(before),
            "new": dict(after),
            "old_capture": older,
            "new_capture": newer,
            "old_captured_at": plan.captured_at[version.older],
            "new_captured_at": plan.captured_at[version.newer],
        },
    )


def totals_text(totals: Totals) -> str:
    if not totals:
        return "nothing"
    return ", ".join(f"{name} {value}" for name, value in totals.items())
