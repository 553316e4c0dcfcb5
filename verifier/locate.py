"""Where a finding is in its file: JSON pointer -> line and column, computed once here for
every renderer that points at a line (`--format github` annotations, `--format sarif`).

The file is memory-mapped and scanned token by token (strings, punctuation, scalars) with
a small state machine that tracks only the path to the current value, so a 200 MB body
costs no Python objects beyond the stack, and the scan stops as soon as every wanted
pointer has been seen (a finding's pointer is the first occurrence, usually near the top).
A pointer that cannot be found (a withheld member name, a file changed since) falls back to
its deepest ancestor that was found; a file that cannot be read gives no position at all.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from verifier.findings import Finding

# A JSON string (escapes included), one punctuation byte, or a run of scalar bytes.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+', re.DOTALL)
_TEXT_LINE = re.compile(r"line (\d+)")  # the path `verify scan` gives hits in non-JSON files


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column (column counted in Unicode code points)."""

    line: int
    column: int


def parse_pointer(pointer: str) -> tuple[str, ...] | None:
    """RFC 6901 reference tokens; None for something that is not a pointer."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        return None
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


@dataclass(slots=True)
class _Frame:
    path: tuple[str, ...]
    is_object: bool
    relevant: bool  # some wanted pointer lies beneath this container
    index: int = 0
    key: str = ""
    expect_key: bool = True


@dataclass(slots=True)
class _LineCounter:
    """Turns increasing byte offsets into line/column, counting each byte once."""

    data: mmap.mmap
    offset: int = 0
    line: int = 1
    line_start: int = 0

    def position(self, at: int) -> Position:
        newlines = self.data[self.offset : at].count(b"\n")  # mmap.count is Python 3.13+
        if newlines:
            self.line += newlines
            self.line_start = self.data.rfind(b"\n", self.offset, at) + 1
        self.offset = at
        prefix = self.data[self.line_start : at].decode("utf-8", errors="replace")
        return Position(self.line, len(prefix) + 1)


@dataclass(slots=True)
class _Scan:
    wanted: set[tuple[str, ...]]
    prefixes: set[tuple[str, ...]]
    found: dict[tuple[str, ...], Position] = field(default_factory=dict)


def _decode_key(token: bytes) -> str:
    inner = token[1:-1]
    if b"\\" not in inner:
        return inner.decode("utf-8", errors="replace")
    import json  # escaped member names are rare

    try:
        return str(json.loads(token))
    except ValueError:
        return inner.decode("utf-8", errors="replace")


def _scan(data: mmap.mmap, scan: _Scan) -> None:
    counter = _LineCounter(data)
    stack: list[_Frame] = []
    remaining = len(scan.wanted)
    for match in _TOKEN.finditer(data):
        first = match.group()[:1]
        top = stack[-1] if stack else None
        if first == b",":
            if top is not None:
                if top.is_object:
                    top.expect_key = True
                else:
                    top.index += 1
            continue
        if first == b":":
            continue
        if first in (b"}", b"]"):
            if stack:
                stack.pop()
            continue
        if top is not None and top.is_object and top.expect_key:
            top.key = _decode_key(match.group()) if first == b'"' else ""
            top.expect_key = False
            continue
        if top is None:
            path: tuple[str, ...] = ()
            relevant = True
        elif top.relevant:
            path = (*top.path, top.key if top.is_object else str(top.index))
            relevant = path in scan.prefixes
        else:
            path, relevant = (), False
        if relevant and path not in scan.found:
            scan.found[path] = counter.position(match.start())
            if path in scan.wanted:
                remaining -= 1
                if remaining == 0:
                    return
        if first in (b"{", b"["):
            stack.append(_Frame(path, first == b"{", relevant))


def locate_pointers(path: Path, pointers: Iterable[str]) -> dict[str, Position]:
    """Line and column of each pointer in the JSON file at `path` (deepest found ancestor
    for a pointer that is not there); pointers of an unreadable file are left out."""
    parsed = {p: tokens for p in set(pointers) if (tokens := parse_pointer(p)) is not None}
    if not parsed:
        return {}
    wanted = set(parsed.values())
    prefixes = {tokens[:n] for tokens in wanted for n in range(len(tokens) + 1)}
    scan = _Scan(wanted, prefixes)
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
            _scan(m, scan)
    except (OSError, ValueError):  # missing, unreadable or empty (mmap refuses length 0)
        return {}
    result: dict[str, Position] = {}
    for pointer, tokens in parsed.items():
        for n in range(len(tokens), -1, -1):
            position = scan.found.get(tokens[:n])
            if position is not None:
                result[pointer] = position
                break
    return result


def locate_findings(findings: Iterable[Finding]) -> Mapping[Finding, Position]:
    """Positions of findings in their source files: each file is scanned once, for all
    the pointers its findings name. Findings without a position are left out."""
    by_source: dict[str, list[Finding]] = {}
    positions: dict[Finding, Position] = {}
    for finding in findings:
        text_line = _TEXT_LINE.fullmatch(finding.path) if not finding.pointer else None
        if text_line:
            positions[finding] = Position(int(text_line.group(1)), 1)
        elif finding.source:
            by_source.setdefault(finding.source, []).append(finding)
    for source, group in by_source.items():
        found = locate_pointers(Path(source), (f.pointer for f in group))
        for finding in group:
            if finding.pointer in found:
                positions[finding] = found[finding.pointer]
    return positions
