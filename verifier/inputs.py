"""Reading payload files: capture files written by `verify capture` and raw response
bodies exactly as an API returned them. Every way a file can be unusable becomes an
InputError with one line naming the file and the problem (exit 2)."""

from __future__ import annotations

import codecs
import gc
import io
import json
import math
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import orjson

from verifier.errors import InputError, UsageError
from verifier.exactjson import JsonNumber, float_or_exact, int_or_exact
from verifier.store import (
    Capture,
    Page,
    capture_from_json,
    capture_header,
    is_capture_document,
    page_from_json,
)
from verifier.surfaces import Surface, get_surface

# RFC 7493 (I-JSON): integers beyond +-(2**53 - 1) do not survive common JSON parsers.
MAX_EXACT_INT = 2**53 - 1
_BOMS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16 LE",
    b"\xfe\xff": "UTF-16 BE",
}
_NON_FINITE = ("NaN", "Infinity", "-Infinity")


@dataclass(frozen=True, slots=True)
class Body:
    """One response body inside a source, with where it sits in the source file."""

    status: int
    value: Any
    pointer_prefix: str  # "" for a raw body, "/pages/N/body" inside a capture file
    url: str = ""
    body_text: str | None = None
    # True when the `data` items were handed over in slices before this body, whose
    # `value` then holds `"data": []` (a streamed page); False: `value` is the whole body.
    rows_streamed: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)  # of a capture file's page

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Source:
    """A payload file resolved to its surface."""

    name: str
    surface: Surface
    bodies: tuple[Body, ...]
    capture: Capture | None = None

    @property
    def ok_bodies(self) -> Iterator[Body]:
        return (body for body in self.bodies if body.ok)


def expand_paths(paths: Iterable[str | Path], *, recursive: bool = False) -> list[Path]:
    """Files as given; a directory means every `*.json` beneath it (the dated folders
    `verify capture` makes), sorted, except lock files (`*.lock.json`, read only through
    `--locks-dir`). Hidden directories such as `.git` are skipped.

    `recursive` (used by `verify scan`) takes every file beneath a directory instead."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = _files_beneath(path) if recursive else _json_files_in(path)
            if not found:
                wanted = "files" if recursive else "*.json files"
                raise InputError(str(path), f"directory contains no {wanted}")
            files.extend(found)
        elif path.exists():
            require_regular_file(path)
            files.append(path)
        else:
            raise InputError(str(path), "no such file or directory")
    if not files:
        raise UsageError("no input files given")
    return files


def _json_files_in(directory: Path) -> list[Path]:
    return [p for p in _files_beneath(directory, "*.json") if not p.name.endswith(".lock.json")]


def _files_beneath(directory: Path, pattern: str = "*") -> list[Path]:
    def hidden(file: Path) -> bool:
        return any(part.startswith(".") for part in file.relative_to(directory).parts[:-1])

    return sorted(p for p in directory.rglob(pattern) if p.is_file() and not hidden(p))


@contextmanager
def nesting_guard(source: str) -> Iterator[None]:
    """Valid JSON nested hundreds of levels deep (orjson accepts 1,024) exhausts Python's
    recursion in the walkers that follow: report it as bad input naming the file."""
    try:
        yield
    except RecursionError:
        raise InputError(source, "nested too deeply to process") from None


def require_regular_file(path: Path) -> None:
    """A named pipe, socket or device would block or never end: refused, never opened."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(str(path), "is a directory")
    if not stat.S_ISREG(mode):
        raise InputError(str(path), "is not a regular file (a pipe, socket or device)")


def read_bytes(path: Path) -> bytes:
    require_regular_file(path)
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise InputError(str(path), "is a directory") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None


def parse_json_bytes(data: bytes, source: str) -> Any:
    """Strict JSON: UTF-8 without BOM, no NaN/Infinity, bounded depth and integers."""
    if not data.strip():
        raise InputError(source, "file is empty")
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise InputError(
                source, f"starts with a {name} byte-order mark; save it as UTF-8 without a BOM"
            )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(source, f"is not valid UTF-8 (byte offset {exc.start})") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(source, _describe_decode_error(exc)) from None
    if _may_hold_long_integer(data):
        _check_integers(data, source)
    return document


def _may_hold_long_integer(data: bytes) -> bool:
    """Whether a number token of 16+ digits may occur (then the exact, slow check runs; a
    false hit costs only time). A regex over every digit costs ~100 ns per byte; this is
    the streaming reader's check (`_has_long_number`), plus a document that is a number."""
    if not _has_digit_run(data):
        return False
    return data.lstrip()[:1] in b"-0123456789" or _has_long_number(data.translate(_DIGITS_AS_ZERO))


