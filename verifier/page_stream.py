"""A large page of a capture run, anonymised, leak-gated and spooled in row slices.

A costs page of 180 daily buckets holds every user's results: tens of megabytes of JSON,
several hundred once decoded, anonymised, serialised and parsed again by the leak gate.
Such a page (`LargePage`: the body's JSON text as received, its envelope decoded) never
exists whole in memory; it goes through three passes over its text:

1. when it arrives (`large_page`): the envelope, exactly, for the cursor; the rows are
   only read, which proves the whole body is JSON that streams (else it is decoded whole,
   as before);
2. the rows' strings, for the anonymiser's k-anonymity (`SharedValues`), which must know
   every row of the page before it anonymises any (read in the same parse as pass 1
   when `large_page` knows the surface);
3. the rows decoded exactly (`loads_exact`, slice by slice), anonymised (`PageInParts`),
   serialised at their place in the page and leak-gated, one slice at a time, into the
   chain's spool.

The bytes spooled are those `page_bytes` gives for the page anonymised whole
(tests/test_capture_streaming.py compares them). Anything the stream cannot do exactly
(NotStreamable) or a leak-gate refusal falls back to the whole page (`LargePage.whole`),
which decides and explains as it always did.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

import orjson

from verifier import paths
from verifier.anonymise import ROWS_PATH, PageInParts, Pseudonyms, SharedValues, surface_rules
from verifier.exactjson import dumps_default, loads_exact
from verifier.inputs import (
    EXACT,
    EXACT_ENVELOPE,
    ITEMS,
    MEMBERS,
    ROWS_KEY,
    SLICES,
    WHOLE,
    NotStreamable,
    stream_body_bytes,
    stream_tree,
)
from verifier.keys import AnonKey
from verifier.schemas import surface_nodes
from verifier.store import Page, page_bytes
from verifier.surfaces import Surface

# Rows sit 5 levels deep in a capture file (envelope, pages, page, body, data): orjson
# indents them by 10 spaces, 8 more than the items of an array written alone.
PAGE_ROWS = 8
RAW_ROWS = 2  # 2 levels deep in a raw body written alone (body, data)


def decode_body(content: bytes) -> tuple[Any, str | None]:
    """(body, body_text) of an answer as recorded: JSON with exact numbers, else text."""
    if not content.strip():
        return None, None
    try:
        return loads_exact(content), None  # numbers digit for digit, never through a double
    except orjson.JSONDecodeError:
        return None, content.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class LargePage(Page):
    """A 2xx page whose body is streamed: `body` is its envelope (`data` emptied, numbers
    exact), `source` the body's JSON as received (in a temp file, or bytes); whoever
    holds it closes it."""

    source: bytes | IO[bytes] = b""
    shared: frozenset[str] | None = None  # pass 2's k-anonymous values, when known

    def content(self) -> bytes:
        if isinstance(self.source, bytes):
            return self.source
        self.source.seek(0)
        return self.source.read()

    def whole(self) -> Page:
        """The page decoded whole, as `verify capture` records a small one."""
        body, text = decode_body(self.content())
        return Page(self.status, self.url, dict(self.headers), body, text)

    def close(self) -> None:
        if not isinstance(self.source, bytes):
            self.source.close()

    def to_json(self) -> dict[str, Any]:
        return self.whole().to_json()  # whoever serialises it unaware gets the whole page


def _ignore_rows(_first: int, _rows: list[Any]) -> None:
    pass


def large_page(
    status: int,
    url: str,
    headers: dict[str, str],
    source: bytes | IO[bytes],
    surface: Surface | None = None,
) -> LargePage | None:
    """Pass 1: the page with its envelope, when the body is JSON that streams; else None.
    `surface` says whether the page holds buckets (read bucket by bucket); given, the same
    parse does pass 2 (one parse of the page less)."""
    if surface is None:
        try:
            envelope = stream_body_bytes(source, _ignore_rows, EXACT_ENVELOPE)
        except NotStreamable:
            return None
        return LargePage(status, url, headers, envelope, source=source)
    shared = SharedValues(surface_rules(surface), ROWS_PATH)
    try:
        envelope = _envelope_and_shared(surface, source, shared)
    except NotStreamable:
        return None
    return LargePage(status, url, headers, envelope, source=source, shared=shared.result())


def _envelope_and_shared(
    surface: Surface, source: bytes | IO[bytes], shared: SharedValues
) -> dict[str, Any]:
    """Passes 1 and 2 in one parse: the envelope (returned), the rows' strings counted."""
    if bucketed(surface):
        reader = _EnvelopeAndShared(shared)
        stream_tree(_handle(source), reader, _root(), policy=page_policy, decoding=EXACT_ENVELOPE)
        return reader.envelope_of.envelope
    return stream_body_bytes(source, lambda _first, rows: shared.add(rows), EXACT_ENVELOPE)


