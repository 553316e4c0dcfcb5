"""Reading payload files: capture files written by `verify capture` and raw response
bodies exactly as an API returned them. Every way a file can be unusable becomes an
InputError with one line naming the file and the problem (exit 2)."""

from __future__ import annotations

import codecs
import gc
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from verifier.errors import InputError, UsageError
from verifier.store import Capture, capture_from_json, is_capture_document
from verifier.surfaces import Surface, get_surface

# RFC 7493 (I-JSON): integers beyond +-(2**53 - 1) do not survive common JSON parsers.
MAX_EXACT_INT = 2**53 - 1
# A JSON integer token of 16+ digits. An integer follows `[`, `,`, `:`, `-` or whitespace,
# never a word character, `.` or `"`, so float fractions (`0.13080438340307526`) and ids
# in strings don't trigger the slow exact re-read; a false hit would only cost time.
_LONG_DIGITS = re.compile(rb'(?<![\w."])\d{16,}(?![\d.eE])')
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
    """Files as given; a directory means every `*.json` directly inside it, sorted.

    `recursive` (used by `verify scan`) takes every file beneath a directory instead,
    skipping hidden directories such as `.git`."""
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
            files.append(path)
        else:
            raise InputError(str(path), "no such file or directory")
    if not files:
        raise UsageError("no input files given")
    return files


def _json_files_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.json") if p.is_file())


def _files_beneath(directory: Path) -> list[Path]:
    def hidden(file: Path) -> bool:
        return any(part.startswith(".") for part in file.relative_to(directory).parts[:-1])

    return sorted(p for p in directory.rglob("*") if p.is_file() and not hidden(p))


@contextmanager
def nesting_guard(source: str) -> Iterator[None]:
    """Valid JSON nested hundreds of levels deep (orjson accepts 1,024) exhausts Python's
    recursion in the walkers that follow: report it as bad input naming the file."""
    try:
        yield
    except RecursionError:
        raise InputError(source, "nested too deeply to process") from None


def read_bytes(path: Path) -> bytes:
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
    if _LONG_DIGITS.search(data):
        _check_integers(data, source)
    return document


def _describe_decode_error(exc: orjson.JSONDecodeError) -> str:
    where = f"line {exc.lineno} column {exc.colno}"
    text = exc.doc if isinstance(exc.doc, str) else ""
    rest = text[exc.pos : exc.pos + 9]
    if rest.startswith(_NON_FINITE) or text[max(exc.pos - 1, 0) :].startswith("-Infinity"):
        return f"invalid JSON at {where}: NaN and Infinity are not JSON numbers"
    if "depth" in exc.msg.lower() or "recursion" in exc.msg.lower():
        return f"invalid JSON at {where}: nested too deeply (more than 1024 levels)"
    return f"invalid JSON at {where}: {exc.msg}"