def json_problem(text: str) -> str:
    """Why `text` is not JSON, in the words a file would get ("" when it is)."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _describe_decode_error(exc)
    return ""


def _describe_decode_error(exc: orjson.JSONDecodeError) -> str:
    where = f"line {exc.lineno} column {exc.colno}"
    text = exc.doc if isinstance(exc.doc, str) else ""
    rest = text[exc.pos : exc.pos + 9]
    if rest.startswith(_NON_FINITE) or text[max(exc.pos - 1, 0) :].startswith("-Infinity"):
        return f"invalid JSON at {where}: NaN and Infinity are not JSON numbers"
    if "depth" in exc.msg.lower() or "recursion" in exc.msg.lower():
        return f"invalid JSON at {where}: nested too deeply (more than 1024 levels)"
    if exc.msg == _OVERFLOW:
        return f"number out of range: {_number_token(text, exc.pos)} at {where} ({_RANGE})"
    return f"invalid JSON at {where}: {exc.msg}"


_OVERFLOW = "number is infinity when parsed as double"  # orjson's words for `1e400`
_RANGE = "beyond a double's +-1.8e308, the range JSON readers share, RFC 8259 section 6"
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _number_token(text: str, pos: int) -> str:
    """The number at `pos` as written (`1e400`); a long one by its length only."""
    found = _NUMBER.match(text, pos)
    token = found.group(0) if found else ""
    return token if 0 < len(token) <= 24 else f"a number of {len(token)} characters"


def _check_integers(data: bytes, source: str) -> None:
    """Only when long digit runs exist (rare): re-read with the standard library, which
    keeps integers exact (orjson turns integers beyond 64 bits into floats), and reject
    integers JSON cannot carry exactly."""

    def exact_int(text: str) -> int:
        value = int(text)
        if abs(value) > MAX_EXACT_INT:
            raise InputError(
                source,
                f"an integer of {len(text.lstrip('-'))} digit(s) is outside +-(2**53-1), the "
                "range JSON numbers keep exactly (RFC 7493)",
            )
        return value

    json.loads(data, parse_int=exact_int)


def load_json_file(path: Path) -> Any:
    return parse_json_bytes(read_bytes(path), str(path))


def source_from_document(document: Any, name: str, surface: Surface | None) -> Source:
    """Resolve a parsed file to a Source: a capture knows its surface, a raw body needs one."""
    if is_capture_document(document):
        capture = capture_from_json(document, name)
        if surface is not None and surface.name != capture.surface:
            raise InputError(
                name,
                f"is a {capture.surface} capture but --surface {surface.name} was given",
            )
        bodies = tuple(page_body(page, i) for i, page in enumerate(capture.pages))
        return Source(name, get_surface(capture.surface), bodies, capture)
    if surface is None:
        raise UsageError(f"{name}: raw response body; say which surface it is with --surface NAME")
    if not isinstance(document, dict):
        raise InputError(
            name, f"expected a JSON object (a response body), found a JSON {json_type(document)}"
        )
    return Source(name, surface, (Body(200, document, ""),))


def page_body(page: Page, index: int, *, rows_streamed: bool = False) -> Body:
    """The Body of page `index` of a capture file (pointers `/pages/N/body/...`)."""
    prefix = f"/pages/{index}/body"
    return Body(
        page.status, page.body, prefix, page.url, page.body_text, rows_streamed, page.headers
    )


def load_sources(paths: Sequence[str | Path], surface_name: str | None = None) -> list[Source]:
    surface = get_surface(surface_name) if surface_name else None
    return [
        source_from_document(load_json_file(path), str(path), surface)
        for path in expand_paths(paths)
    ]


def json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    return "object"


# -- Streaming large files ------------------------------------------------------------------
#
# A month of enterprise usage is hundreds of megabytes; loading it whole costs ~1.9 GB.
# Large files are read in one pass through a sliding window of text instead: a raw body
# (a top-level object whose `data` array holds the rows) and a capture file (its
# members, then each page of `pages`: status, url, headers, then the body, whose `data`
# items stream the same way). Runs of `data` items are decoded by orjson, about 1 MiB at
# a time, between boundaries learned from the first items (`_RowSplitter`), and handed to
# the consumer as row slices; any other value (an envelope member, a page's headers, an
# item the splitter does not take) is decoded by the C scanner of the standard library's
# `json` (`raw_decode`). Anything this reader cannot reproduce exactly as
# `parse_json_bytes` would (any syntax error, a BOM, invalid UTF-8, NaN/Infinity, long
# digit runs, huge exponents, lone surrogates, deep nesting, trailing data, a repeated
# member, a capture whose header does not come before its pages, a raw `data` that is
# missing or not an array) raises NotStreamable: the caller then loads the file whole
# instead (`read_input` does it), so errors and verdicts are the same on both paths.

STREAM_MIN_BYTES = 1024 * 1024
ROWS_KEY = "data"
PAGES_KEY = "pages"
_LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_HEAD_BYTES = 4096
_STRICT_DEPTH = 1024  # orjson's nesting limit
_RAW_ROW_DEPTH = 2  # a raw body's rows sit inside `{"data": [`
_PAGE_ROW_DEPTH = 5  # a capture's rows sit inside `{"pages": [{"body": {"data": [`


def row_weight(row: Any) -> int:
    """Rough size of a streamed row for batching: 1 + the items of its array members (a
    usage bucket holds a thousand results; a Codex usage row holds none)."""
    if not isinstance(row, dict):
        return 1
    return 1 + sum(len(v) for v in row.values() if isinstance(v, list))


class NotStreamable(Exception):
    """The file must be loaded whole (the caller does it; never shown to a user)."""


class BodySink(Protocol):
    """What a streaming reader hands a consumer, in document order."""

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        """A slice of `data` items of the 2xx body at `prefix` ("" for a raw body,
        "/pages/N/body" in a capture file); `first` is the index of `rows[0]`."""

    def body(self, body: Body) -> None:
        """Each body, after its rows; `body.rows_streamed` says whether they came first
        (and `body.value["data"]` is then empty)."""


RowsCallback = Callable[[int, list[Any]], None]
# A sink may also have `row_text(text, rows)`: called before each row slice of a capture
# file's page with the JSON text the slice was decoded from (the merge checks that every
# number's text is the one its double gives back, `verifier.exactjson.same_text`).
RowTextCallback = Callable[[str, list[Any]], None]


@dataclass(frozen=True, slots=True)
class StreamedSource:
    """A large raw response body or capture file, read as a stream, never held at once."""

    name: str
    surface: Surface
    path: Path
    capture: Capture | None = None  # a capture file's metadata, without pages or findings

    def load_whole(self) -> Source:
        """The ordinary whole-document Source (raises InputError exactly as it would)."""
        surface = None if self.capture is not None else self.surface
        return source_from_document(load_json_file(self.path), self.name, surface)

    def stream(self, on_row: Callable[[int, Any], None]) -> dict[str, Any]:
        """Call `on_row(index, item)` for each `data` item of a raw body; return the
        envelope with `data` emptied. Raises NotStreamable when the file must be loaded
        whole."""

        def each(first: int, rows: list[Any]) -> None:
            for index, row in enumerate(rows, first):
                on_row(index, row)

        return stream_raw_body(self.path, each)

    def stream_bodies(self, sink: BodySink, decoding: _Decoding | None = None) -> Capture | None:
        """Hand every body (and its rows) to `sink`; return a capture file's metadata
        (with its recorded findings, without pages), None for a raw body. Raises
        NotStreamable when the file must be loaded whole (the sink then holds a part).
        `decoding` (EXACT, EXACT_ENVELOPE) keeps numbers' texts as `loads_exact` does."""
        how = _FAST if decoding is None else decoding
        if self.capture is None:
            envelope = stream_raw_body(self.path, partial(sink.rows, ""), how)
            sink.body(Body(200, envelope, "", rows_streamed=True))
            return None
        document = _stream_file(self.path, partial(_capture_document, sink=sink), decoding=how)
        try:
            return capture_header(document, self.name)
        except InputError:
            raise NotStreamable("malformed capture metadata") from None


