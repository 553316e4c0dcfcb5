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

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from verifier import paths
from verifier.consumer import is_consumed
from verifier.errors import RefusedError
from verifier.findings import Finding, Report
from verifier.inputs import expand_paths, read_bytes
from verifier.keys import KEY_ENV
from verifier.surfaces import SURFACES

ANON_EMAIL_DOMAIN = "anon.invalid"

# Detection patterns. The anonymiser's redaction patterns (verifier.anonymise) match a
# superset of these, so its output never trips the gate.
EMAIL_PATTERN = (
    r"[A-Za-z0-9._+\-]+(?:@|%40)(?P<domain>[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"
)
SK_KEY_PATTERN = r"(?<![A-Za-z0-9])sk-[A-Za-z0-9][A-Za-z0-9_*.\-]{11,}"
BEARER_PATTERN = r"(?<![A-Za-z0-9])(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"
JWT_PATTERN = r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]*"
# Shortest literal worth looking for: shorter values would match ordinary words.
MIN_LITERAL_LENGTH = 8
# Every pattern above contains one of these substrings, so a string without any of them
# (and without a literal secret) cannot leak: a cheap first test before the full one.
# An `@` that starts an anonymised domain is no trigger.
_NOT_ANON = r"(?!anon\.invalid(?![A-Za-z0-9.\-]))"
TRIGGER_PATTERN = rf"@{_NOT_ANON}|%40{_NOT_ANON}|sk-|eyJ|(?i:bearer)"


@dataclass(frozen=True, slots=True)
class LeakKind:
    group: str
    kind: str  # finding kind: pii_leak | secret_leak
    what: str  # plain words for the report, never the value


_KINDS = (
    LeakKind("literal", "secret_leak", "a secret value in use (API key or workspace id)"),
    LeakKind("sk", "secret_leak", "an sk-... API key"),
    LeakKind("bearer", "secret_leak", "a bearer token"),
    LeakKind("jwt", "secret_leak", "a JWT-shaped token"),
    LeakKind("email", "pii_leak", "an email address"),
)
_BY_GROUP = {k.group: k for k in _KINDS}


def _usable(literals: tuple[str, ...]) -> list[str]:
    """Literals worth looking for, longest first (so the longest match wins)."""
    return sorted({lit for lit in literals if len(lit) >= MIN_LITERAL_LENGTH}, key=len)[::-1]


@dataclass(frozen=True, slots=True)
class _Detector:
    trigger: re.Pattern[str]
    full: re.Pattern[str]
    trigger_bytes: re.Pattern[bytes]
    literal_has_slash: bool  # JSON may write `/` as `\/`: the raw-bytes test cannot see it


@lru_cache(maxsize=64)
def _detector(literals: tuple[str, ...]) -> _Detector:
    usable = _usable(literals)
    alternatives = [
        f"(?P<sk>{SK_KEY_PATTERN})",
        f"(?P<bearer>{BEARER_PATTERN})",
        f"(?P<jwt>{JWT_PATTERN})",
        f"(?P<email>{EMAIL_PATTERN})",
    ]
    if usable:
        literal_alt = "|".join(re.escape(lit) for lit in usable)
        alternatives.insert(0, f"(?P<literal>{literal_alt})")
    triggers = [TRIGGER_PATTERN, *(re.escape(lit) for lit in usable)]
    return _Detector(
        trigger=re.compile("|".join(triggers)),
        full=re.compile("|".join(alternatives)),
        trigger_bytes=re.compile("|".join(triggers).encode("utf-8")),
        literal_has_slash=any("/" in lit for lit in usable),
    )


def leaks_in(text: str, literals: Sequence[str] = ()) -> list[LeakKind]:
    """The kinds of leak in one string, in order of first appearance, without duplicates."""
    return _leaks(text, _detector(tuple(literals)))


def _leaks(text: str, detector: _Detector) -> list[LeakKind]:
    if detector.trigger.search(text) is None:
        return []
    found: list[LeakKind] = []
    for match in detector.full.finditer(text):
        group = match.lastgroup or ""
        if group == "email" and match.group("domain").lower() == ANON_EMAIL_DOMAIN:
            continue
        kind = _BY_GROUP[group]
        if kind not in found:
            found.append(kind)
    return found


def literal_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """Values of the credential and workspace-id variables the tool reads, when set."""
    names = {KEY_ENV}
    for surface in SURFACES.values():
        names.add(surface.auth_env)
        names.update(surface.path_env)
    values = (env.get(name, "").strip() for name in sorted(names))
    return tuple(v for v in values if len(v) >= MIN_LITERAL_LENGTH)


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
    detector = _detector(literals)
    name_leaks_memo: dict[str, list[LeakKind]] = {}  # member names repeat in every row
    stack: list[tuple[Any, str, str]] = [(document, paths.ROOT, "")]
    while stack:
        node, path, ptr = stack.pop()
        if isinstance(node, str):
            for kind in _leaks(node, detector):
                yield _Hit(kind, path, ptr)
        elif isinstance(node, dict):
            children = []
            for name, value in node.items():
                name_leaks = name_leaks_memo.get(name)
                if name_leaks is None:
                    name_leaks = name_leaks_memo[name] = _leaks(name, detector)
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
    detector = _detector(literals)
    for number, line in enumerate(text.splitlines(), start=1):
        for kind in _leaks(line, detector):
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
    if _surely_clean(data, _detector(frozen)):
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


def _surely_clean(data: bytes, detector: _Detector) -> bool:
    """No trigger anywhere in the raw bytes, and no JSON escape that could hide one."""
    if b"\\u" in data or detector.literal_has_slash:
        return False
    return detector.trigger_bytes.search(data) is None


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
