"""The merge's parsers fed by a capture's stream: the same pass as the gate's.

`verify merge` reads each capture once: the gate's streamed reader (`verifier.inputs`)
hands every row slice to the gate's sinks and to a `MergeSink`, which runs the surface's
parser on it. Two things the parser cannot settle during that pass wait for its end:

- errors: a payload the parser cannot read is kept (`MergeSink.error`), not raised, so
  a capture the gate refuses is refused by the gate, as before;
- exactness: the rows come decoded by orjson, whose doubles give the vendor's number
  only when the text is the double's shortest form. Every slice's text is compared with
  what orjson writes for it (`verifier.exactjson.same_text`); a slice that differs (a
  number with more digits than a double holds, `1.50`) is decoded again there and then
  from that same text, numbers as `read_exact` reads them (`_exact_items`), and the
  parser gets those rows instead of orjson's: no second pass over the file. Only a
  capture where that cannot be done (the standard library refuses a slice orjson took, a
  body loaded whole) is read again by `read_exact`.

`read_exact` is also how a capture that lost dates to an overlapping one (the dedupe
rules: a backfill and the daily runs after it, a file given twice) is read with those
dates left out, and how both versions of a restated day are read. A large capture goes
through the streaming reader again, a `MergeSink` that leaves the dates out (a page is
never held: a costs page can be every user's results for months); a small one, loaded
whole, or one whose slices the standard library refuses, page by page with ijson, whose
numbers are Decimals of their text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ijson

from verifier.consumer.mapping import ReadingPlan
from verifier.coverage import iso_day, unit_interval
from verifier.errors import InputError
from verifier.exactjson import same_text
from verifier.inputs import Body, Input, StreamedSource, nesting_guard, page_body, read_input
from verifier.merge import chatgpt, costs, usage, users
from verifier.merge.breakdown import Breakdown
from verifier.merge.spill import set_budget
from verifier.store import Capture, page_from_json

Keep = Callable[[Any], bool]
Aggregate = chatgpt.CodexUsage | usage.ApiUsage | costs.ApiCosts | users.Directory


@dataclass
class Parsed:
    """What a finished parser read, without its reading machinery (generated read
    functions, field readers, `keep`): how a parser comes back from a worker process
    (`verifier.parallel`); `MergeInputs.add_parsed` takes it as it takes a parser."""

    name: str
    aggregate: Aggregate
    first: dict[str, str] = field(default_factory=dict)  # where each date's first bucket is

    def finish(self) -> None:
        """Finished in the worker already."""


Parser = chatgpt.Parser | usage.Parser | costs.Parser | users.Parser
Read = Parser | Parsed  # a parser, or what came back of one from a worker


def parsed(parser: Read) -> Parsed:
    """A parser's aggregate and what combining it needs (`MergeInputs.add_parsed`)."""
    if isinstance(parser, Parsed):
        return parser
    if isinstance(parser, chatgpt.Parser):
        return Parsed(parser.name, parser.usage)
    if isinstance(parser, usage.Parser):
        return Parsed(parser.name, parser.usage, parser.buckets.first)
    if isinstance(parser, costs.Parser):
        return Parsed(parser.name, parser.costs, parser.buckets.first)
    return Parsed(parser.name, parser.directory)


def spill_all(aggregate: Aggregate) -> None:
    """Every date of an aggregate to its spill file (the users list has none): how it
    leaves a worker, its chunks on disk rather than pickled Decimals."""
    with set_budget(0):
        if isinstance(aggregate, chatgpt.CodexUsage | usage.ApiUsage):
            aggregate.days.spill_if_over()
        elif isinstance(aggregate, costs.ApiCosts):
            aggregate.spill_if_over()


