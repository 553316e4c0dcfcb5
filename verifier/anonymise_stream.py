"""`verify anonymise` of a large file (a capture file, or a raw body given its surface),
never held whole: two passes over the input, the output written as it is made.

1. `plan_stream` (when the inputs are read): the file streams through the strict reader
   (so a bad file is refused, or read whole, exactly as before); each page's envelope is
   kept, exactly, with the k-anonymous values of its rows (`SharedValues`): the
   anonymiser must know every row of a page before it anonymises any.
2. `write_stream` (when the outputs are written): the file streams again, numbers kept
   digit for digit; the capture's envelope, each page's head and its rows slice by slice
   go through one `CaptureInParts` (the steps of `anonymise_capture`, in its order) and
   are serialised where `serialise` would put them, every part leak-gated before it is
   written.

The bytes are those of the whole-file path (tests/test_streamed_captures.py compares
them); NotStreamable or a refusal makes the caller take the whole-file path, which
decides and explains as it always did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from verifier.anonymise import ROWS_PATH, CaptureInParts, SharedValues, surface_rules
from verifier.inputs import (
    EXACT,
    EXACT_ENVELOPE,
    Body,
    NotStreamable,
    StreamedSource,
    open_streamed,
)
from verifier.keys import AnonKey
from verifier.page_stream import PAGE_ROWS, RAW_ROWS, RowsWriter, around_rows, page_frame
from verifier.store import Capture, Page, page_bytes, pages_frame, serialise
from verifier.surfaces import Surface

Write = Callable[[bytes], object]
Guard = Callable[[bytes], None]


@dataclass
class StreamPlan:
    """What the first pass learnt: the capture without its pages (for a raw body, the
    envelope it is wrapped in) and, per page whose rows stream, its head and the values
    its rows share."""

    source: StreamedSource
    capture: Capture
    raw_status: int | None  # the status recorded for a raw body; None: a capture file
    heads: dict[int, tuple[Page, frozenset[str]]] = field(default_factory=dict)
    pages: int = 0

    @property
    def raw(self) -> bool:
        return self.raw_status is not None


def _page_index(prefix: str) -> int:
    """`/pages/N/body` -> N; a raw body is the one page 0."""
    return int(prefix.split("/")[2]) if prefix else 0


class _Planner:
    """The first pass's sink."""

    def __init__(self, surface: Surface, raw_status: int | None, url: str) -> None:
        self._rules = surface_rules(surface)
        self._raw_status = raw_status
        self._url = url
        self._shared: dict[int, SharedValues] = {}
        self.heads: dict[int, tuple[Page, frozenset[str]]] = {}
        self.pages = 0

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        index = _page_index(prefix)
        if index not in self._shared:
            self._shared[index] = SharedValues(self._rules, ROWS_PATH)
        self._shared[index].add(rows)

    def body(self, body: Body) -> None:
        index = _page_index(body.pointer_prefix)
        self.pages += 1
        if not body.rows_streamed:
            return
        counted = self._shared.pop(index, None)
        shared = counted.result() if counted is not None else frozenset[str]()
        if self._raw_status is not None:
            page = Page(self._raw_status, self._url, {}, body.value)
        else:
            page = Page(body.status, body.url, dict(body.headers), body.value, body.body_text)
        self.heads[index] = (page, shared)


def plan_stream(
    path: Path,
    surface: Surface | None,
    min_bytes: int,
    wrap_raw: Callable[[Any], Capture],
    raw_status: int,
) -> StreamPlan | None:
    """Pass 1 over a file of `min_bytes` or more; None: read it whole. `wrap_raw` makes
    the capture envelope of a raw body (given its envelope)."""
    source = open_streamed(path, surface, min_bytes)
    if source is None:
        return None
    status = raw_status if source.capture is None else None
    url = source.surface.url_template
    planner = _Planner(source.surface, status, url)
    try:
        header = source.stream_bodies(planner, EXACT_ENVELOPE)
    except NotStreamable:
        return None
    if header is None:  # a raw body: the capture it becomes holds it as its one page
        head, _shared = planner.heads[0]
        capture = replace(wrap_raw(head.body), pages=())
    else:
        capture = header
    return StreamPlan(source, capture, status, planner.heads, planner.pages)


class _PageWriter:
    """The second pass's sink: each page serialised into the capture's `pages` array."""

    def __init__(self, plan: StreamPlan, parts: CaptureInParts, write: Write, guard: Guard):
        self._plan, self._parts = plan, parts
        self._write, self._guard = write, guard
        self._open: tuple[int, RowsWriter] | None = None
        self._written = 0

    def _start(self, index: int) -> RowsWriter:
        if self._open is not None and self._open[0] == index:
            return self._open[1]
        page, shared = self._plan.heads[index]
        head = self._parts.page_head(page, shared)
        if self._written:
            self._write(b",\n")
        writer = RowsWriter(self._write, self._guard, page_frame(head), PAGE_ROWS)
        self._open = (index, writer)
        return writer

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        self._start(_page_index(prefix)).add(self._parts.rows(rows))

    def body(self, body: Body) -> None:
        if body.rows_streamed:
            self._start(_page_index(body.pointer_prefix)).close()
            self._open = None
        else:
            page = Page(body.status, body.url, dict(body.headers), body.value, body.body_text)
            data = page_bytes(self._parts.page(page))
            self._guard(data)
            self._write((b",\n" if self._written else b"") + data)
        self._written += 1


def write_stream(
    plan: StreamPlan,
    key: AnonKey,
    secrets: tuple[str, ...],
    *,
    keep_raw: bool,
    write: Write,
    guard: Guard,
) -> None:
    """Pass 2: the anonymised output, in parts, each passing `guard` before `write`."""
    parts = CaptureInParts(plan.capture, key, secrets)
    if plan.raw and keep_raw:
        _write_raw_body(plan, parts, write, guard)
        return
    data = serialise(parts.envelope.to_json(), str(plan.source.path))
    guard(data)
    if not plan.pages:
        write(data)
        return
    before, after = pages_frame(data)
    write(before)
    sink = _PageWriter(plan, parts, write, guard)
    plan.source.stream_bodies(sink, EXACT)
    write(after)


def _write_raw_body(plan: StreamPlan, parts: CaptureInParts, write: Write, guard: Guard) -> None:
    """`--raw`: the body alone, in its own shape."""
    page, shared = plan.heads[0]
    head = parts.page_head(page, shared)
    name = str(plan.source.path)
    frame = around_rows(head.body, lambda body: serialise(body, name))
    plan.source.stream_bodies(_RawWriter(RowsWriter(write, guard, frame, RAW_ROWS), parts), EXACT)


class _RawWriter:
    """The second pass's sink for `--raw`: the one body's rows, then its end."""

    def __init__(self, out: RowsWriter, parts: CaptureInParts) -> None:
        self._out, self._parts = out, parts

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        self._out.add(self._parts.rows(rows))

    def body(self, body: Body) -> None:
        self._out.close()