def _check_integers(data: bytes, source: str) -> None:
    """Only when long digit runs exist (rare): re-read with the standard library, which
    keeps integers exact (orjson turns integers beyond 64 bits into floats), and reject
    integers JSON cannot carry exactly."""

    def exact_int(text: str) -> int:
        value = int(text)
        if abs(value) > MAX_EXACT_INT:
            raise InputError(
                source,
                f"integer {text} is outside +-(2**53-1), the range JSON numbers keep exactly "
                "(RFC 7493)",
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
        bodies = tuple(
            Body(page.status, page.body, f"/pages/{i}/body", page.url, page.body_text)
            for i, page in enumerate(capture.pages)
        )
        return Source(name, get_surface(capture.surface), bodies, capture)
    if surface is None:
        raise UsageError(f"{name}: raw response body; say which surface it is with --surface NAME")
    if not isinstance(document, dict):
        raise InputError(
            name, f"expected a JSON object (a response body), found a JSON {json_type(document)}"
        )
    return Source(name, surface, (Body(200, document, ""),))


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


# -- Streaming large raw bodies ------------------------------------------------------------
#
# A month of enterprise usage is hundreds of megabytes; loading it whole costs ~1.9 GB.
# A large *raw body* (a top-level object whose `data` array holds the rows) is read in
# one pass through a sliding window of text: the top-level members are walked here; runs
# of `data` items are decoded by orjson, about 1 MiB at a time, between boundaries learned
# from the first items (`_RowSplitter`), and any other value (an envelope member, an item
# the splitter does not take) by the C scanner of the standard library's `json`
# (`raw_decode`); the rows are handed to the caller one by one, in order. Anything this
# reader cannot reproduce exactly as `parse_json_bytes` would (any
# syntax error, a BOM, invalid UTF-8, NaN/Infinity, long digit runs, huge exponents, lone
# surrogates, deep nesting, trailing data, a capture file, a `data` that is missing,
# repeated or not an array) makes the caller load the file whole instead, so errors and
# verdicts are the same on both paths.

STREAM_MIN_BYTES = 32 * 1024 * 1024
ROWS_KEY = "data"
_LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_HEAD_BYTES = 4096
_STRICT_DEPTH = 1024  # orjson's nesting limit


def row_weight(row: Any) -> int:
    """Rough size of a streamed row for batching: 1 + the items of its array members (a
    usage bucket holds a thousand results; a Codex usage row holds none)."""
    if not isinstance(row, dict):
        return 1
    return 1 + sum(len(v) for v in row.values() if isinstance(v, list))


class NotStreamable(Exception):
    """The file must be loaded whole (the caller does it; never shown to a user)."""


@dataclass(frozen=True, slots=True)
class StreamedSource:
    """A large raw response body whose `data` items are streamed, never held at once."""

    name: str
    surface: Surface
    path: Path

    def load_whole(self) -> Source:
        """The ordinary whole-document Source (raises InputError exactly as it would)."""
        return source_from_document(load_json_file(self.path), self.name, self.surface)

    def stream(self, on_row: Callable[[int, Any], None]) -> dict[str, Any]:
        """Call `on_row(index, item)` for each `data` item; return the envelope with
        `data` emptied. Raises NotStreamable when the file must be loaded whole."""
        return stream_raw_body(self.path, on_row)


Input = Source | StreamedSource


def load_inputs(
    paths: Sequence[str | Path],
    surface_name: str | None = None,
    *,
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> list[Input]:
    """Like `load_sources`, but large raw bodies come back as StreamedSource."""
    surface = get_surface(surface_name) if surface_name else None
    out: list[Input] = []
    for path in expand_paths(paths):
        if surface is not None and _streamable_file(path, stream_min_bytes):
            out.append(StreamedSource(str(path), surface, path))
        else:
            out.append(source_from_document(load_json_file(path), str(path), surface))
    return out


def _streamable_file(path: Path, min_bytes: int) -> bool:
    if sys.getrecursionlimit() > _STRICT_DEPTH:
        return False  # the decoder's depth limit must stay below the strict reader's
    try:
        if path.stat().st_size < min_bytes:
            return False
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return False  # the whole-file reader reports it
    stripped = head.lstrip()
    if not stripped.startswith(b"{") or head.startswith(tuple(_BOMS)):
        return False
    return b'"verify-capture"' not in head  # capture files are read whole


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

    def __init__(self, path: Path) -> None:
        self._handle = path.open("rb")
        self._number_tail = b""
        self._escape_tail = b""

    def read(self, size: int) -> bytes:
        chunk = self._handle.read(size)
        numbers = self._number_tail + chunk
        escapes = self._escape_tail + chunk
        # A backslash first: finding one byte is ~70x faster than finding `\u`.
        surrogate = b"\\" in escapes and _LONE_SURROGATE.search(escapes)
        long_number = _has_digit_run(numbers) and _has_long_number(
            numbers.translate(_DIGITS_AS_ZERO)
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


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CUT_MARGIN = 8  # a value failing this close to the window's end may just be cut off
_READ_BYTES = 1 << 20  # bytes per read (each checked by _CheckedReader)
_WINDOW_BYTES = 4 << 20  # text read per refill: a few rows straddle a refill


class _TextWindow:
    """Decoded text of a file, read forward in chunks; `pos` is the parse position.

    Text before `pos` is dropped whenever more is read, so memory stays at about one
    chunk plus the largest single value (a row, or an envelope member)."""

    def __init__(self, path: Path) -> None:
        self._reader = _CheckedReader(path)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
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
            at_least = _WINDOW_BYTES
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
                value, end = _DECODER.raw_decode(self.text, self.pos)
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


def stream_raw_body(path: Path, on_row: Callable[[int, Any], None]) -> dict[str, Any]:
    """Stream the `data` items of a raw body to `on_row(index, item)` and return the
    envelope (every other member, `data` emptied) — one pass, bounded memory. Errors
    raised by `on_row` propagate unchanged; NotStreamable means "read it whole"."""
    window = _TextWindow(path)
    # Decoded JSON holds no reference cycles, but millions of new containers would start
    # the cyclic collector again and again (~5% of the time): it waits until the end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        envelope = _top_level(window, on_row)
        window.skip_whitespace()
        if window.pos < len(window.text):
            raise NotStreamable("data after the top-level object")
        return envelope
    finally:
        if collecting:
            gc.enable()
        window.close()


def _top_level(window: _TextWindow, on_row: Callable[[int, Any], None]) -> dict[str, Any]:
    if window.next_char() != "{":
        raise NotStreamable("not an object")
    envelope: dict[str, Any] = {}
    if window.peek() == "}":
        raise NotStreamable("no `data` member")
    while True:
        name = window.key()
        if window.next_char() != ":":
            raise NotStreamable("expected ':'")
        if name == ROWS_KEY:
            if ROWS_KEY in envelope or window.next_char() != "[":
                raise NotStreamable("`data` repeated or not an array")
            _rows(window, on_row)
            envelope[name] = []
        else:
            envelope[name] = window.value()
        separator = window.next_char()
        if separator == "}":
            break
        if separator != ",":
            raise NotStreamable("expected ',' or '}'")
    if ROWS_KEY not in envelope:
        raise NotStreamable("no `data` member")
    return envelope


def _rows(window: _TextWindow, on_row: Callable[[int, Any], None]) -> None:
    """The `data` items. Hot loop: runs of whole rows are decoded by orjson in one call
    (`_RowSplitter`); a row the splitter cannot take that lies whole inside the window is
    decoded by the C scanner directly; anything else (a row cut by the window, an error)
    takes the careful path in `_TextWindow.value`."""
    if window.peek() == "]":
        window.pos += 1
        return
    scan = _DECODER.scan_once  # type: ignore[attr-defined]  # the C scanner, no wrapper
    skip = _JSON_WHITESPACE.match
    splitter: _RowSplitter | None = None
    index = 0
    while True:
        rows = splitter.rows(window) if splitter is not None else None
        if rows is not None:
            for row in rows:
                on_row(index, row)
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
                splitter = _RowSplitter.learn(window.text, window.pos)
            on_row(index, row)
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
        window.skip_whitespace()


_LEARN_ROWS = 8  # rows after which a file without a learned boundary stays on the scanner
_SPLIT_CHARS = 1 << 20  # text decoded per orjson call (when rows are smaller than that)
_SEPARATOR = re.compile(r"[ \t\n\r]{0,8},[ \t\n\r]{0,8}")


class _RowSplitter:
    """Decodes many `data` items with one `orjson.loads` (several times faster than the
    standard library's scanner), cutting the window at the last place that looks like the
    boundary between two items: the closing brackets that ended the first item, the
    separator that followed it, and the opening bracket of the second (`]}\n,\n{`),
    found by `str.rfind`.

    Why a cut is never wrong: the slice from an item's start to the cut is decoded as
    `[[slice]]`. The slice starts at a token boundary outside any string, so its tokens
    are those of the whole document. Had the cut fallen inside a string, the string
    would be unterminated; inside an item (at depth d >= 1 below `data`), the two closing
    brackets would leave an array open. Either way orjson refuses the slice, so a slice
    that decodes ends exactly after an item, and holds exactly the items of the whole
    document's parse, decoded by the same decoder as the strict reader. `[[` nests the items
    as deep as `{"data": [` does, so orjson's depth limit applies as it does to the whole
    file. Anything orjson refuses (a wrong cut, NaN, a deep item, a control character)
    switches the splitter off for the rest of the file; the careful scanner path then
    decides (and refuses, so the file is read whole, when the input is bad)."""

    __slots__ = ("_closing", "_pattern", "_searched")

    def __init__(self, pattern: str, closing: int) -> None:
        self._pattern = pattern
        self._closing = closing  # characters of the pattern that end the item
        self._searched: str | None = None  # window text known to hold no boundary

    @classmethod
    def learn(cls, text: str, end: int) -> _RowSplitter | None:
        """The boundary after the first item (which ended at `end` of `text`)."""
        closing = 2 if end >= 2 and text[end - 2] in "]}" else 1
        separator = _SEPARATOR.match(text, end)
        if separator is None or separator.end() >= len(text):
            return None
        opening = text[separator.end()]
        if opening not in "[{" or text[end - 1] not in "]}":
            return None
        return cls(text[end - closing : separator.end() + 1], closing)

    def rows(self, window: _TextWindow) -> list[Any] | None:
        """The items from `window.pos` (an item's start) to the last boundary in the
        window, with `window.pos` moved past them; None when there is no boundary (or the
        splitter is off) and the caller decodes one item itself."""
        if not self._pattern or window.text is self._searched:
            return None
        text, pos = window.text, window.pos
        # The last boundary within about 1 MiB (fewer rows alive at once), else any.
        cut = text.rfind(self._pattern, pos, pos + _SPLIT_CHARS)
        if cut < 0:
            cut = text.rfind(self._pattern, pos)
        if cut < 0 and not window.eof:
            window.more()  # the remainder is one item: read on and look again
            text, pos = window.text, window.pos
            cut = text.rfind(self._pattern, pos, pos + _SPLIT_CHARS)
            if cut < 0:
                cut = text.rfind(self._pattern, pos)
        if cut < 0:
            self._searched = text
            return None
        end = cut + self._closing
        try:
            items = orjson.loads("".join(("[[", text[pos:end], "]]")))
        except orjson.JSONDecodeError:
            self._pattern = ""  # off for good: the scanner path decides
            return None
        window.pos = end
        rows: list[Any] = items[0]
        return rows
