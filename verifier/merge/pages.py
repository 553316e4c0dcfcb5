"""Walking a capture's pages: every page must be a 2xx JSON object, and the last page
must say there is nothing more, or the data is incomplete and a merge would undercount.

The parsers take their rows in slices (`RowParser.rows`), as the streaming reader
(`verifier.inputs`) hands them over, or a whole body at a time (`RowParser.body`, a page
loaded whole); `PageWalk` applies the page checks either way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from verifier.errors import InputError
from verifier.inputs import Body, Source
from verifier.merge.timestamps import DayReader
from verifier.merge.values import ValueProblem, array, flag, member


class RowParser(Protocol):
    """A surface parser fed one capture's pages (a `verifier.inputs.BodySink`)."""

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None: ...

    def body(self, body: Body) -> None: ...

    def finish(self) -> None: ...


class PageWalk:
    """The page checks of one capture, for bodies arriving one at a time: a body's rows
    go to `on_rows` (streamed before it, or taken from a body loaded whole)."""

    __slots__ = ("_last_has_more", "_name", "_on_rows", "_pages")

    def __init__(self, name: str, on_rows: Callable[[str, int, list[Any]], None]) -> None:
        self._name = name
        self._on_rows = on_rows
        self._pages = 0
        self._last_has_more = False

    def body(self, body: Body) -> None:
        data = page_data(self._name, body)
        self._pages += 1
        self._last_has_more = body.value["has_more"]  # a boolean: page_data checked it
        if not body.rows_streamed:
            self._on_rows(body.pointer_prefix, 0, data)

    def finish(self) -> None:
        if not self._pages:
            raise InputError(self._name, NO_PAGES)
        if self._last_has_more:
            raise InputError(self._name, LAST_HAS_MORE)


class PageParser:
    """What the surface parsers share: their capture's name, the page checks, and the
    filter `keep` (a row -> bool) that leaves rows out unread (the dates a capture lost
    to an overlapping one)."""

    def __init__(self, name: str, keep: Callable[[Any], bool] | None = None) -> None:
        self.name = name
        self._keep = keep
        self._pages = PageWalk(name, self.rows)

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        raise NotImplementedError  # pragma: no cover - every parser has its own

    def body(self, body: Body) -> None:
        self._pages.body(body)

    def finish(self) -> None:
        self._pages.finish()
        self.sources.append(self.name)

    @property
    def sources(self) -> list[str]:
        raise NotImplementedError  # pragma: no cover - every parser has its own


NO_PAGES = "the capture has no pages, so there is nothing to merge"
LAST_HAS_MORE = (
    "the last page says has_more=true: the capture stops before the data does, "
    "so its totals would be too low; capture the whole window again"
)


def page_data(name: str, body: Body) -> list[Any]:
    """The `data` array of a page, after checking the page is usable."""
    if not body.ok:
        raise InputError(
            name,
            f"page {body.pointer_prefix or '/'} is an HTTP {body.status} answer, not data; "
            "the capture is incomplete, so its totals would be wrong",
        )
    try:
        data = array(member(body.value, "data", "data"), "data")
        flag(member(body.value, "has_more", "has_more"), "has_more")
    except ValueProblem as problem:
        raise problem.at(name, body.pointer_prefix, ()) from None
    return data


def feed(parser: RowParser, source: Source) -> None:
    """A whole Source through a parser, as a stream would hand it over."""
    for body in source.bodies:
        parser.body(body)
    parser.finish()


class Buckets:
    """The OpenAI time buckets of one capture: each bucket's UTC date and partial flag,
    and its `results`. `seen` maps each UTC date already read (for this surface, this
    capture) to whether that bucket was partial: a second bucket for a date is an overlap
    (counted twice) unless both are clamped edge buckets. `first` keeps, per date, where
    its first bucket is (the pointer an error across captures names)."""

    __slots__ = ("_name", "_reader", "first", "seen")

    def __init__(self, name: str, reader: DayReader) -> None:
        self._name = name
        self._reader = reader
        self.seen: dict[str, bool] = {}
        self.first: dict[str, str] = {}

    def bucket(self, prefix: str, index: int, bucket: Any) -> tuple[str, bool, list[Any]]:
        try:
            day, partial = self._reader.of(bucket)
            results = array(member(bucket, "results", "data[].results"), "data[].results")
        except ValueProblem as problem:
            raise problem.at(self._name, prefix, (index,)) from None
        earlier = self.seen.get(day)
        if earlier is None:
            self.first[day] = f"{prefix}/data/{index}"
        elif not (earlier and partial):
            raise InputError(self._name, second_bucket(f"{prefix}/data/{index}", day))
        self.seen[day] = partial
        return day, partial, results


def second_bucket(where: str, day: str) -> str:
    return (
        f"{where}: a second bucket for UTC date {day}; "
        "overlapping captures would count that day twice"
    )


def combine_seen(
    name: str, into: dict[str, bool], seen: dict[str, bool], first: dict[str, str]
) -> None:
    """Add one capture's bucket dates to those of the captures before it."""
    for day, partial in seen.items():
        earlier = into.get(day)
        if earlier is not None and not (earlier and partial):
            raise InputError(name, second_bucket(first.get(day, ""), day))
        into[day] = partial