Input = Source | StreamedSource


def feed_source(source: Source, sink: BodySink) -> Capture | None:
    """Hand a whole Source's bodies to a sink, as a stream would."""
    for body in source.bodies:
        sink.body(body)
    return source.capture


SinkT = TypeVar("SinkT", bound=BodySink)


def read_input(item: Input, new_sink: Callable[[], SinkT]) -> tuple[SinkT, Capture | None]:
    """Feed one input to a fresh sink: streamed when it can be, else (or when the stream
    gives up part-way: NotStreamable) loaded whole into another fresh sink. Returns the
    sink and a capture file's metadata."""
    if isinstance(item, StreamedSource):
        sink = new_sink()
        try:
            return sink, item.stream_bodies(sink)
        except NotStreamable:
            item = item.load_whole()
    sink = new_sink()
    return sink, feed_source(item, sink)


def load_inputs(
    paths: Sequence[str | Path],
    surface_name: str | None = None,
    *,
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> list[Input]:
    """Like `load_sources`, but files of `stream_min_bytes` or more come back as
    StreamedSource (a capture file always can; a raw body when its surface is given)."""
    surface = get_surface(surface_name) if surface_name else None
    out: list[Input] = []
    for path in expand_paths(paths):
        streamed = _open_streamed(path, surface, stream_min_bytes)
        if streamed is None:
            out.append(source_from_document(load_json_file(path), str(path), surface))
        else:
            out.append(streamed)
    return out


def load_capture_inputs(
    paths: Sequence[str | Path], *, refusal: str, stream_min_bytes: int | None = None
) -> list[Input]:
    """Capture files only (those of `stream_min_bytes`, default STREAM_MIN_BYTES, or more
    streamed), for readers that need capture metadata; any other file is an InputError
    saying `refusal`."""
    limit = STREAM_MIN_BYTES if stream_min_bytes is None else stream_min_bytes
    out: list[Input] = []
    for path in expand_paths(paths):
        streamed = _open_streamed(path, None, limit)
        if streamed is not None:  # without a surface given, only a capture file streams
            out.append(streamed)
            continue
        document = load_json_file(path)
        if not is_capture_document(document):
            raise InputError(str(path), refusal)
        out.append(source_from_document(document, str(path), None))
    return out


def open_streamed(path: Path, surface: Surface | None, min_bytes: int) -> StreamedSource | None:
    """A large capture file (or, `surface` given, raw body) as a stream; None: read whole."""
    return _open_streamed(path, surface, min_bytes)


def _open_streamed(path: Path, surface: Surface | None, min_bytes: int) -> StreamedSource | None:
    """A StreamedSource for a large file whose kind is known from its first bytes."""
    head = _streamable_head(path, min_bytes)
    if head is None:
        return None
    if b'"verify-capture"' not in head:
        return None if surface is None else StreamedSource(str(path), surface, path)
    capture = _capture_metadata(path)
    if capture is None:
        return None  # the whole-file reader decides (and explains)
    if surface is not None and surface.name != capture.surface:
        raise InputError(
            str(path), f"is a {capture.surface} capture but --surface {surface.name} was given"
        )
    return StreamedSource(str(path), get_surface(capture.surface), path, capture)


def _streamable_head(path: Path, min_bytes: int) -> bytes | None:
    """The first bytes of a file large enough to stream that starts like a JSON object."""
    if sys.getrecursionlimit() > _STRICT_DEPTH:
        return None  # the decoder's depth limit must stay below the strict reader's
    try:
        if path.stat().st_size < min_bytes:
            return None
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return None  # the whole-file reader reports it
    if not head.lstrip().startswith(b"{") or head.startswith(tuple(_BOMS)):
        return None
    return head


def _capture_metadata(path: Path) -> Capture | None:
    """The metadata members a capture file holds before `pages`, or None when they are
    not all there (the file is then read whole)."""
    window = _TextWindow(path, first_read=64 * 1024)
    try:
        head: dict[str, Any] = {}
        for name in _members(window):
            if name == PAGES_KEY or name in head:
                break
            head[name] = window.value()
        return capture_header(head, str(path))
    except (NotStreamable, InputError):
        return None
    finally:
        window.close()


def _capture_document(window: _TextWindow, sink: BodySink) -> dict[str, Any]:
    """A capture file's members, its pages streamed to `sink` (`pages` left empty)."""
    document: dict[str, Any] = {}
    for name in _members(window):
        if name in document:
            raise NotStreamable("a repeated member")
        if name == PAGES_KEY:
            if not is_capture_document(document) or "format_version" not in document:
                raise NotStreamable("pages before the capture's metadata")
            _array(window, partial(_page, sink=sink))
            document[name] = []
        else:
            document[name] = window.value()
    return document


def _page(window: _TextWindow, index: int, sink: BodySink) -> None:
    """One page: a 2xx page's body streams its `data` items as row slices."""
    prefix = f"/pages/{index}/body"
    members: dict[str, Any] = {}
    streamed = False
    for name in _members(window):
        if name in members:
            raise NotStreamable("a repeated member")
        status = members.get("status")
        if name == "body" and type(status) is int and 200 <= status < 300 and window.peek() == "{":
            rows = partial(sink.rows, prefix)
            texts: RowTextCallback | None = getattr(sink, "row_text", None)
            members[name], streamed = _body(
                window, rows, _PAGE_ROW_DEPTH, require_rows=False, on_text=texts
            )
        else:
            members[name] = window.value()
    try:
        page = page_from_json(members)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise NotStreamable("a malformed page") from None
    sink.body(page_body(page, index, rows_streamed=streamed))


def _members(window: _TextWindow) -> Iterator[str]:
    """The member names of the object at the window, in order; the caller consumes each
    member's value before asking for the next name."""
    if window.next_char() != "{":
        raise NotStreamable("not an object")
    if window.peek() == "}":
        window.pos += 1
        return
    while True:
        name = window.key()
        if window.next_char() != ":":
            raise NotStreamable("expected ':'")
        yield name
        separator = window.next_char()
        if separator == "}":
            return
        if separator != ",":
            raise NotStreamable("expected ',' or '}'")


def _array(window: _TextWindow, item: Callable[[_TextWindow, int], None]) -> None:
    """The items of the array at the window, each consumed by `item(window, index)`."""
    if window.next_char() != "[":
        raise NotStreamable("not an array")
    if window.peek() == "]":
        window.pos += 1
        return
    index = 0
    while True:
        item(window, index)
        index += 1
        separator = window.next_char()
        if separator == "]":
            return
        if separator != ",":
            raise NotStreamable("expected ',' or ']'")


# -- Streaming any JSON file in document order (`verify scan`, a capture's large pages) ----

ContextT = TypeVar("ContextT")
_TREE_OBJECT_DEPTH = 3  # objects this deep stream member by member (a capture's page body)


class TreeVisitor(Protocol[ContextT]):
    """What `stream_tree` tells its consumer, in document order. A context stands for one
    value's place (its path, say); the visitor makes them."""

    def member(self, parent: ContextT, name: str) -> ContextT:
        """The next member of a streamed object: the context of its value."""

    def item(self, parent: ContextT, index: int) -> ContextT:
        """An item of a streamed array whose items stream too: its context."""

    def open(self, here: ContextT, opening: str) -> None:
        """The value at `here` streams: an object (`{`) or an array (`[`)."""

    def items(self, parent: ContextT, first: int, items: list[Any]) -> None:
        """A slice of the items of a streamed array, decoded whole, `items[0]` at `first`."""

    def value(self, where: ContextT, value: Any) -> None:
        """A value decoded whole at `where`."""

    def end(self, container: ContextT) -> None:
        """The streamed object or array at `container` is over (after its last member)."""


MEMBERS, ITEMS, SLICES, WHOLE = "members", "items", "slices", "whole"
# How `stream_tree` reads a value: (depth, member name or None, "{" "[" or other) -> one of
# MEMBERS (an object, member by member), ITEMS (an array, item by item), SLICES (an
# array, its items decoded whole in row slices), WHOLE (decoded whole).
TreePolicy = Callable[[int, str | None, str], str]


def scan_policy(depth: int, name: str | None, opening: str) -> str:
    """Objects down to depth 3 (a capture's envelope, page and body), the top-level
    `pages` item by item, any other array in slices."""
    if opening == "{":
        return MEMBERS if depth <= _TREE_OBJECT_DEPTH else WHOLE
    if opening == "[":
        return ITEMS if depth == 1 and name == PAGES_KEY else SLICES
    return WHOLE


def stream_tree(
    source: Path | IO[bytes],
    visitor: TreeVisitor[ContextT],
    root: ContextT,
    *,
    policy: TreePolicy = scan_policy,
    decoding: _Decoding | None = None,
    arrays: bool = False,
) -> None:
    """Every value of a JSON file (or a temp file, read from its start and left open)
    whose top-level value is an object (or, with `arrays`, an array: read as `policy`
    says at depth 0), in document order, never holding it: each value read as `policy`
    says (`depth`: the containers around it). Raises NotStreamable where the strict
    reader must decide (a repeated member included)."""

    def top_level(window: _TextWindow) -> None:
        opening = window.peek()
        if opening != "{" and not (arrays and opening == "["):
            raise NotStreamable("not an object")
        _tree(window, visitor, root, 0, None, policy)

    if not isinstance(source, Path):
        source.seek(0)
    how = _FAST if decoding is None else decoding
    _stream_file(source, top_level, decoding=how, pause_gc=isinstance(source, Path))


def _tree(
    window: _TextWindow,
    visitor: TreeVisitor[ContextT],
    here: ContextT,
    depth: int,
    name: str | None,
    policy: TreePolicy,
) -> None:
    """The value at the window, `depth` containers deep, the member `name` (None: an
    item or the top-level value)."""
    opening = window.peek()
    how = MEMBERS if depth == 0 and opening == "{" else policy(depth, name, opening)
    if how == MEMBERS and opening == "{":
        visitor.open(here, opening)
        seen: set[str] = set()
        for member in _members(window):
            if member in seen:
                raise NotStreamable("a repeated member")
            seen.add(member)
            child = visitor.member(here, member)
            _tree(window, visitor, child, depth + 1, member, policy)
        visitor.end(here)
    elif how == ITEMS and opening == "[":
        visitor.open(here, opening)

        def item(inner: _TextWindow, index: int) -> None:
            _tree(inner, visitor, visitor.item(here, index), depth + 1, None, policy)

        _array(window, item)
        visitor.end(here)
    elif how == SLICES and opening == "[":
        visitor.open(here, opening)
        window.pos += 1
        _rows(window, partial(visitor.items, here), depth + 1, None)
        visitor.end(here)
    else:
        visitor.value(here, window.value())


# A JSON number token follows `[`, `:` or `,` (and whitespace); digit runs inside strings
# (ids, cursors) do not make a file unstreamable.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_SIXTEEN_DIGITS = b"0" * 16
_WHITESPACE = b" \t\r\n"


class _CheckedReader:
    """Byte reader that refuses, chunk by chunk, what the strict reader treats specially:
    integers beyond 2**53-1 and lone surrogate escapes. (Floats that overflow are refused
    by the decoder; nesting by the decoder's recursion limit, which is below orjson's
    1,024 levels, so a deep file always goes to the strict reader.)"""

    def __init__(self, source: Path | IO[bytes]) -> None:
        self._owned = isinstance(source, Path)  # a handle given is the giver's to close
        self._handle = source.open("rb") if isinstance(source, Path) else source
        self._number_tail = b""
        self._escape_tail = b""

    def read(self, size: int) -> bytes:
        chunk = self._handle.read(size)
        numbers = self._number_tail + chunk
        escapes = self._escape_tail + chunk
        # A backslash first: finding one byte is ~70x faster than finding `\u`.
        surrogate = b"\\" in escapes and _LONE_SURROGATE.search(escapes)
        long_number = (
            _has_digit_run(numbers)
            and _has_long_number(numbers.translate(_DIGITS_AS_ZERO))
            and not _long_numbers_are_exact_ints(numbers)
        )
        if surrogate or long_number:
            raise NotStreamable("needs the strict whole-file checks")
        # Carry what a token split by the chunk boundary needs: the separator, whitespace
        # and digits of a number still being read; the last bytes of an escape.
        context = _number_context(numbers)
        self._number_tail = context
        self._escape_tail = escapes[-8:]
        return chunk

    def close(self) -> None:
        if self._owned:
            self._handle.close()


_STRIDE = 4
_STRIDED_RUN = b"0" * (len(_SIXTEEN_DIGITS) // _STRIDE)


def _has_digit_run(window: bytes) -> bool:
    """Whether `window` holds 16 digits in a row. Looks at every 4th byte first (a
    translation of a quarter of the bytes): 16 digits in a row cover 4 sampled bytes in a
    row, and each place where 4 sampled digits follow one another (an id, a long float)
    is checked in full."""
    sample = window[::_STRIDE].translate(_DIGITS_AS_ZERO)
    at = sample.find(_STRIDED_RUN)
    while at != -1:
        end = at + len(_STRIDED_RUN)
        while end < len(sample) and sample[end] == 0x30:
            end += 1
        # A run of 16 digits starting at byte s has sampled digits at the multiples of 4
        # in [s, s + 16), so its sampled run is [at, end) with 4 * at - 3 <= s and
        # s + 16 <= 4 * end: it lies inside this region.
        region = window[max(0, _STRIDE * at - _STRIDE) : _STRIDE * end + _STRIDE]
        if _SIXTEEN_DIGITS in region.translate(_DIGITS_AS_ZERO):
            return True
        at = sample.find(_STRIDED_RUN, end)
    return False


def _has_long_number(digits: bytes) -> bool:
    """A number token of 16+ digits in `digits` (the window with every digit turned into
    `0`; a regex over every digit is 20x slower than this): find 16-digit runs, then look
    left of each for the `[`, `:` or `,` a number follows."""
    start = digits.find(_SIXTEEN_DIGITS)
    while start != -1:
        if _follows_separator(digits, start):
            return True
        end = start + 16
        while end < len(digits) and digits[end] == 0x30:
            end += 1
        start = digits.find(_SIXTEEN_DIGITS, end)
    return False


# A number token of 16+ digits and what follows it (a fraction or an exponent makes it
# a float; the end of the window: it may go on in the next chunk, which sees it again).
_LONG_TOKEN = re.compile(rb"[\[:,][ \t\r\n]*(-?[0-9]{16,})([.eE]?)")


def _long_numbers_are_exact_ints(window: bytes) -> bool:
    """Whether every number token of 16+ digits in `window` is an integer JSON keeps
    exactly (within +-(2**53-1): Unix microseconds, for one): orjson reads those
    exactly, so the stream goes on. Anything else (an integer beyond, a float with 16+
    digits before its point) goes to the strict whole-file reader, which refuses it or
    reads it exactly."""
    for found in _LONG_TOKEN.finditer(window):
        digits, after = found.group(1), found.group(2)
        if after or abs(int(digits)) > MAX_EXACT_INT:
            return False
    return True


def _follows_separator(digits: bytes, start: int) -> bool:
    for low in (max(0, start - 64), 0):  # a short look first; all of it if that was blank
        before = digits[low:start].rstrip(b"0")
        before = before[:-1] if before.endswith(b"-") else before
        before = before.rstrip(_WHITESPACE)
        if before or low == 0:
            return before[-1:] in (b":", b"[", b",")
    return False


def _number_context(window: bytes) -> bytes:
    """The end of `window` a number token continuing in the next chunk would need:
    separator, whitespace, minus sign and digits (trailing whitespace is irrelevant)."""
    trimmed = window.rstrip(_WHITESPACE)
    digits = trimmed.rstrip(b"0123456789")
    sign = digits[:-1] if digits.endswith(b"-") else digits
    spaces = sign.rstrip(_WHITESPACE)
    start = len(spaces) - 1 if spaces[-1:] in (b":", b"[", b",") else len(sign)
    return trimmed[start:]


def _refuse_constant(name: str) -> Any:
    raise NotStreamable(f"{name} is not JSON")  # NaN, Infinity: the strict reader explains


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):  # `1e400`: orjson refuses what float() calls inf
        raise NotStreamable(f"{text} overflows a double")
    return value


def _exact_finite_float(text: str) -> float | JsonNumber:
    """A float as `loads_exact` reads it (its text kept when a double would change it)."""
    _finite_float(text)
    return float_or_exact(text)


def _loads_exact_slice(text: str) -> Any:
    """`loads_exact` of a slice: orjson first as the strictness guard (its JSONDecodeError
    is the splitter's "not a cut between items"), then the exact C scanner."""
    orjson.loads(text)
    try:
        return _EXACT_DECODER.decode(text)
    except (RecursionError, ValueError) as exc:  # depth; a JSONDecodeError orjson let by
        raise NotStreamable(f"{exc.__class__.__name__}: {exc}") from None


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_EXACT_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_exact_finite_float, parse_int=int_or_exact
)


