"""Which UTC days (and which seconds of them) each capture covers, and the gaps between.

A capture covers a stretch of time when the vendor answered for it: the `answered`
windows of its envelope (version 2), or for an older capture the window of its request
(`start_time`/`end_time`), and always the time buckets (OpenAI) or rows (Codex) its
pages carry. Coverage is kept per UTC date as sorted, non-overlapping intervals of Unix
seconds, so an edge bucket clamped to 12:00-24:00 covers half of its day.

    index_source(source)      -> SourceIndex (None for the users list: no time windows)
    covered_days(indexes)     -> per surface, the dates any capture covers
    coverage_gaps(indexes)    -> per surface, runs of dates inside the merged range that
                                 no capture covers, with the reason when a capture says it
    gap_findings(indexes)     -> `coverage_gap` warnings for the gate
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from verifier.findings import Finding
from verifier.inputs import Source
from verifier.store import CoverageWindow

DAY_SECONDS = 86_400
_EPOCH = date(1970, 1, 1)
_MILLIS_FROM = 100_000_000_000  # a Unix time this large is in milliseconds (year 5138 in s)

Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SourceIndex:
    """One capture's coverage: per UTC date (ISO text), the covered intervals."""

    name: str
    surface: str
    captured_at: str
    days: Mapping[str, tuple[Interval, ...]]
    not_answered: tuple[CoverageWindow, ...] = ()  # cut, rejected, incomplete windows
    unit_days: frozenset[str] = field(default_factory=frozenset)  # dates with data units


def iso_day(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds - seconds % DAY_SECONDS)).isoformat()


def day_start(day: str) -> int:
    return (date.fromisoformat(day) - _EPOCH).days * DAY_SECONDS


def timestamp_seconds(value: Any) -> int | None:
    """A bucket edge as Unix seconds: an integer (seconds, or milliseconds when huge) or
    an RFC 3339 text with a zone. Only for locating coverage; the parsers read edges in
    the format the contract names and refuse any other."""
    if type(value) is int and value >= 0:
        return value // 1000 if value >= _MILLIS_FROM else value
    if isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return int(moment.timestamp()) if moment.tzinfo is not None else None
    return None


def unit_interval(unit: Any) -> Interval | None:
    """[start, end) of a bucket or row, or None when its edges cannot be read."""
    if not isinstance(unit, dict):
        return None
    start = timestamp_seconds(unit.get("start_time"))
    end = timestamp_seconds(unit.get("end_time"))
    if start is None or end is None or end <= start:
        return None
    return start, end


def data_units(source: Source) -> Iterator[tuple[int, int, Any]]:
    """(body index, unit index, unit) of every bucket or row in the 2xx pages."""
    for body_index, body in enumerate(source.bodies):
        if not body.ok or not isinstance(body.value, dict):
            continue
        data = body.value.get("data")
        if isinstance(data, list):
            for unit_index, unit in enumerate(data):
                yield body_index, unit_index, unit


def split_by_day(start: int, end: int) -> Iterator[tuple[str, Interval]]:
    cursor = start
    while cursor < end:
        stop = min(end, cursor - cursor % DAY_SECONDS + DAY_SECONDS)
        yield iso_day(cursor), (cursor, stop)
        cursor = stop


