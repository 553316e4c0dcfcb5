"""Bucket timestamps -> UTC dates, read per the schema's `x-timestamp-format`.

The parsers never guess a timestamp's format from its value: the schema says which
contract format a field carries (`rfc3339-z` for the documented ChatGPT surface,
`unix-seconds` for OpenAI), and a value in another format is an input error. Decoding
is memoised per distinct value: a month of per-user rows repeats a few dozen stamps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from verifier.merge.values import ValueProblem, describe
from verifier.schemas import surface_nodes
from verifier.surfaces import Surface

DAY_SECONDS = 86_400
_EPOCH = date(1970, 1, 1)

Decoder = Callable[[Any], int | None]


def _rfc3339(suffix_ok: Callable[[str], bool]) -> Decoder:
    def decode(value: Any) -> int | None:
        if not isinstance(value, str) or "T" not in value or not suffix_ok(value):
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


def _unix(scale: int) -> Decoder:
    def decode(value: Any) -> int | None:
        if type(value) is not int or value < 0:
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


def _numeric_string(value: Any) -> int | None:
    if not isinstance(value, str) or not value.isdigit():
        return None
    return int(value)


DECODERS: dict[str, Decoder] = {
    "rfc3339-z": _rfc3339(lambda text: text.endswith("Z") and "." not in text),
    "rfc3339-z-fraction": _rfc3339(lambda text: text.endswith("Z")),
    "rfc3339-offset": _rfc3339(lambda text: text[-6] in "+-" if len(text) > 6 else False),
    "unix-seconds": _unix(1),
    "unix-millis": _unix(1000),
    "date": _date_only,
    "numeric-string": _numeric_string,
}


class TimestampReader:
    """Decodes one schema path's timestamps to Unix seconds, memoised per value."""

    __slots__ = ("_cache", "_decode", "format_name", "path")

    def __init__(self, surface: Surface, path: str) -> None:
        node = surface_nodes(surface).get(path)
        format_name = node.timestamp_format if node is not None else None
        if format_name not in DECODERS:
            raise LookupError(f"schema gives {surface.name} {path} no known x-timestamp-format")
        assert format_name is not None
        self.path = path
        self.format_name = format_name
        self._decode = DECODERS[format_name]
        self._cache: dict[tuple[Any, type], int] = {}

    def seconds(self, value: Any) -> int:
        key = (value, type(value))  # 1.0 == 1 == True must not share an entry
        try:
            return self._cache[key]
        except (KeyError, TypeError):  # TypeError: unhashable value, reported below
            pass
        seconds = self._decode(value)
        if seconds is None:
            raise ValueProblem(
                self.path,
                f"expected a timestamp in {self.format_name} format, found {describe(value)}",
            )
        self._cache[key] = seconds
        return seconds


class DayReader:
    """A bucket's (start, end) -> (UTC date of the start, whether it is partial).

    A bucket is whole when it starts at 00:00:00Z and lasts exactly one day. Anything
    else (the vendor clamps the first and last bucket to the request window; a weekly
    bucket) is kept under the UTC date of its start and flagged partial."""

    __slots__ = ("_days", "_pairs", "end", "start")

    def __init__(self, surface: Surface, start_path: str, end_path: str) -> None:
        self.start = TimestampReader(surface, start_path)
        self.end = TimestampReader(surface, end_path)
        self._days: dict[int, str] = {}
        self._pairs: dict[tuple[Any, Any, type, type], tuple[str, bool]] = {}

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

    def _decode(self, start_value: Any, end_value: Any) -> tuple[str, bool]:
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