@dataclass(frozen=True, slots=True)
class _Decoding:
    """How a stream decodes: `values` for envelope members (and rows the splitter leaves
    to the scanner), `rows` for runs of rows cut by the splitter."""

    values: json.JSONDecoder
    rows: Callable[[str], Any]


_FAST = _Decoding(_DECODER, orjson.loads)  # numbers as orjson reads them (check, diff...)
# Numbers digit for digit, as `loads_exact` reads a whole body (the capture's pages).
EXACT = _Decoding(_EXACT_DECODER, _loads_exact_slice)
# The envelope exactly, the rows fast: for a pass that reads rows only for their strings.
EXACT_ENVELOPE = _Decoding(_EXACT_DECODER, orjson.loads)
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CUT_MARGIN = 8  # a value failing this close to the window's end may just be cut off
_READ_BYTES = 1 << 20  # bytes per read (each checked by _CheckedReader)
# Text read per refill: a few rows straddle a refill. The window (and the one it
# replaces, still referenced while a refill is made) is most of a reader's memory; 1 MiB
# reads as fast as 4 MiB did, 13 MB less at peak.
_WINDOW_BYTES = 1 << 20


class _TextWindow:
    """Decoded text of a file, read forward in chunks; `pos` is the parse position.

    Text before `pos` is dropped whenever more is read, so memory stays at about one
    chunk plus the largest single value (a row, or an envelope member)."""

    def __init__(
        self,
        source: Path | IO[bytes],
        *,
        first_read: int | None = None,
        decoding: _Decoding = _FAST,
    ) -> None:
        self._reader = _CheckedReader(source)
        self.decoding = decoding
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._next_read = first_read  # None: a window's worth
        self.text = ""
        self.pos = 0
        self.eof = False

    def close(self) -> None:
        self._reader.close()

    def more(self, at_least: int | None = None) -> bool:
        """Read at least `at_least` (default: a window's) more bytes, or to the end; False at
        the end."""
        if self.eof:
            return False
        if at_least is None:
            at_least, self._next_read = self._next_read or _WINDOW_BYTES, None
        self.text = self.text[self.pos :]
        self.pos = 0
        parts = [self.text]
        wanted = 0
        while wanted < at_least:
            chunk = self._reader.read(_READ_BYTES)
            try:
                parts.append(self._utf8.decode(chunk, final=not chunk))
            except UnicodeDecodeError:
                raise NotStreamable("invalid UTF-8") from None
            if not chunk:
                self.eof = True
                break
            wanted += len(chunk)
        self.text = "".join(parts)
        return True

    def skip_whitespace(self) -> None:
        while True:
            spaces = _JSON_WHITESPACE.match(self.text, self.pos)  # always matches
            self.pos = spaces.end() if spaces else self.pos
            if self.pos < len(self.text) or not self.more():
                return

    def next_char(self) -> str:
        """The next non-whitespace character, consumed."""
        self.skip_whitespace()
        if self.pos >= len(self.text):
            raise NotStreamable("unexpected end of file")
        char = self.text[self.pos]
        self.pos += 1
        return char

    def peek(self) -> str:
        self.skip_whitespace()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self) -> Any:
        """Decode the JSON value at `pos` (after whitespace), reading more as needed."""
        self.skip_whitespace()
        while True:
            try:
                value, end = self.decoding.values.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof or (exc.pos < len(self.text) - _CUT_MARGIN and not _unterminated(exc)):
                    raise NotStreamable(f"invalid JSON: {exc.msg}") from None
                self.more(max(_WINDOW_BYTES, len(self.text) - self.pos))  # doubling: linear
                continue
            except (RecursionError, ValueError) as exc:  # depth, int digit limit
                raise NotStreamable(f"{exc.__class__.__name__}: {exc}") from None
            if end >= len(self.text) and self.more():
                continue  # a number at the very end may continue in the next chunk
            self.pos = end
            return value

    def key(self) -> str:
        if self.next_char() != '"':
            raise NotStreamable("expected a member name")
        self.pos -= 1
        name = self.value()
        if not isinstance(name, str):
            raise NotStreamable("expected a member name")
        return name


