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
from verifier.inputs import Body, Source, feed_source
from verifier.store import Capture, CoverageWindow
from verifier.surfaces import Surface

DAY_SECONDS = 86_400
_EPOCH = date(1970, 1, 1)
# A Unix time this large is not in seconds (year 5138) but in a finer unit (`_UNITS`).
_FINER_FROM = 100_000_000_000
_UNITS = (1, 1_000, 1_000_000, 1_000_000_000)  # seconds, ms, us, ns: each 1,000x the last

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
    """A bucket edge as Unix seconds: an integer (seconds; milliseconds, microseconds or
    nanoseconds when that large; None beyond) or an RFC 3339 text with a zone. Only for
    locating coverage; the parsers read edges in the format the contract names and
    refuse any other."""
    if type(value) is int and value >= 0:
        for per_second in _UNITS:
            if value // per_second < _FINER_FROM:
                return value // per_second
        return None
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
    return capture_windows(source.capture, all(b.ok for b in source.bodies))


def capture_windows(
    capture: Capture | None, all_ok: bool
) -> tuple[list[Interval], tuple[CoverageWindow, ...]]:
    """`answered_windows` from a capture's metadata and whether every page was 2xx."""
    if capture is None:
        return [], ()
    if capture.coverage is not None:
        answered = [(w.start, w.end) for w in capture.coverage.answered]
        missing = tuple(w for w in capture.coverage.windows if w.state != "answered")
        return answered, missing
    query = capture.request.query
    start, end = _query_seconds(query.get("start_time")), _query_seconds(query.get("end_time"))
    if start is None or end is None or end <= start or not all_ok:
        return [], ()
    return [(start, end)], ()


def _query_seconds(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if type(value) is int and value >= 0 else None


def index_source(source: Source) -> SourceIndex | None:
    """Coverage of one capture (None for a surface without time windows)."""
    sink = CoverageSink(source.surface)
    return sink.index(source.name, feed_source(source, sink))


class CoverageSink:
    """Coverage of one capture's bodies, fed whole or streamed (`verifier.inputs`): per
    UTC date the distinct intervals of its buckets or rows, kept as sets (the rows of one
    day share their edges), so memory follows the days covered, not the rows."""

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        self.per_day: dict[str, set[Interval]] = {}
        self.all_ok = True
        self._edges: dict[tuple[Any, ...], Interval | None] = {}  # edges -> interval, memo

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        for unit in rows:
            self._unit(unit)

    def body(self, body: Body) -> None:
        if not body.ok:
            self.all_ok = False
            return
        data = body.value.get("data") if isinstance(body.value, dict) else None
        if isinstance(data, list):
            for unit in data:
                self._unit(unit)

    def _unit(self, unit: Any) -> None:
        if not isinstance(unit, dict):
            return
        start, end = unit.get("start_time"), unit.get("end_time")
        key = (type(start), start, type(end), end)
        try:
            if key in self._edges:
                return  # edges seen before: their interval is recorded already
            interval = self._edges[key] = unit_interval(unit)
        except TypeError:  # unhashable edges (a list): no memo
            interval = unit_interval(unit)
        if interval is not None:
            # A unit belongs to the date of its start, as the parsers file it.
            self.per_day.setdefault(iso_day(interval[0]), set()).add(interval)

    def index(self, name: str, capture: Capture | None) -> SourceIndex | None:
        """The finished index, given the capture's metadata (its coverage windows)."""
        if not self.surface.windowed:
            return None
        unit_days = frozenset(self.per_day)
        per_day: dict[str, set[Interval]] = {day: set(v) for day, v in self.per_day.items()}
        answered, missing = capture_windows(capture, self.all_ok)
        for start, end in answered:
            for day, interval in split_by_day(start, end):
                per_day.setdefault(day, set()).add(interval)
        return SourceIndex(
            name=name,
            surface=self.surface.name,
            captured_at=capture.captured_at if capture is not None else "",
            days={day: normalise(spans) for day, spans in sorted(per_day.items())},
            not_answered=missing,
            unit_days=unit_days,
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