def new_parser(
    surface: str,
    name: str,
    plan: ReadingPlan,
    capture: Capture | None,
    keep: Keep | None = None,
    breakdown: Breakdown | None = None,
) -> Parser:
    """The parser of `surface` for one capture (`breakdown`: Codex credits per part)."""
    if surface == chatgpt.SURFACE.name:
        return chatgpt.Parser(name, plan, keep, breakdown)
    if surface == usage.SURFACE.name:
        return usage.Parser(name, plan, keep)
    if surface == costs.SURFACE.name:
        return costs.Parser(name, plan, capture, keep)
    if surface == users.SURFACE.name:
        return users.Parser(name, plan)
    raise InputError(name, f"surface {surface} has no merge parser")  # pragma: no cover


class MergeSink:
    """A surface parser as a `verifier.inputs.BodySink` that never raises (see above)."""

    def __init__(
        self,
        item: Input,
        plan: ReadingPlan,
        breakdown: Breakdown | None = None,
        keep: Keep | None = None,
    ) -> None:
        """`keep`: which buckets or rows the parser takes (all without it)."""
        self.plan = plan
        self._feed: Parser = new_parser(
            item.surface.name, item.name, plan, item.capture, keep, breakdown
        )
        self.parser: Read = self._feed  # after a worker's pass: what came back of it
        self.error: InputError | None = None
        # Every row slice's text checked (`row_text`): equal, or its rows decoded exactly.
        self.exact = True
        self._swaps: list[tuple[list[Any], list[Any]]] = []  # (orjson's, exact) items
        self._finished = False

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        if self._swaps:
            rows = self._swapped(rows)
        if self.error is None:
            self._guarded(self._feed.rows, prefix, first, rows)

    def row_text(self, text: str, rows: list[Any]) -> None:
        """Called before the `rows` call that hands over `rows` (or, for a row read in
        parts, before the one that hands over the row they make up)."""
        if not self.exact or same_text(text, rows):
            return
        exact = _exact_items(text, rows)
        if exact is None:
            self.exact = False  # `read_exact` reads the capture after the pass
        else:
            self._swaps.append((rows, exact))

    def _swapped(self, rows: list[Any]) -> list[Any]:
        """`rows` with the items decoded exactly (`row_text`) in place of orjson's. A
        slice comes as the very list `row_text` saw; a row read in parts (megabytes of
        results, `verifier.inputs._assembled`) is a new object holding the very values
        and items `row_text` saw, so those are found by identity. Anything not found
        leaves the capture to `read_exact`."""
        swaps, self._swaps = self._swaps, []
        if len(swaps) == 1 and swaps[0][0] is rows:
            return swaps[0][1]
        by_id = {
            id(given): item
            for given_items, exact in swaps
            for given, item in zip(given_items, exact, strict=True)
            if isinstance(given, dict | list | float)  # the same otherwise (`_exact_items`)
        }
        found: set[int] = set()
        swapped = [_swap(row, by_id, found) for row in rows]
        if len(found) != len(by_id):
            self.exact = False  # pragma: no cover - every reader path hands them over
        return swapped

    def body(self, body: Body) -> None:
        if not body.rows_streamed and body.ok and _has_rows(body.value):
            self.exact = False  # a body loaded whole: its number texts were not seen
        if self.error is None:
            self._guarded(self._feed.body, body)

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.error is None:
            self._guarded(self.parser.finish)

    def __reduce__(self) -> tuple[Any, ...]:
        """To the parent process (`verifier.parallel`): finished, its aggregate spilled
        whole to files the parent adopts (`verifier.merge.spill`), the parser's reading
        machinery left behind."""
        self.finish()
        result = parsed(self.parser)
        if self.error is None:
            spill_all(result.aggregate)
        return _arrived, (self.plan, result, self.error, self.exact)

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except InputError as error:
            self.error = error


def _arrived(plan: ReadingPlan, result: Parsed, error: InputError | None, exact: bool) -> MergeSink:
    sink = MergeSink.__new__(MergeSink)  # no parser made: it was read in the worker
    sink.plan, sink.parser, sink.error, sink.exact = plan, result, error, exact
    sink._swaps, sink._finished = [], True
    return sink