def _unterminated(exc: json.JSONDecodeError) -> bool:
    return exc.msg.startswith("Unterminated string")


def stream_raw_body(
    path: Path, on_rows: RowsCallback, decoding: _Decoding | None = None
) -> dict[str, Any]:
    """Stream the `data` items of a raw body to `on_rows(first index, items)` in slices
    and return the envelope (every other member, `data` emptied) — one pass, bounded
    memory. Errors raised by `on_rows` propagate unchanged; NotStreamable means "read it
    whole"."""

    def top_level(window: _TextWindow) -> dict[str, Any]:
        return _body(window, on_rows, _RAW_ROW_DEPTH, require_rows=True)[0]

    return _stream_file(path, top_level, decoding=_FAST if decoding is None else decoding)


ParsedT = TypeVar("ParsedT")


def stream_body_bytes(
    data: bytes | IO[bytes], on_rows: RowsCallback, decoding: _Decoding
) -> dict[str, Any]:
    """`stream_raw_body` over an HTTP answer's body (bytes, or a temp file read from its
    start and left open), with numbers read as `decoding` says: the rows go to `on_rows`
    in slices, the envelope comes back with `data` emptied. NotStreamable: decode it
    whole."""

    def top_level(window: _TextWindow) -> dict[str, Any]:
        return _body(window, on_rows, _RAW_ROW_DEPTH, require_rows=True)[0]

    if isinstance(data, bytes):
        data = io.BytesIO(data)
    else:
        data.seek(0)
    # The collector stays on: other threads (a capture's chains) allocate meanwhile.
    return _stream_file(data, top_level, decoding=decoding, pause_gc=False)


