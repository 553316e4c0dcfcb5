"""The leak gate: find personal data and secrets in bytes about to be written or shared.

`scan_bytes` walks a JSON document once (or, for anything that is not JSON, its text
line by line) and reports every string or member name that holds an email address
(`pii_leak`), an `sk-...` key, a bearer token, a JWT-shaped string or a literal secret
value in use (`secret_leak`). Findings carry the path and pointer of the hit and never
the value itself. `leak_guard` turns the scan into a write guard for
`store.save_capture(guard=...)`: any hit refuses the write (RefusedError, exit 1).

Anonymised emails (`u-<hex>@anon.invalid`) are the anonymiser's output, not leaks.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from verifier import paths
from verifier.consumer import is_consumed
from verifier.detect import (
    ANON_EMAIL_DOMAIN,
    BY_GROUP,
    EMAIL_PATTERN,
    JWT_PATTERN,
    MIN_LITERAL_LENGTH,
    TRIGGER_PATTERN,
    Detector,
    LeakKind,
    detector,
    leaks_in,
    literal_secrets,
)
from verifier.errors import RefusedError
from verifier.findings import Finding, Report
from verifier.inputs import (
    STREAM_MIN_BYTES,
    NotStreamable,
    expand_paths,
    read_bytes,
    stream_tree,
)
from verifier.surfaces import SURFACES

__all__ = [
    "ANON_EMAIL_DOMAIN",
    "EMAIL_PATTERN",
    "JWT_PATTERN",
    "MIN_LITERAL_LENGTH",
    "TRIGGER_PATTERN",
    "LeakKind",
    "describe_leaks",
    "leak_guard",
    "leaks_in",
    "literal_secrets",
    "scan_bytes",
    "scan_paths",
]

_BY_GROUP = BY_GROUP


def _leaks(text: str, found_by: Detector) -> list[LeakKind]:
    return found_by.kinds(text)


@dataclass(frozen=True, slots=True)
class _Hit:
    kind: LeakKind
    path: str
    pointer: str
    in_member_name: bool = False


_WITHHELD = "<withheld>"
_MAX_NAMES = 10_000


def _walk_json(document: Any, literals: tuple[str, ...]) -> Iterator[_Hit]:
    return _Walker(literals).walk(document)


class _Walker:
    """Finds the leaks in decoded JSON values, remembering which member names leak."""

    def __init__(self, literals: tuple[str, ...]) -> None:
        self._found_by = detector(literals)
        self._names: dict[str, list[LeakKind]] = {}  # member names repeat in every row

    def name_leaks(self, name: str) -> list[LeakKind]:
        found = self._names.get(name)
        if found is None:
            found = _leaks(name, self._found_by)
            if len(self._names) < _MAX_NAMES:
                self._names[name] = found
        return found

    def walk(self, document: Any, path: str = paths.ROOT, ptr: str = "") -> Iterator[_Hit]:
        """One pass over every string and member name of `document` (found at `path` and
        `ptr`); sensitive names are withheld from the paths and pointers of everything
        beneath them, so a report never repeats them."""
        found_by = self._found_by
        stack: list[tuple[Any, str, str]] = [(document, path, ptr)]
        while stack:
            node, path, ptr = stack.pop()
            if isinstance(node, str):
                for kind in _leaks(node, found_by):
                    yield _Hit(kind, path, ptr)
            elif isinstance(node, dict):
                children = []
                for name, value in node.items():
                    name_leaks = self.name_leaks(name)
                    shown = _WITHHELD if name_leaks else name
                    for kind in name_leaks:
                        yield _Hit(kind, path, ptr, in_member_name=True)
                    child_ptr = f"{ptr}/{paths.escape_token(shown)}"
                    children.append((value, paths.child(path, shown), child_ptr))
                stack.extend(reversed(children))
            elif isinstance(node, list):
                item_path = paths.item(path)
                stack.extend(
                    (v, item_path, f"{ptr}/{i}") for i, v in reversed(list(enumerate(node)))
                )


def _walk_text(lines: Iterable[str], literals: tuple[str, ...]) -> Iterator[tuple[_Hit, int]]:
    found_by = detector(literals)
    for number, line in enumerate(lines, start=1):
        for kind in _leaks(line, found_by):
            yield _Hit(kind, "", ""), number


_CAPTURE_BODY_PREFIX = "pages[].body"


def _body_path(path: str) -> tuple[str, bool]:
    """Inside a capture file, report body paths in the surface's contract notation."""
    if path == _CAPTURE_BODY_PREFIX:
        return "", True
    if path.startswith(_CAPTURE_BODY_PREFIX + ".") or path.startswith(_CAPTURE_BODY_PREFIX + "["):
        return path[len(_CAPTURE_BODY_PREFIX) :].lstrip("."), True
    return path, False


