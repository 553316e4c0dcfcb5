"""A large page of a capture run, anonymised, leak-gated and spooled in row slices.

A costs page of 180 daily buckets holds every user's results: tens of megabytes of JSON,
several hundred once decoded, anonymised, serialised and parsed again by the leak gate.
Such a page (`LargePage`: the body's JSON text as received, its envelope decoded) never
exists whole in memory; it goes through three passes over its text:

1. when it arrives (`large_page`): the envelope, exactly, for the cursor; the rows are
   only read, which proves the whole body is JSON that streams (else it is decoded whole,
   as before);
2. the rows' strings, for the anonymiser's k-anonymity (`SharedValues`), which must know
   every row of the page before it anonymises any;
3. the rows decoded exactly (`loads_exact`, slice by slice), anonymised (`PageInParts`),
   serialised at their place in the page and leak-gated, one slice at a time, into the
   chain's spool.

The bytes spooled are those `page_bytes` gives for the page anonymised whole
(tests/test_capture_streaming.py compares them). Anything the stream cannot do exactly
(NotStreamable) or a leak-gate refusal falls back to the whole page (`LargePage.whole`),
which decides and explains as it always did.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

import orjson

from verifier.anonymise import ROWS_PATH, PageInParts, SharedValues, surface_rules
from verifier.exactjson import dumps_default, loads_exact
from verifier.inputs import EXACT, EXACT_ENVELOPE, ROWS_KEY, NotStreamable, stream_body_bytes
from verifier.keys import AnonKey
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
    status: int, url: str, headers: dict[str, str], source: bytes | IO[bytes]
) -> LargePage | None:
    """Pass 1: the page with its envelope, when the body is JSON that streams; else None."""
    try:
        envelope = stream_body_bytes(source, _ignore_rows, EXACT_ENVELOPE)
    except NotStreamable:
        return None
    return LargePage(status, url, headers, envelope, source=source)


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
) -> Page:
    """Passes 2 and 3: write the anonymised page with `write` in parts, each gated by
    `guard` before it is written. Returns the anonymised page without its body (the
    chain's stub)."""
    shared = SharedValues(surface_rules(surface), ROWS_PATH)
    stream_body_bytes(page.source, lambda _first, rows: shared.add(rows), EXACT_ENVELOPE)
    parts = PageInParts(surface, page, shared.result(), key, secrets)
    out = RowsWriter(write, guard, page_frame(parts.head), PAGE_ROWS)
    stream_body_bytes(page.source, lambda _first, rows: out.add(parts.rows(rows)), EXACT)
    out.close()
    return Page(parts.head.status, parts.head.url)