def _stream_file(
    source: Path | IO[bytes],
    parse: Callable[[_TextWindow], ParsedT],
    *,
    decoding: _Decoding = _FAST,
    pause_gc: bool = True,
) -> ParsedT:
    """Run `parse` over a window on the file, then insist nothing follows its value."""
    window = _TextWindow(source, decoding=decoding)
    # Decoded JSON holds no reference cycles, but millions of new containers would start
    # the cyclic collector again and again (~5% of the time): it waits until the end.
    collecting = pause_gc and gc.isenabled()
    if collecting:
        gc.disable()
    try:
        parsed = parse(window)
        window.skip_whitespace()
        if window.pos < len(window.text):
            raise NotStreamable("data after the top-level value")
        return parsed
    finally:
        if collecting:
            gc.enable()
        window.close()


def _body(
    window: _TextWindow,
    on_rows: RowsCallback,
    depth: int,
    *,
    require_rows: bool,
    on_text: RowTextCallback | None = None,
) -> tuple[dict[str, Any], bool]:
    """A response body object: its `data` array streams to `on_rows` (the envelope keeps
    `"data": []`), every other member is decoded. Returns the envelope and whether the
    rows streamed; `require_rows` refuses a body without a `data` array."""
    envelope: dict[str, Any] = {}
    streamed = False
    for name in _members(window):
        if name in envelope:
            raise NotStreamable("a repeated member")
        if name == ROWS_KEY and window.peek() == "[":
            window.pos += 1
            _rows(window, on_rows, depth, on_text)
            envelope[name] = []
            streamed = True
        else:
            envelope[name] = window.value()
    if require_rows and not streamed:
        raise NotStreamable("no `data` array")
    return envelope, streamed