def scan_bytes(
    data: bytes, *, source: str, surface: str, literals: Sequence[str] = ()
) -> list[Finding]:
    """`pii_leak`/`secret_leak` findings for `data`, one per (path, leak kind), naming
    the path and the first pointer, never the value."""
    frozen = tuple(literals)
    if _surely_clean(data, detector(frozen)):
        return []
    text = data.decode("utf-8", errors="replace")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _text_findings(text.splitlines(), source, surface, frozen)
    if isinstance(document, dict) and document.get("format") == "verify-capture":
        surface = surface or str(document.get("surface") or "")
        return _json_findings(_walk_json(document, frozen), source, surface, in_capture=True)
    return _json_findings(_walk_json(document, frozen), source, surface, in_capture=False)


def _surely_clean(data: bytes, found_by: Detector) -> bool:
    """No trigger anywhere in the raw bytes, and no escape that could hide one."""
    if b"\\" in data:
        return False
    return found_by.no_trigger_in(data)


# (path as walked, leak group) -> [first hit, occurrences], in the order of first hits.
_Tally = dict[tuple[str, str], list[Any]]


def _count(tally: _Tally, hit: _Hit) -> None:
    entry = tally.get((hit.path, hit.kind.group))
    if entry is None:
        tally[(hit.path, hit.kind.group)] = [hit, 1]
    else:
        entry[1] += 1


def _json_findings(
    hits: Iterator[_Hit], source: str, surface: str, *, in_capture: bool
) -> list[Finding]:
    tally: _Tally = {}
    for hit in hits:
        _count(tally, hit)
    return _tally_findings(tally, source, surface, in_capture=in_capture)


def _tally_findings(tally: _Tally, source: str, surface: str, *, in_capture: bool) -> list[Finding]:
    """One finding per (path, leak group). Inside a capture file body paths are reported
    in contract notation; that mapping is one to one (`in_body` tells the two `x` apart),
    so grouping by the walked path groups as the reported one would."""
    findings = []
    for (walked, group), (first, count) in tally.items():
        path, in_body = _body_path(walked) if in_capture else (walked, True)
        consumed = in_body and surface in SURFACES and is_consumed(surface, path)
        where = path or "(document)"
        place = "a member name under " + where if first.in_member_name else where
        findings.append(
            _finding(source, surface, _BY_GROUP[group], path, first.pointer, place, count, consumed)
        )
    return findings


def _text_findings(
    lines: Iterable[str], source: str, surface: str, literals: tuple[str, ...]
) -> list[Finding]:
    grouped: dict[str, list[int]] = {}  # group -> [first line, hits]
    kinds: dict[str, LeakKind] = {}
    for hit, line in _walk_text(lines, literals):
        grouped.setdefault(hit.kind.group, [line, 0])[1] += 1
        kinds[hit.kind.group] = hit.kind
    return [
        # Text has no JSON path: the line of the first hit stands in for it.
        _finding(source, surface, kinds[group], f"line {first}", "", f"line {first}", count, False)
        for group, (first, count) in grouped.items()
    ]