def _handle(source: bytes | IO[bytes]) -> IO[bytes]:
    return io.BytesIO(source) if isinstance(source, bytes) else source


def _root() -> _Slot:
    return _Slot(paths.ROOT, None, 0, None)


class RowsWriter:
    """Writes a `data` array's value in slices between the bytes before and after it, as
    orjson writes it whole (`[]`, or its rows indented `shift` more than orjson indents
    the items of an array written alone). Every part passes `guard` first."""

    def __init__(
        self,
        write: Callable[[bytes], object],
        guard: Callable[[bytes], None],
        frame: tuple[bytes, bytes],
        shift: int,
    ) -> None:
        self._write, self._guard = write, guard
        self._before, self._after = frame
        self._shift = b" " * shift
        self.rows = 0
        guard(self._before + b"[]" + self._after)
        write(self._before)

    def add(self, rows: Sequence[Any]) -> None:
        if not rows:
            return
        data = orjson.dumps(list(rows), default=dumps_default, option=orjson.OPT_INDENT_2)
        inner = data[2:-2]  # without `[\n` and `\n]`: the items, indented by 2
        shifted = self._shift + inner.replace(b"\n", b"\n" + self._shift)
        self._guard(b"[\n" + shifted + b"\n]")
        self._write(b",\n" if self.rows else b"[\n")
        self._write(shifted)
        self.rows += len(rows)

    def close(self) -> None:
        end = b"\n" + self._shift + b"]" if self.rows else b"[]"
        self._write(end + self._after)


def around_rows(body: Any, serialise_with: Callable[[Any], bytes]) -> tuple[bytes, bytes]:
    """The bytes `serialise_with` gives around the value of `body`'s `data` (the body as
    it would be written with that value in its place)."""
    if not isinstance(body, dict) or ROWS_KEY not in body:
        raise NotStreamable("the anonymised envelope has no `data`")
    marker = f"verify-rows-{uuid.uuid4().hex}"  # random: no string of the page equals it
    data = serialise_with({**body, ROWS_KEY: marker})
    before, found, after = data.partition(orjson.dumps(marker))
    if not found:
        raise NotStreamable("the rows' place was not found")
    return before, after


def body_frame(head: Page) -> tuple[bytes, bytes]:
    """The bytes of a page (as in a capture file) around its body."""
    marker = f"verify-body-{uuid.uuid4().hex}"  # random: no string of the page equals it
    data = page_bytes(replace(head, body=marker))
    before, found, after = data.partition(orjson.dumps(marker))
    if not found:
        raise NotStreamable("the body's place was not found")
    return before, after


def page_frame(head: Page) -> tuple[bytes, bytes]:
    """The bytes of a page (as in a capture file) around its body's `data` value."""
    return around_rows(head.body, lambda body: page_bytes(replace(head, body=body)))


def spool_page(
    surface: Surface,
    page: LargePage,
    write: Callable[[bytes], object],
    *,
    key: AnonKey,
    secrets: Sequence[str],
    guard: Callable[[bytes], None],
    pseudonyms: Pseudonyms | None = None,
) -> Page:
    """Passes 2 and 3: write the anonymised page with `write` in parts, each gated by
    `guard` before it is written. Returns the anonymised page without its body (the
    chain's stub)."""
    if page.shared is None:  # pass 2, unless `large_page` did it
        shared = SharedValues(surface_rules(surface), ROWS_PATH)
        _envelope_and_shared(surface, page.source, shared)
        page = replace(page, shared=shared.result())
    assert page.shared is not None
    if bucketed(surface):
        source = _handle(page.source)
        parts = PageInParts(surface, page, page.shared, key, secrets, pseudonyms)
        before, after = body_frame(parts.head)
        guard(before + b"{}" + after)
        write(before)
        writer = _PageWriterOf(parts, write, guard)
        stream_tree(source, writer, _root(), policy=page_policy, decoding=EXACT)
        write(after)
        return Page(parts.head.status, parts.head.url)
    parts = PageInParts(surface, page, page.shared, key, secrets, pseudonyms)
    out = RowsWriter(write, guard, page_frame(parts.head), PAGE_ROWS)
    stream_body_bytes(page.source, lambda _first, rows: out.add(parts.rows(rows)), EXACT)
    out.close()
    return Page(parts.head.status, parts.head.url)