def _rows(
    window: _TextWindow, on_rows: RowsCallback, depth: int, on_text: RowTextCallback | None
) -> None:
    """The `data` items (the `[` is consumed), `depth` containers deep in the file. Hot
    loop: runs of whole rows are decoded by orjson in one call (`_RowSplitter`) and
    handed over as one slice; a row the splitter cannot take that lies whole inside the
    window is decoded by the C scanner directly; anything else (a row cut by the window,
    an error) takes the careful path in `_TextWindow.value`."""
    if window.peek() == "]":
        window.pos += 1
        return
    scan = window.decoding.values.scan_once  # type: ignore[attr-defined]  # the C scanner
    skip = _JSON_WHITESPACE.match
    splitter: _RowSplitter | None = None
    index = 0
    while True:
        before, start = window.text, window.pos
        rows = splitter.rows(window) if splitter is not None else None
        if rows is not None:
            if on_text is not None:
                on_text(_decoded_text(window, before, start), rows)
            on_rows(index, rows)
            index += len(rows)
        elif (
            depth <= _ASSEMBLE_DEPTH
            and (splitter.large if splitter else index == 0)
            and window.peek() == "{"
        ):
            # A large object row, or the first (its size is unknown until a boundary is
            # learned): the window never has to hold a whole bucket.
            on_rows(index, [_assembled(window, depth, on_text)])
            if splitter is None and window.pos >= 2:  # (else its closing was read past)
                splitter = _RowSplitter.learn(window.text, window.pos, depth)
            index += 1
        else:
            text, pos = window.text, window.pos
            try:
                row, end = scan(text, pos)
            except (StopIteration, json.JSONDecodeError, RecursionError, ValueError):
                end = -1
            if 0 <= end < len(text) - 1:
                window.pos = end
            else:  # cut by the window end (or invalid): read on, then decode carefully
                window.more()
                row = window.value()
            if splitter is None and index < _LEARN_ROWS and isinstance(row, dict | list):
                splitter = _RowSplitter.learn(window.text, window.pos, depth)
            if on_text is not None:
                on_text(_decoded_text(window, before, start), [row])
            on_rows(index, [row])
            index += 1
        text, pos = window.text, window.pos
        if pos < len(text) and text[pos] == ",":
            spaces = skip(text, pos + 1)
            window.pos = spaces.end() if spaces else pos + 1
            continue
        separator = window.next_char()
        if separator == "]":
            return
        if separator != ",":
            raise NotStreamable("expected ',' or ']'")


def _assembled(window: _TextWindow, depth: int, on_text: RowTextCallback | None) -> Any:
    """An object row larger than a slice (a day's usage or costs bucket holds every
    user's results: megabytes once an organisation has thousands of people), decoded
    member by member, the items of its array members in row slices (`_rows`), then put
    together. The value is the one orjson gives for the row whole, without decoding
    megabytes in one call: orjson's working buffers take about 14 times the text they
    decode, which made the readers' peak memory grow with the number of people. With
    `on_text`, each member's value and each slice is handed over with its own text."""
    row: dict[str, Any] = {}
    for name in _members(window):
        if name in row:
            raise NotStreamable("a repeated member")  # the strict reader decides
        if window.peek() == "[":
            window.pos += 1
            items: list[Any] = []
            row[name] = items
            _rows(window, partial(_gather, items), depth + 2, on_text)
        else:
            before, start = window.text, window.pos  # `peek` skipped the whitespace
            row[name] = value = window.value()
            if on_text is not None:
                on_text(_decoded_text(window, before, start), [value])
    return row