def _finding(
    source: str,
    surface: str,
    kind: LeakKind,
    path: str,
    pointer: str,
    place: str,
    occurrences: int,
    consumed: bool,
) -> Finding:
    times = f" in {occurrences} places" if occurrences > 1 else ""
    return Finding(
        surface=surface,
        source=source,
        kind=kind.kind,  # type: ignore[arg-type]
        path=path,
        pointer=pointer,
        severity="breaking",
        expected="no personal data or secret in the clear",
        observed=f"{kind.what} (value withheld)",
        message=f"{place}: {kind.what} in the clear{times} (value withheld)",
        consumed_by_merge=consumed,
        occurrences=occurrences,
    )


def describe_leaks(findings: Sequence[Finding], limit: int = 3) -> str:
    """One line naming where the leaks are (paths and pointers, never values)."""
    shown = [f"{f.kind} at {f.path or '(document)'} ({f.pointer or '/'})" for f in findings[:limit]]
    more = f" and {len(findings) - limit} more" if len(findings) > limit else ""
    return "; ".join(shown) + more


def leak_guard(
    literals: Sequence[str] = (), *, where: str = "the capture"
) -> Callable[[bytes], None]:
    """A write guard: scans the exact bytes and refuses (exit 1) on any leak."""
    frozen = tuple(literals)

    def guard(data: bytes) -> None:
        findings = scan_bytes(data, source=where, surface="", literals=frozen)
        if findings:
            raise RefusedError(
                f"refusing to write {where}: {describe_leaks(findings)}; nothing was written"
            )

    return guard


def scan_paths(
    raw_paths: Iterable[str | Path],
    literals: Sequence[str] = (),
    *,
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> Report:
    """`verify scan` as a library call: every file scanned, every leak a finding. Files of
    `stream_min_bytes` or more are streamed (`scan_file`)."""
    files = expand_paths(raw_paths, recursive=True)
    findings = [
        finding for path in files for finding in scan_file(path, literals, stream_min_bytes)
    ]
    return Report(
        command="scan",
        findings=tuple(findings),
        sources=tuple(str(p) for p in files),
    )


def scan_file(
    path: Path, literals: Sequence[str] = (), stream_min_bytes: int = STREAM_MIN_BYTES
) -> list[Finding]:
    """`scan_bytes` of a file; one of `stream_min_bytes` or more is read as a stream (a
    JSON object: its members, a capture's pages one by one, rows in slices), never held
    whole, with the same findings. What does not stream (text, a JSON array, anything the
    strict reader must decide) is read whole."""
    frozen = tuple(literals)
    try:
        if path.stat().st_size >= stream_min_bytes:
            return _scan_streamed(path, frozen)
    except (NotStreamable, OSError):
        pass  # the whole-file reader decides, and explains a file it cannot read
    return scan_bytes(read_bytes(path), source=str(path), surface="", literals=frozen)


_CHUNK = 1 << 20
_OVERLAP = 1 << 16  # longer than any trigger: a trigger cut by a chunk's end is still seen


def _file_surely_clean(path: Path, found_by: Detector) -> bool:
    """`_surely_clean` of a file read in chunks, each searched with the end of the last."""
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\\" in chunk or not found_by.no_trigger_in(tail + chunk):
                return False
            tail = (tail + chunk)[-_OVERLAP:]
    return True


# The first byte of any JSON text (after whitespace): a file that starts otherwise is
# text to the whole-file scan (orjson refuses it, a byte-order mark included).
_JSON_STARTS = frozenset(b'{["-0123456789tfn')
_JSON_SPACE = b" \t\r\n"


def _first_byte(path: Path) -> int | None:
    """The first byte after JSON whitespace (None: none in the first chunk)."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK).lstrip(_JSON_SPACE)
    return head[0] if head else None


def _file_lines(path: Path) -> Iterator[str]:
    """The lines `data.decode("utf-8", errors="replace").splitlines()` gives for the
    file's bytes, read a chunk at a time: a line (and a `\r` that may be the first half
    of `\r\n`) waits for the next chunk until its break is seen."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    rest = ""
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            parts = (rest + decoder.decode(chunk, final=not chunk)).splitlines(keepends=True)
            rest = ""
            if chunk and parts and (parts[-1].endswith("\r") or not _ends_line(parts[-1])):
                rest = parts.pop()
            for part in parts:
                yield part.splitlines()[0]
            if not chunk:
                return