# -- A bucketed page (usage, costs): each bucket member by member, its results in slices --
#
# A bucket holds one day's results of every user: with thousands of users one bucket is
# megabytes of JSON, so a slice of whole buckets would grow with the organisation. For
# such surfaces the passes read `data` bucket by bucket and each bucket's arrays (its
# `results`) in slices (`inputs.stream_tree` with `page_policy`), and write the page as
# orjson writes it whole, container by container.


def bucketed(surface: Surface) -> bool:
    """Whether the surface's rows hold an array of results (its buckets grow with users)."""
    return any(path.startswith("data[].results[]") for path in surface_nodes(surface))


def page_policy(depth: int, name: str | None, opening: str) -> str:
    """The body member by member, `data` bucket by bucket, a bucket member by member, the
    arrays inside a bucket in slices; everything else whole."""
    if depth == 1 and name == ROWS_KEY and opening == "[":
        return ITEMS
    if depth == 2 and name is None and opening == "{":
        return MEMBERS
    if depth == 3 and opening == "[":
        return SLICES
    return WHOLE


@dataclass(slots=True)
class _Slot:
    """A value's place in the body: its contract path, the member name it is the value
    of (None: an item), its depth (the body is 0), and, once it streams, its container."""

    path: str
    member: str | None
    depth: int
    parent: _Container | None
    key: bytes = b""  # the member name as written (anonymised), `"name": `
    container: _Container | None = None


@dataclass(slots=True)
class _Container:
    closing: bytes
    level: int  # indentation: its members' lines start with (level + 1) * 2 spaces
    count: int = 0
    names: set[str] | None = None  # member names written (objects)


class _EnvelopeOf:
    """Pass 1's visitor: the body's top-level members but `data` (emptied)."""

    def __init__(self) -> None:
        self.envelope: dict[str, Any] = {}

    def member(self, parent: _Slot, name: str) -> _Slot:
        return _Slot(name, name, parent.depth + 1, None)

    def item(self, parent: _Slot, index: int) -> _Slot:
        return _Slot("", None, parent.depth + 1, None)

    def open(self, here: _Slot, opening: str) -> None:
        if here.depth == 1 and here.member == ROWS_KEY:
            self.envelope[ROWS_KEY] = []

    def items(self, parent: _Slot, first: int, items: list[Any]) -> None:
        pass

    def value(self, where: _Slot, value: Any) -> None:
        if where.depth == 1:
            if where.member == ROWS_KEY:
                raise NotStreamable("`data` is not an array")
            self.envelope[str(where.member)] = value

    def end(self, container: _Slot) -> None:
        if container.depth == 0 and ROWS_KEY not in self.envelope:
            raise NotStreamable("no `data` array")


class _SharedOf:
    """Pass 2's visitor: the k-anonymous values, a bucket's strings gathered over its
    members and slices before the bucket counts as one row."""

    def __init__(self, shared: SharedValues) -> None:
        self._shared = shared
        self._row: tuple[set[str], set[str]] | None = None

    def member(self, parent: _Slot, name: str) -> _Slot:
        return _Slot(paths.child(parent.path, name), name, parent.depth + 1, None)

    def item(self, parent: _Slot, index: int) -> _Slot:
        return _Slot(paths.item(parent.path), None, parent.depth + 1, None)

    def open(self, here: _Slot, opening: str) -> None:
        if here.depth == 2:
            self._row = (set(), set())

    def items(self, parent: _Slot, first: int, items: list[Any]) -> None:
        path = paths.item(parent.path)
        for item in items:
            self._part(item, path, None)

    def value(self, where: _Slot, value: Any) -> None:
        if where.depth == 2:  # a row decoded whole
            self._shared.add_strings(*self._shared.row_strings(value, where.path))
        elif where.depth > 2:
            self._part(value, where.path, where.member)

    def _part(self, value: Any, path: str, member: str | None) -> None:
        if self._row is not None:
            identities, formatted = self._shared.row_strings(value, path, member)
            self._row[0].update(identities)
            self._row[1].update(formatted)

    def end(self, container: _Slot) -> None:
        if container.depth == 2 and self._row is not None:
            self._shared.add_strings(*self._row)
            self._row = None


