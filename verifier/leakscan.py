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

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
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
from verifier.inputs import expand_paths, read_bytes
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


def _walk_json(document: Any, literals: tuple[str, ...]) -> Iterator[_Hit]:
    """One pass over every string and member name; sensitive names are withheld from
    the paths and pointers of everything beneath them, so a report never repeats them."""
    found_by = detector(literals)
    name_leaks_memo: dict[str, list[LeakKind]] = {}  # member names repeat in every row
    stack: list[tuple[Any, str, str]] = [(document, paths.ROOT, "")]
    while stack:
        node, path, ptr = stack.pop()
        if isinstance(node, str):
            for kind in _leaks(node, found_by):
                yield _Hit(kind, path, ptr)
        elif isinstance(node, dict):
            children = []
            for name, value in node.items():
                name_leaks = name_leaks_memo.get(name)
                if name_leaks is None:
                    name_leaks = name_leaks_memo[name] = _leaks(name, found_by)
                shown = _WITHHELD if name_leaks else name
                for kind in name_leaks:
                    yield _Hit(kind, path, ptr, in_member_name=True)
                child_ptr = f"{ptr}/{paths.escape_token(shown)}"
                children.append((value, paths.child(path, shown), child_ptr))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            item_path = paths.item(path)
            stack.extend((v, item_path, f"{ptr}/{i}") for i, v in reversed(list(enumerate(node))))


def _walk_text(text: str, literals: tuple[str, ...]) -> Iterator[tuple[_Hit, int]]:
    found_by = detector(literals)
    for number, line in enumerate(text.splitlines(), start=1):
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
        return _text_findings(text, source, surface, frozen)
    if isinstance(document, dict) and document.get("format") == "verify-capture":
        surface = surface or str(document.get("surface") or "")
        return _json_findings(_walk_json(document, frozen), source, surface, in_capture=True)
    return _json_findings(_walk_json(document, frozen), source, surface, in_capture=False)


def _surely_clean(data: bytes, found_by: Detector) -> bool:
    """No trigger anywhere in the raw bytes, and no escape that could hide one."""
    if b"\\" in data:
        return False
    return found_by.trigger_bytes.search(data) is None


def _json_findings(
    hits: Iterator[_Hit], source: str, surface: str, *, in_capture: bool
) -> list[Finding]:
    first_hits: dict[tuple[str, str, bool], _Hit] = {}
    counts: dict[tuple[str, str, bool], int] = {}
    for hit in hits:
        path, in_body = _body_path(hit.path) if in_capture else (hit.path, True)
        group_key = (path, hit.kind.group, in_body)
        first_hits.setdefault(group_key, hit)
        counts[group_key] = counts.get(group_key, 0) + 1
    findings = []
    for (path, group, in_body), first in first_hits.items():
        consumed = in_body and surface in SURFACES and is_consumed(surface, path)
        where = path or "(document)"
        place = "a member name under " + where if first.in_member_name else where
        count = counts[(path, group, in_body)]
        findings.append(
            _finding(source, surface, _BY_GROUP[group], path, first.pointer, place, count, consumed)
        )
    return findings


def _text_findings(
    text: str, source: str, surface: str, literals: tuple[str, ...]
) -> list[Finding]:
    grouped: dict[str, list[int]] = {}
    kinds: dict[str, LeakKind] = {}
    for hit, line in _walk_text(text, literals):
        grouped.setdefault(hit.kind.group, []).append(line)
        kinds[hit.kind.group] = hit.kind
    return [
        # Text has no JSON path: the line of the first hit stands in for it.
        _finding(
            source,
            surface,
            kinds[group],
            f"line {lines[0]}",
            "",
            f"line {lines[0]}",
            len(lines),
            False,
        )
        for group, lines in grouped.items()
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


def scan_paths(raw_paths: Iterable[str | Path], literals: Sequence[str] = ()) -> Report:
    """`verify scan` as a library call: every file scanned, every leak a finding."""
    files = expand_paths(raw_paths, recursive=True)
    findings = [
        finding
        for path in files
        for finding in scan_bytes(read_bytes(path), source=str(path), surface="", literals=literals)
    ]
    return Report(
        command="scan",
        findings=tuple(findings),
        sources=tuple(str(p) for p in files),
    )