def _ends_line(part: str) -> bool:
    return part.splitlines()[0] != part


def _scan_streamed(path: Path, literals: tuple[str, ...]) -> list[Finding]:
    """A large file's findings without holding it: text line by line, a JSON object or
    array through `stream_tree`. NotStreamable: the whole-file scan decides."""
    if _file_surely_clean(path, detector(literals)):
        return []
    first = _first_byte(path)
    if first is None:
        raise NotStreamable("blank first chunk")
    if first not in _JSON_STARTS:
        return _text_findings(_file_lines(path), str(path), "", literals)
    scan = _StreamScan(literals)
    stream_tree(path, scan, scan.root, arrays=True)
    in_capture = scan.top.get("format") == "verify-capture"
    surface = str(scan.top.get("surface") or "") if in_capture else ""
    return _tally_findings(scan.document.children, str(path), surface, in_capture=in_capture)


@dataclass(slots=True)
class _Place:
    """Where a streamed value sits, and, for a streamed object or array, the leaks of its
    member names and, after them, of what is inside it: the order a whole walk finds them
    in (an object's member names before its members' values)."""

    path: str
    ptr: str
    parent: _Place | None
    name: str | None = None  # the member name, as in the file
    names: _Tally = field(default_factory=dict)
    children: _Tally = field(default_factory=dict)


class _StreamScan:
    """The visitor of `inputs.stream_tree` that scans: hits go to the tally of the streamed
    container they are found in, which joins its parent's when it ends."""

    def __init__(self, literals: tuple[str, ...]) -> None:
        self._walker = _Walker(literals)
        self.document = _Place(paths.ROOT, "", None)
        self.root = _Place(paths.ROOT, "", self.document)
        self.top: dict[str, Any] = {}  # the top-level `format` and `surface`

    def member(self, parent: _Place, name: str) -> _Place:
        leaks = self._walker.name_leaks(name)
        for kind in leaks:
            _count(parent.names, _Hit(kind, parent.path, parent.ptr, in_member_name=True))
        shown = _WITHHELD if leaks else name
        child_ptr = f"{parent.ptr}/{paths.escape_token(shown)}"
        return _Place(paths.child(parent.path, shown), child_ptr, parent, name)

    def item(self, parent: _Place, index: int) -> _Place:
        return _Place(paths.item(parent.path), f"{parent.ptr}/{index}", parent)

    def open(self, here: _Place, opening: str) -> None:
        pass

    def items(self, parent: _Place, first: int, items: list[Any]) -> None:
        for index, item in enumerate(items, first):
            self.value(self.item(parent, index), item)

    def value(self, where: _Place, value: Any) -> None:
        assert where.parent is not None
        tally = where.parent.children
        for hit in self._walker.walk(value, where.path, where.ptr):
            _count(tally, hit)
        if where.parent is self.root and where.name in ("format", "surface"):
            self.top[where.name] = value

    def end(self, container: _Place) -> None:
        assert container.parent is not None
        if container.parent is self.root and container.name in ("format", "surface"):
            raise NotStreamable("an object where a capture names its format or surface")
        tally = container.parent.children
        for part in (container.names, container.children):
            for key, (first, count) in part.items():
                entry = tally.get(key)
                if entry is None:
                    tally[key] = [first, count]
                else:
                    entry[1] += count