def _gather(into: list[Any], _first: int, items: list[Any]) -> None:
    into.extend(items)


def _decoded_text(window: _TextWindow, before: str, start: int) -> str:
    """The text just decoded, which began at `start` of the window's text `before`: when
    the window read on meanwhile, it kept its text from that start (`_TextWindow.more` is
    only called with `pos` at the start of the item being decoded)."""
    if window.text is before:
        return before[start : window.pos]
    return window.text[: window.pos]


# Rows this deep or less may be read in parts (`_assembled`): a capture's buckets (5)
# and their results (7). Deeper ones are decoded whole by the C scanner, so the Python
# recursion of `_assembled` and `_rows` stays a few levels deep however the JSON nests.
_ASSEMBLE_DEPTH = 8
_LEARN_ROWS = 8  # rows after which a file without a learned boundary stays on the scanner
_SPLIT_CHARS = 262144  # text decoded per orjson call (when rows are smaller than that)
# The separator between two items: a pretty-printed capture file indents its rows by ten
# spaces, other writers use tabs or CRLF.
_SEPARATOR = re.compile(r"[ \t\n\r]{0,64},[ \t\n\r]{0,64}")
_MAX_MISSES = 4  # failed decodes in a row after which the splitter stays off


class _RowSplitter:
    """Decodes many `data` items with one `orjson.loads` (several times faster than the
    standard library's scanner), cutting the window at the last place that looks like the
    boundary between two items: the closing brackets that ended the first item, the
    separator that followed it, and the opening bracket of the second (`]}\n,\n{`),
    found by `str.rfind`.

    Why a cut is never wrong: the slice from an item's start to the cut is decoded
    wrapped in as many brackets as the items are deep in the file (`[[slice]]` for a raw
    body's `{"data": [`, five for a capture's `{"pages": [{"body": {"data": [`). The
    slice starts at a token boundary outside any string, so its tokens are those of the
    whole document. Had the cut fallen inside a string, the string would be unterminated;
    inside an item (at depth d >= 1 below `data`), the closing brackets would leave a
    container open; after the end of `data` (the next page of a capture file holds the
    same boundary), a closing bracket would be followed by a member. Either way orjson
    refuses the slice, so a slice that decodes ends exactly after an item, and holds
    exactly the items of the whole document's parse, decoded by the same decoder as the
    strict reader. The brackets nest the items as deep as the file does, so orjson's
    depth limit applies as it does to the whole file. When orjson refuses a slice, the
    last boundary before the place it stopped is tried once; anything still refused (NaN,
    a deep item, a control character, a boundary inside strings) is left to the careful
    scanner path, which decides (and refuses, so the file is read whole, when the input
    is bad); after a few refusals in a row the splitter stays off for the file."""

    __slots__ = ("_closing", "_depth", "_misses", "_pattern", "_searched", "large")

    def __init__(self, pattern: str, closing: int, depth: int) -> None:
        self._pattern = pattern
        self._closing = closing  # characters of the pattern that end the item
        self._depth = depth  # containers around the items in the file
        self._searched: str | None = None  # window text known to hold no boundary
        # The last `rows` found no boundary within a slice's length of text: the next item
        # is larger than that (or the last of its array) and is decoded alone.
        self.large = False
        self._misses = 0

    @classmethod
    def learn(cls, text: str, end: int, depth: int) -> _RowSplitter | None:
        """The boundary after the first item (which ended at `end` of `text`)."""
        closing = 2 if end >= 2 and text[end - 2] in "]}" else 1
        separator = _SEPARATOR.match(text, end)
        if separator is None or separator.end() >= len(text):
            return None
        opening = text[separator.end()]
        if opening not in "[{" or text[end - 1] not in "]}":
            return None
        return cls(text[end - closing : separator.end() + 1], closing, depth)

    def rows(self, window: _TextWindow) -> list[Any] | None:
        """The items from `window.pos` (an item's start) to the last boundary in the
        window, with `window.pos` moved past them; None when there is no boundary (or the
        splitter is off) and the caller decodes one item itself."""
        self.large = False
        if not self._pattern or window.text is self._searched:
            return None
        cut = self._last_boundary(window)
        if cut < 0:
            if len(window.text) - window.pos > _SPLIT_CHARS:
                self.large = True  # only a slice's length was searched
            else:
                self._searched = window.text
            return None
        text, pos = window.text, window.pos
        for retry in (False, True):
            end = cut + self._closing
            try:
                wrapped = "".join(("[" * self._depth, text[pos:end], "]" * self._depth))
                items = window.decoding.rows(wrapped)
            except orjson.JSONDecodeError as exc:
                # Try once more up to the last boundary before where orjson stopped (the
                # end of this `data` array, in a capture file); else the scanner decides.
                stopped = pos + max(0, exc.pos - self._depth)
                cut = -1 if retry else text.rfind(self._pattern, pos, stopped)
                if cut < 0:
                    self._misses += 1
                    if self._misses > _MAX_MISSES:
                        self._pattern = ""  # off for good: the scanner path decides
                    return None
                continue
            self._misses = 0
            window.pos = end
            for _ in range(self._depth - 1):
                items = items[0]
            rows: list[Any] = items
            return rows
        return None

    def _last_boundary(self, window: _TextWindow) -> int:
        """The last boundary within a slice's length (_SPLIT_CHARS) of `window.pos`: an
        orjson call decodes no more than that, so its working memory does not grow with
        the rows. -1 when there is none there even after reading on (the next item is
        larger than a slice, or the last of its array)."""
        for attempt in range(2):
            text, pos = window.text, window.pos
            cut = text.rfind(self._pattern, pos, pos + _SPLIT_CHARS)
            if cut >= 0 or window.eof or attempt or len(text) - pos > _SPLIT_CHARS:
                return cut
            window.more()  # less than a slice's length is left: read on and look again
        return -1