def normalise(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted, with overlapping and touching intervals joined."""
    out: list[list[int]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((start, end) for start, end in out)


def answered_windows(source: Source) -> tuple[list[Interval], tuple[CoverageWindow, ...]]:
    """Windows the vendor answered, and those it did not (from the envelope), or for a
    capture without coverage data the window its request asked for."""
    capture = source.capture
    if capture is None:
        return [], ()
    if capture.coverage is not None:
        answered = [(w.start, w.end) for w in capture.coverage.answered]
        missing = tuple(w for w in capture.coverage.windows if w.state != "answered")
        return answered, missing
    query = capture.request.query
    start, end = _query_seconds(query.get("start_time")), _query_seconds(query.get("end_time"))
    if start is None or end is None or end <= start or not all(b.ok for b in source.bodies):
        return [], ()
    return [(start, end)], ()


def _query_seconds(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if type(value) is int and value >= 0 else None


def index_source(source: Source) -> SourceIndex | None:
    """Coverage of one capture (None for a surface without time windows)."""
    if not source.surface.windowed:
        return None
    per_day: dict[str, list[Interval]] = {}
    unit_days: set[str] = set()
    for *_, unit in data_units(source):
        interval = unit_interval(unit)
        if interval is not None:
            # A unit belongs to the date of its start, as the parsers file it.
            day = iso_day(interval[0])
            unit_days.add(day)
            per_day.setdefault(day, []).append(interval)
    answered, missing = answered_windows(source)
    for start, end in answered:
        for day, interval in split_by_day(start, end):
            per_day.setdefault(day, []).append(interval)
    captured_at = source.capture.captured_at if source.capture is not None else ""
    return SourceIndex(
        name=source.name,
        surface=source.surface.name,
        captured_at=captured_at,
        days={day: normalise(spans) for day, spans in sorted(per_day.items())},
        not_answered=missing,
        unit_days=frozenset(unit_days),
    )


def covered_days(indexes: Iterable[SourceIndex]) -> dict[str, set[str]]:
    days: dict[str, set[str]] = {}
    for index in indexes:
        days.setdefault(index.surface, set()).update(index.days)
    return days


@dataclass(frozen=True, slots=True)
class Gap:
    surface: str
    first: str
    last: str  # inclusive
    reasons: tuple[str, ...]  # what the captures say about these days, if anything

    @property
    def days(self) -> int:
        return (date.fromisoformat(self.last) - date.fromisoformat(self.first)).days + 1

    @property
    def label(self) -> str:
        return self.first if self.first == self.last else f"{self.first}..{self.last}"


def merged_range(days: Mapping[str, set[str]]) -> tuple[str, str] | None:
    every = [day for covered in days.values() for day in covered]
    return (min(every), max(every)) if every else None


def coverage_gaps(indexes: Sequence[SourceIndex]) -> list[Gap]:
    """Per surface, runs of dates in the merged range (first to last date any surface
    covers) that none of that surface's captures covers."""
    days = covered_days(indexes)
    bounds = merged_range(days)
    if bounds is None:
        return []
    first, last = date.fromisoformat(bounds[0]), date.fromisoformat(bounds[1])
    gaps: list[Gap] = []
    for surface in sorted(days):
        covered = days[surface]
        run: list[str] = []
        cursor = first
        while cursor <= last + timedelta(days=1):
            text = cursor.isoformat()
            if cursor <= last and text not in covered:
                run.append(text)
            elif run:
                gaps.append(_gap(surface, run, indexes))
                run = []
            cursor += timedelta(days=1)
    return gaps


def _gap(surface: str, run: list[str], indexes: Sequence[SourceIndex]) -> Gap:
    lo, hi = day_start(run[0]), day_start(run[-1]) + DAY_SECONDS
    reasons = sorted(
        {
            f"{window.state}: {window.reason}" if window.reason else window.state
            for index in indexes
            if index.surface == surface
            for window in index.not_answered
            if window.start < hi and window.end > lo
        }
    )
    return Gap(surface, run[0], run[-1], tuple(reasons) or ("not captured",))


def gap_findings(indexes: Sequence[SourceIndex]) -> list[Finding]:
    """One `coverage_gap` warning per run of uncovered dates of a surface."""
    findings = []
    bounds = merged_range(covered_days(indexes))
    for gap in coverage_gaps(indexes):
        sources = sorted(index.name for index in indexes if index.surface == gap.surface)
        assert bounds is not None
        why = "; ".join(gap.reasons)
        findings.append(
            Finding(
                surface=gap.surface,
                source=sources[0] if len(sources) == 1 else f"{len(sources)} captures",
                kind="coverage_gap",
                path="data[].start_time",
                pointer="",
                severity="warning",
                expected=f"coverage of the merged range {bounds[0]}..{bounds[1]}",
                observed=f"no data for {gap.label} ({gap.days} day(s); {why})",
                message=(
                    f"{gap.surface} does not cover {gap.label} ({gap.days} day(s); {why}); "
                    "its cells stay empty for those dates"
                ),
                consumed_by_merge=True,
                details={"first": gap.first, "last": gap.last, "days": gap.days},
            )
        )
    return findings