def _exact_items(text: str, rows: list[Any]) -> list[Any] | None:
    """The items of a row slice's text (items separated by commas, as the file holds
    them) with numbers as `read_exact` reads them: a Decimal of its text for a number with
    a fraction or an exponent, an int for an integer; None when the standard library's
    scanner refuses what orjson took, or gives other items (then the capture is read
    again). Only items that are fresh objects (containers, doubles) can be swapped by
    identity; any other item must come out the same."""
    try:
        items = _EXACT_ITEMS.decode(f"[{text}]")
    except (ValueError, RecursionError):
        return None
    if not isinstance(items, list) or len(items) != len(rows):
        return None  # pragma: no cover - orjson decoded the same text into `rows`
    for given, item in zip(rows, items, strict=True):
        if not isinstance(given, dict | list | float) and (
            type(given) is not type(item) or given != item
        ):
            return None
    return items


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")  # pragma: no cover - orjson refuses


# Numbers as ijson reads them for `read_exact` (`use_float=False`), in the C scanner.
_EXACT_ITEMS = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse)


def _swap(value: Any, by_id: dict[int, Any], found: set[int]) -> Any:
    """`value` with the objects `by_id` names replaced (containers rebuilt around them)."""
    key = id(value)
    if key in by_id:
        found.add(key)
        return by_id[key]
    if len(found) == len(by_id):
        return value
    if type(value) is dict:
        return {name: _swap(member, by_id, found) for name, member in value.items()}
    if type(value) is list:
        return [_swap(item, by_id, found) for item in value]
    return value


def _has_rows(value: Any) -> bool:
    return isinstance(value, dict) and bool(value.get("data"))


def read_exact(
    item: Input, plan: ReadingPlan, keep: Keep | None = None, breakdown: Breakdown | None = None
) -> Parser:
    """Parse a capture file with exact numbers (raises InputError), every number with a
    fraction or an exponent a Decimal of its text: streamed in row slices when it is
    large (`_read_streamed`), else page by page with ijson. The file has already passed
    the strict reader (the gate's, or the coverage pass's)."""
    if isinstance(item, StreamedSource):
        streamed = _read_streamed(item, plan, keep, breakdown)
        if streamed is not None:
            return streamed
    parser = new_parser(item.surface.name, item.name, plan, item.capture, keep, breakdown)
    for body in _exact_bodies(item.name):
        parser.body(body)
    parser.finish()
    return parser


def _read_streamed(
    item: StreamedSource, plan: ReadingPlan, keep: Keep | None, breakdown: Breakdown | None
) -> Parser | None:
    """The capture through the streaming reader, as the gate's pass reads it, its rows
    made exact slice by slice (`MergeSink`); None when a slice could not be (`exact`
    false: the standard library refused it, or the reader fell back to the whole file),
    for ijson to read it page by page."""
    with nesting_guard(item.name):
        sink, _capture = read_input(item, lambda: MergeSink(item, plan, breakdown, keep))
    if not sink.exact:
        return None
    sink.finish()
    if sink.error is not None:
        raise sink.error
    return sink._feed


def _exact_bodies(name: str) -> Iterator[Body]:
    try:
        with Path(name).open("rb") as handle:
            pages = ijson.items(handle, "pages.item", use_float=False)
            for index, page in enumerate(pages):
                yield page_body(page_from_json(page), index)
    except OSError as exc:
        raise InputError(name, f"cannot read: {exc.strerror or exc}") from None
    except (ijson.JSONError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(name, f"invalid capture: {str(exc).splitlines()[0]}") from None


def unit_day(unit: Any) -> str | None:
    """The UTC date a bucket or row is filed under (None when its edges are unreadable,
    which the parser then reports)."""
    interval = unit_interval(unit)
    return None if interval is None else iso_day(interval[0])


def without_days(days: frozenset[str]) -> Keep:
    return lambda unit: unit_day(unit) not in days


def only_days(days: frozenset[str]) -> Keep:
    return lambda unit: unit_day(unit) in days
