"""Each bucket counts once: which capture's data the merge uses for a surface's UTC day.

Captures taken over time overlap: a daily CI run re-reads the last days, a backfill
repeats a month, one file is given twice. For one surface and one UTC date, each capture
that covers some of that date is a *piece*: the intervals of the day it covers and when
it was captured. The rules, applied per (surface, date):

1. A piece whose covered time lies inside another piece's (an edge bucket clamped to
   12:00-24:00 inside a later whole-day bucket) adds nothing: the larger one is used.
2. Pieces covering exactly the same time are versions of one bucket: the newest capture
   (by `captured_at`) is used. Consecutive versions whose values differ are a
   restatement (the vendor revised the day); versions with equal values are duplicates
   and count once. Two versions with the same `captured_at` must hold equal values,
   or nobody can tell which is newer and the merge is refused.
3. What remains must not overlap (two edge buckets 00:00-12:00 and 12:00-24:00 from
   successive runs make one day together); an overlap that is neither containment nor
   identity (00:00-12:00 against 06:00-24:00) cannot be resolved and is refused.

`plan_day` decides from the covered time alone; whether two versions' values differ is
asked of the caller afterwards (`DayPlan.versions`), so values are only read for the
days where captures actually meet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from verifier.errors import InputError

Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Piece:
    """One capture's part of one surface's UTC day."""

    capture: int  # index of the capture in the merge's input order
    captured_at: str  # RFC 3339 UTC, one precision for all pieces: sorts as text
    spans: tuple[Interval, ...]  # sorted, non-overlapping, non-touching


@dataclass(frozen=True, slots=True)
class DayPlan:
    kept: tuple[int, ...]  # captures whose data for the day is merged
    dropped: tuple[int, ...]  # captures whose data for the day is left out
    # (older, newer) consecutive versions of one bucket: a restatement if values differ
    versions: tuple[tuple[int, int], ...]
    # (a, b) versions with the same captured_at: their values must be equal
    ties: tuple[tuple[int, int], ...]


class OverlapError(InputError):
    """Two captures cover overlapping parts of a day in a way no rule resolves."""


def covers(outer: Sequence[Interval], inner: Sequence[Interval]) -> bool:
    """Whether every second of `inner` lies inside `outer` (both normalised)."""
    return all(any(s <= a and b <= e for s, e in outer) for a, b in inner)


def intersects(one: Sequence[Interval], other: Sequence[Interval]) -> bool:
    return any(a < e and s < b for a, b in one for s, e in other)


def plan_day(pieces: Sequence[Piece], describe: DescribePiece | None = None) -> DayPlan:
    """Which pieces of one (surface, date) the merge uses; raises OverlapError."""
    if len(pieces) <= 1:
        return DayPlan(tuple(p.capture for p in pieces), (), (), ())
    contained = {
        p.capture
        for p in pieces
        if any(q.spans != p.spans and covers(q.spans, p.spans) for q in pieces)
    }
    groups: dict[tuple[Interval, ...], list[Piece]] = {}
    for piece in pieces:
        if piece.capture not in contained:
            groups.setdefault(piece.spans, []).append(piece)
    kept: list[Piece] = []
    versions: list[tuple[int, int]] = []
    ties: list[tuple[int, int]] = []
    for group in groups.values():
        ordered = sorted(group, key=lambda p: (p.captured_at, p.capture))
        for older, newer in pairwise(ordered):
            pair = (older.capture, newer.capture)
            (ties if older.captured_at == newer.captured_at else versions).append(pair)
        kept.append(ordered[-1])
    for index, one in enumerate(kept):
        for other in kept[index + 1 :]:
            if intersects(one.spans, other.spans):
                raise _overlap(one, other, describe)
    chosen = tuple(sorted(p.capture for p in kept))
    return DayPlan(
        kept=chosen,
        dropped=tuple(sorted(p.capture for p in pieces if p.capture not in chosen)),
        versions=tuple(versions),
        ties=tuple(ties),
    )


class DescribePiece:
    """How a refusal names a piece: its file and its surface and date."""

    def __init__(self, names: Sequence[str], surface: str, day: str) -> None:
        self.names = names
        self.surface = surface
        self.day = day


def _overlap(one: Piece, other: Piece, describe: DescribePiece | None) -> OverlapError:
    where = describe.names if describe is not None else None
    first = where[one.capture] if where else f"capture {one.capture}"
    second = where[other.capture] if where else f"capture {other.capture}"
    label = f"{describe.surface} {describe.day}" if describe is not None else "one day"
    return OverlapError(
        "merge",
        f"{label}: {first} covers {span_text(one.spans)} and {second} covers "
        f"{span_text(other.spans)}; the two overlap without one containing the other, so "
        "part of the day would be counted twice. Merge only one of these captures for "
        "that day (or re-capture the whole day)",
    )


def span_text(spans: Sequence[Interval]) -> str:
    return ", ".join(f"{_clock(s, False)}-{_clock(e, True)}" for s, e in spans)


def _clock(seconds: int, is_end: bool) -> str:
    """Time of day of a bucket edge; 24:00 for the midnight that ends an interval."""
    into = seconds % 86_400
    if into == 0:
        return "24:00" if is_end else "00:00"
    hours, rest = divmod(into, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
