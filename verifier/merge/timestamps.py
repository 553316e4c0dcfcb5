"""Bucket timestamps -> UTC dates, read in the formats the reading plan records.

The parsers never guess a timestamp's format from its value: the lock (or, unlocked,
the capture's own profile) records which contract formats a field carries, and a value
in another format is an input error. The one tolerance: a lock that recorded a zoned
RFC 3339 spelling reads every zoned RFC 3339 spelling (`Z`, `+00:00`, a fraction), since
they name the same instant. Seconds and milliseconds are never told apart by magnitude:
a field recorded with both is refused. Decoding is memoised per distinct value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from verifier.consumer.mapping import FieldPlan, readable_formats
from verifier.merge.fields import ABSENT, FieldReader
from verifier.merge.values import ValueProblem, describe

DAY_SECONDS = 86_400
_EPOCH = date(1970, 1, 1)

Decoder = Callable[[Any], int | None]


def _rfc3339(suffix_ok: Callable[[str], bool]) -> Decoder:
    def decode(value: Any) -> int | None:
        if not isinstance(value, str) or "T" not in value.upper() or not suffix_ok(value):
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
        # Bucket edges are whole seconds; a fraction would not change the day.
        return int(moment.timestamp())

    return decode


# 10000-01-01T00:00:00Z: a Unix time from here has no UTC date (a unit 1,000x off,
# microseconds read as seconds, lands far beyond it).
_NO_DATE_FROM = 253_402_300_800


def _unix(scale: int) -> Decoder:
    def decode(value: Any) -> int | None:
        if type(value) is not int or value < 0 or value // scale >= _NO_DATE_FROM:
            return None
        return value // scale

    return decode


def _date_only(value: Any) -> int | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return (day - _EPOCH).days * DAY_SECONDS


def _offset(text: str) -> bool:
    return len(text) > 6 and text[-6] in "+-" and text[-3] == ":"


DECODERS: dict[str, Decoder] = {
    "rfc3339-z": _rfc3339(lambda text: text[-1:] in "Zz" and "." not in text),
    "rfc3339-z-fraction": _rfc3339(lambda text: text[-1:] in "Zz" and "." in text),
    "rfc3339-offset": _rfc3339(_offset),
    "unix-seconds": _unix(1),
    "unix-millis": _unix(1000),
    "date": _date_only,
}


class TimestampReader:
    """Decodes one field's timestamps to Unix seconds, memoised per value."""

    __slots__ = ("_cache", "_decoders", "field", "field_formats", "formats", "path", "recorded")

    def __init__(self, plan: FieldPlan, row_path: str) -> None:
        self.field = FieldReader(plan, row_path)
        self.path = plan.path
        self.field_formats = plan.field.timestamp_formats
        self.recorded = plan.formats
        formats = readable_formats(plan.formats)
        self.formats = formats
        known = sorted(f for f in formats if f in DECODERS)
        if {"unix-seconds", "unix-millis"} <= formats:
            known = []  # both recorded: a number's unit would be a guess
        self._decoders = [DECODERS[name] for name in known]
        self._cache: dict[tuple[Any, type], int] = {}

    def seconds(self, value: Any) -> int:
        key = (value, type(value))  # 1.0 == 1 == True must not share an entry
        try:
            return self._cache[key]
        except (KeyError, TypeError):  # TypeError: unhashable value, reported below
            pass
        seconds = next((s for s in (d(value) for d in self._decoders) if s is not None), None)
        if seconds is None:
            raise ValueProblem(self.path, f"{self._expected()}, found {describe(value)}")
        self._cache[key] = seconds
        return seconds

    def _expected(self) -> str:
        if not self.formats:
            accepted = ", ".join(sorted(self.field_formats))
            return f"expected a timestamp in an accepted format ({accepted}); none was recorded"
        return f"expected a timestamp in {' or '.join(sorted(self.recorded))} format (as recorded)"


class DayReader:
    """A bucket's (start, end) -> (UTC date of the start, whether it is partial).

    A bucket is whole when it starts at 00:00:00Z and lasts exactly one day. Anything
    else (the vendor clamps the first and last bucket to the request window; a weekly
    bucket) is kept under the UTC date of its start and flagged partial."""

    __slots__ = ("_days", "_pairs", "end", "plain", "start")

    def __init__(self, start: FieldPlan, end: FieldPlan, row_path: str) -> None:
        self.start = TimestampReader(start, row_path)
        self.end = TimestampReader(end, row_path)
        self._days: dict[int, str] = {}
        self._pairs: dict[tuple[Any, Any, type, type], tuple[str, bool]] = {}
        # `plain_day`'s answers, keyed on the two edges alone: a caller with edges whose
        # types are exactly str or int looks here first (`plain.get((start, end))`).
        self.plain: dict[tuple[str | int, str | int], tuple[str, bool]] = {}

    def of(self, row: Any) -> tuple[str, bool]:
        """The day of a row (or bucket) holding both edges."""
        return self.day(self.start.field.value(row), self.end.field.value(row))

    def day(self, start_value: Any, end_value: Any) -> tuple[str, bool]:
        # Types are part of the key: 1.0 == 1 == True must not share an entry.
        key = (start_value, end_value, type(start_value), type(end_value))
        try:
            return self._pairs[key]
        except (KeyError, TypeError):  # TypeError: unhashable, reported by _decode
            pass
        found = self._decode(start_value, end_value)
        self._pairs[key] = found
        return found

    def plain_day(self, start_value: str | int, end_value: str | int) -> tuple[str, bool]:
        """`day` for edges whose types are exactly str or int, remembered in `plain`: no
        two such pairs are equal unless their types are (unlike 1 == 1.0 == True)."""
        found = self.plain[(start_value, end_value)] = self.day(start_value, end_value)
        return found

    def _decode(self, start_value: Any, end_value: Any) -> tuple[str, bool]:
        if start_value is ABSENT or end_value is ABSENT:  # pragma: no cover - value() raised
            raise ValueProblem(self.start.path, "required by the merge but absent")
        start = self.start.seconds(start_value)
        end = self.end.seconds(end_value)
        if end <= start:
            raise ValueProblem(self.end.path, "the bucket ends before or when it starts")
        partial = start % DAY_SECONDS != 0 or end - start != DAY_SECONDS
        return self._iso_day(start), partial

    def _iso_day(self, seconds: int) -> str:
        text = self._days.get(seconds)
        if text is None:
            text = (_EPOCH + timedelta(seconds=seconds)).isoformat()
            self._days[seconds] = text
        return text


def day_reader(plan: Any, row_path: str) -> DayReader:
    """The DayReader of a surface plan's `start_time`/`end_time` fields."""
    return DayReader(plan["start_time"], plan["end_time"], row_path)