class _EnvelopeAndShared(_SharedOf):
    """Passes 1 and 2 at once: `_SharedOf`, and the envelope as `_EnvelopeOf` reads it
    (which looks at depths and member names only, so `_SharedOf`'s places serve it)."""

    def __init__(self, shared: SharedValues) -> None:
        super().__init__(shared)
        self.envelope_of = _EnvelopeOf()

    def open(self, here: _Slot, opening: str) -> None:
        self.envelope_of.open(here, opening)
        super().open(here, opening)

    def value(self, where: _Slot, value: Any) -> None:
        self.envelope_of.value(where, value)
        super().value(where, value)

    def end(self, container: _Slot) -> None:
        self.envelope_of.end(container)
        super().end(container)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=dumps_default, option=orjson.OPT_INDENT_2)


class _PageWriterOf:
    """Pass 3's visitor: each part anonymised, gated and written where orjson puts it when
    it writes the page whole (`base` spaces before every line of the page)."""

    def __init__(
        self, parts: PageInParts, write: Callable[[bytes], object], guard: Callable[[bytes], None]
    ) -> None:
        self._parts, self._write, self._guard = parts, write, guard
        self._base = b" " * 4  # a page's lines in a capture file (`store.page_bytes`)

    def _indent(self, level: int) -> bytes:
        return self._base + b"  " * level

    def _child(self, parent: _Slot) -> _Container:
        assert parent.container is not None
        return parent.container

    def member(self, parent: _Slot, name: str) -> _Slot:
        container = self._child(parent)
        shown = self._parts.member_name(name)
        assert container.names is not None
        if shown in container.names:  # two spellings of one email: both members kept
            shown = self._parts.colliding_name(name)
        if shown in container.names:  # the whole page would keep one: it decides
            raise NotStreamable("two members with one anonymised name")
        container.names.add(shown)
        key = orjson.dumps(shown) + b": "
        self._guard(b"{" + key + b"null}")
        return _Slot(paths.child(parent.path, name), name, parent.depth + 1, parent.container, key)

    def item(self, parent: _Slot, index: int) -> _Slot:
        return _Slot(paths.item(parent.path), None, parent.depth + 1, self._child(parent))

    def _start_child(self, slot: _Slot) -> None:
        """What comes before a child's value: the separator, indentation, member name."""
        container = slot.parent
        if container is None:
            return  # the body: the page's frame was written before it
        self._write(b",\n" if container.count else b"\n")
        self._write(self._indent(container.level + 1) + slot.key)
        container.count += 1

    def open(self, here: _Slot, opening: str) -> None:
        self._start_child(here)
        level = 1 if here.parent is None else here.parent.level + 1
        names: set[str] | None = set() if opening == "{" else None
        here.container = _Container(b"}" if opening == "{" else b"]", level, names=names)
        self._write(opening.encode())

    def items(self, parent: _Slot, first: int, items: list[Any]) -> None:
        if not items:
            return
        container = self._child(parent)
        path = paths.item(parent.path)
        data = _dumps([self._parts.part(item, path, None) for item in items])
        shift = self._indent(container.level)  # items are indented by 2 already
        inner = shift + data[2:-2].replace(b"\n", b"\n" + shift)
        self._guard(b"[\n" + inner + b"\n]")
        self._write(b",\n" if container.count else b"\n")
        self._write(inner)
        container.count += len(items)

    def value(self, where: _Slot, value: Any) -> None:
        data = _dumps(self._parts.part(value, where.path, where.member))
        container = where.parent
        shift = self._indent(0 if container is None else container.level + 1)
        data = data.replace(b"\n", b"\n" + shift)
        self._guard(b"{" + where.key + data + b"}" if where.key else b"[" + data + b"]")
        self._start_child(where)
        self._write(data)

    def end(self, container: _Slot) -> None:
        own = self._child(container)
        if own.count:
            self._write(b"\n" + self._indent(own.level) + own.closing)
        else:
            self._write(own.closing)
