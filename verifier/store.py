"""Versioned on-disk capture envelope and atomic writes.

A capture file is one JSON object:

    {"format": "verify-capture", "format_version": 1, "surface": ..., "tool_version": ...,
     "captured_at": "2026-11-27T23:00:00Z", "source": "live" | "sandbox:<scenario>" | "documented",
     "anonymisation": {"method": "hmac-sha256/v2", "key_fingerprint": "sha256:..." | null},
     "request": {"method": "GET", "url_template": ..., "query": {...}},
     "pages": [{"status": 200, "url": ..., "headers": {...}, "body": <JSON as received>,
                "body_text": <non-JSON body, anonymised> | absent}],
     "findings": [<capture-time findings: http_status, pagination_changed>],
     "coverage": {"asked": {"start": <RFC 3339>, "end": <RFC 3339, exclusive>},
                  "windows": [{"start": ..., "end": ..., "state": "answered" | "cut" |
                               "rejected" | "incomplete", "reason": <why, not answered>}]}}

Version 2 added `coverage` (null for a surface without time windows, the users list);
version 1 files are still read, their coverage inferred from `request.query`
(`verifier.coverage`).

Unknown formats and versions are refused loudly (compare vcrpy `serialize.py`).
Writes go to a temporary file in the target directory, are fsynced and renamed, so
a reader never sees a half-written capture and an interrupted run leaves nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from verifier import __version__
from verifier.errors import DiskError, FormatVersionError, InputError
from verifier.exactjson import dumps_default
from verifier.surfaces import SURFACES, get_surface

CAPTURE_FORMAT = "verify-capture"
CAPTURE_FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = frozenset({1, 2})
WINDOW_STATES = ("answered", "cut", "rejected", "incomplete")
ANON_METHOD = "hmac-sha256/v2"  # v2: pseudonyms carry a keyed tag


@dataclass(frozen=True, slots=True)
class Page:
    """One HTTP answer: status, selected response headers, body after anonymisation."""

    status: int
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    # Set only when the body was not JSON (an HTML error page, a truncated body).
    body_text: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body,
        }
        if self.body_text is not None:
            out["body_text"] = self.body_text
        return out


@dataclass(frozen=True, slots=True)
class RequestInfo:
    method: str
    url_template: str
    query: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "url_template": self.url_template, "query": dict(self.query)}


@dataclass(frozen=True, slots=True)
class CoverageWindow:
    """One time window of a capture, [start, end) in Unix seconds, and what became of it:
    `answered` (every page 2xx, cursors followed to the end), `cut` (never asked: before
    the vendor's look-back), `rejected` (a final non-2xx answer), `incomplete` (pagination
    broke). `reason` says why a window is not answered, in words without personal data."""

    start: int
    end: int
    state: str
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "state": self.state,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class Coverage:
    """The range a capture asked for and what the vendor answered of it, window by window."""

    asked_start: int
    asked_end: int
    windows: tuple[CoverageWindow, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "asked": {"start": rfc3339(self.asked_start), "end": rfc3339(self.asked_end)},
            "windows": [window.to_json() for window in self.windows],
        }

    @property
    def answered(self) -> tuple[CoverageWindow, ...]:
        return tuple(w for w in self.windows if w.state == "answered")


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(text: Any) -> int:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"expected an RFC 3339 UTC time, found {type(text).__name__}")
    return int(datetime.fromisoformat(text).timestamp())


def coverage_from_json(document: Any) -> Coverage | None:
    if document is None:
        return None
    asked = document["asked"]
    windows = []
    for window in document["windows"]:
        state = window["state"]
        if state not in WINDOW_STATES:
            raise ValueError(f"unknown coverage window state {state!r}")
        reason = window.get("reason")
        windows.append(
            CoverageWindow(
                _seconds(window["start"]),
                _seconds(window["end"]),
                state,
                None if reason is None else str(reason),
            )
        )
    return Coverage(_seconds(asked["start"]), _seconds(asked["end"]), tuple(windows))


@dataclass(frozen=True, slots=True)
class Capture:
    surface: str
    request: RequestInfo
    pages: tuple[Page, ...]
    captured_at: str
    key_fingerprint: str | None
    source: str = "live"
    tool_version: str = __version__
    findings: tuple[Mapping[str, Any], ...] = ()
    coverage: Coverage | None = None
    format_version: int = CAPTURE_FORMAT_VERSION  # of the file it was read from

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CAPTURE_FORMAT,
            "format_version": self.format_version,
            "surface": self.surface,
            "tool_version": self.tool_version,
            "captured_at": self.captured_at,
            "source": self.source,
            "anonymisation": {"method": ANON_METHOD, "key_fingerprint": self.key_fingerprint},
            "request": self.request.to_json(),
            "pages": [page.to_json() for page in self.pages],
            "findings": [dict(f) for f in self.findings],
        } | self._coverage_json()

    def _coverage_json(self) -> dict[str, Any]:
        if self.format_version < 2:  # a version 1 file rewritten (re-anonymised) stays one
            return {}
        return {"coverage": None if self.coverage is None else self.coverage.to_json()}


def is_capture_document(document: object) -> bool:
    return isinstance(document, dict) and document.get("format") == CAPTURE_FORMAT


def capture_from_json(document: Mapping[str, Any], source: str) -> Capture:
    """Rebuild a Capture from its JSON form, refusing unknown versions and bad shapes."""
    version = document.get("format_version")
    if version not in READABLE_FORMAT_VERSIONS or type(version) is not int:
        supported = ", ".join(str(v) for v in sorted(READABLE_FORMAT_VERSIONS))
        raise FormatVersionError(
            source,
            f"capture format version {_version_words(version)} is not supported by verify "
            f"{__version__} (supported: {supported}); re-capture or upgrade the tool",
        )
    try:
        if document["surface"] not in SURFACES:
            raise InputError(source, "malformed capture file (unknown `surface`)")
        surface = get_surface(str(document["surface"])).name
        request = document["request"]
        anonymisation = document.get("anonymisation") or {}
        pages = tuple(page_from_json(page) for page in document["pages"])
        return Capture(
            surface=surface,
            request=RequestInfo(
                method=str(request.get("method", "GET")),
                url_template=str(request.get("url_template", "")),
                query=dict(request.get("query") or {}),
            ),
            pages=pages,
            captured_at=str(document["captured_at"]),
            key_fingerprint=anonymisation.get("key_fingerprint"),
            source=str(document.get("source", "live")),
            tool_version=str(document.get("tool_version", "unknown")),
            findings=_findings_of(document.get("findings")),
            coverage=coverage_from_json(document.get("coverage")) if version >= 2 else None,
            format_version=version,
        )
    except KeyError as exc:
        # Member names of the envelope are ours; values are never quoted (they may be
        # personal data or a key).
        missing = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "a member"
        raise InputError(source, f"malformed capture file (missing {missing!r})") from None
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        problem = f"a member has the wrong type: {exc.__class__.__name__}"
        raise InputError(source, f"malformed capture file ({problem})") from None


def _version_words(version: object) -> str:
    if type(version) is int and abs(version) < 10**6:
        return str(version)
    return f"of JSON type {type(version).__name__}" if version is not None else "missing"


def _findings_of(raw: object) -> tuple[Mapping[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(f, dict) for f in raw):
        raise TypeError("findings must be an array of objects")
    return tuple(raw)


def page_from_json(page: Mapping[str, Any]) -> Page:
    """One recorded page (raises KeyError/TypeError/ValueError on a bad shape)."""
    return Page(
        status=int(page["status"]),
        url=str(page.get("url", "")),
        headers=dict(page.get("headers") or {}),
        body=page.get("body"),
        body_text=page.get("body_text"),
    )


def capture_header(document: Mapping[str, Any], source: str) -> Capture:
    """The Capture of a capture file's members other than `pages` (read before the pages
    stream by): its metadata, with no pages."""
    return capture_from_json({**document, "pages": ()}, source)


def serialise(document: Any, source: str = "payload") -> bytes:
    try:
        return orjson.dumps(
            document,
            default=dumps_default,
            option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE,
        )
    except orjson.JSONEncodeError as exc:
        # orjson writes at most 254 levels of nesting; no real API answer comes close.
        raise InputError(source, f"cannot be written as JSON: {exc}") from None


# Temp files carry the writer's process id: `.<name>.pid<N>.<random>.tmp`. A run that was
# killed (SIGKILL, power loss) cannot remove its own; the next write into the directory
# removes every temp file whose writer is no longer alive.
_TEMP_FILE = re.compile(r"\..+\.pid([0-9]{1,10})\.[^.]+\.tmp")


def temp_prefix(name: str) -> str:
    return f".{name}.pid{os.getpid()}."


def clear_stale_temp_files(directory: Path) -> list[Path]:
    """Remove temp files left by writers that are no longer running; return them."""
    removed: list[Path] = []
    try:
        candidates = [p for p in directory.iterdir() if p.name.endswith(".tmp")]
    except OSError:
        return removed
    for candidate in candidates:
        match = _TEMP_FILE.fullmatch(candidate.name)
        if match is None or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not ours to judge: leave its file alone
    return True


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write `path` through `write(handle)` (in pieces: nothing has to be held whole) so
    that readers see the old file or the whole new one: a temp file beside it, fsynced,
    renamed; removed whatever stops `write` (an error, an interrupt)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():
            raise DiskError(f"could not write {path}: it exists and is not a regular file")
        clear_stale_temp_files(path.parent)
        fd, tmp_name = tempfile.mkstemp(
            prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent
        )
    except OSError as exc:  # a parent that is a file, no permission, a full disk
        raise DiskError(f"could not write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise DiskError(f"could not write {path}: {exc.strerror or exc}") from None
    except BaseException:
        # KeyboardInterrupt/SIGTERM mid-write: never leave the temp file behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def save_capture(
    capture: Capture,
    path: Path,
    *,
    guard: Callable[[bytes], None] | None = None,
) -> Path:
    """Serialise and atomically write a capture. `guard` sees the exact bytes first and
    raises to refuse the write (the leak gate), so nothing reaches disk unchecked."""
    data = serialise(capture.to_json())
    if guard is not None:
        guard(data)
    atomic_write_bytes(path, data)
    return path


def save_new_capture(
    capture: Capture,
    out_dir: Path,
    run_id: str,
    *,
    guard: Callable[[bytes], None] | None = None,
) -> Path:
    """Write a capture under a name no other file has, never replacing one: two runs in
    the same second (or a rerun with the same run id) each keep their file."""
    data = serialise(capture.to_json())
    if guard is not None:
        guard(data)
    return _create_new(capture, out_dir, run_id, lambda handle: handle.write(data))


# -- Streaming writes: pages go to disk as they arrive ---------------------------------------

_INDENT = b"    "  # a page sits two levels deep: {"pages": [ {...} ]}
_NO_PAGES = b'\n  "pages": [],\n'


def pages_frame(data: bytes) -> tuple[bytes, bytes]:
    """A serialised capture without pages, cut where pages go: the bytes before the first
    page and after the last (pages are separated by `,\n`)."""
    head, tail = data.split(_NO_PAGES)
    return head + b'\n  "pages": [\n', b"\n  ],\n" + tail


def page_bytes(page: Page) -> bytes:
    """A page serialised exactly as it sits in a capture file's `pages` array."""
    data = orjson.dumps(page.to_json(), default=dumps_default, option=orjson.OPT_INDENT_2)
    # A JSON text holds no raw newline inside a string: every newline starts a line.
    return _INDENT + data.replace(b"\n", b"\n" + _INDENT)


class PageSpool:
    """Serialised pages appended to a temp file as they arrive (one per cursor chain),
    so a capture never holds its pages in memory. The file has no name (it is unlinked
    at once, or made with O_TMPFILE), so even a killed run leaves nothing behind. It
    becomes part of a capture file through `save_new_capture_spooled`; `discard` closes
    it."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # Open for the spool's life: closed by `discard`, which every caller runs.
        self._handle = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
        self.count = 0

    def append(self, data: bytes) -> None:
        """One page, as `page_bytes` serialised it."""
        if self.count:
            self._handle.write(b",\n")
        self._handle.write(data)
        self.count += 1

    @contextlib.contextmanager
    def page(self) -> Iterator[Callable[[bytes], object]]:
        """Append one page in parts (`write` each, in order): the page counts once the
        block ends; an exception inside it takes the page's bytes back out."""
        mark = self._handle.tell()
        try:
            if self.count:
                self._handle.write(b",\n")
            yield self._handle.write
        except BaseException:
            self._handle.seek(mark)
            self._handle.truncate()
            raise
        self.count += 1

    def copy_to(self, out: BinaryIO) -> None:
        self._handle.flush()
        self._handle.seek(0)
        shutil.copyfileobj(self._handle, out, 1 << 20)
        self._handle.seek(0, os.SEEK_END)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()


def save_new_capture_spooled(
    capture: Capture,
    spools: Sequence[PageSpool],
    out_dir: Path,
    run_id: str,
    *,
    guard: Callable[[bytes], None] | None = None,
) -> Path:
    """Like `save_new_capture` for a capture whose pages are in `spools` (in order) and
    whose `pages` is empty: the same bytes, written without holding the pages. `guard`
    sees every byte that is not a spooled page (each page passed it when spooled)."""
    data = serialise(capture.to_json())
    if guard is not None:
        guard(data)
    filled = [spool for spool in spools if spool.count]

    def write(handle: BinaryIO) -> None:
        if not filled:
            handle.write(data)
            return
        head, tail = pages_frame(data)
        handle.write(head)
        for index, spool in enumerate(filled):
            if index:
                handle.write(b",\n")
            spool.copy_to(handle)
        handle.write(tail)

    return _create_new(capture, out_dir, run_id, write)


def _create_new(
    capture: Capture, out_dir: Path, run_id: str, write: Callable[[BinaryIO], object]
) -> Path:
    """Write a temp file in `out_dir`, fsync it, then hard-link it under the first free
    capture file name: the link fails when a name is taken (O_EXCL semantics), so no
    other file is ever replaced, and a reader sees no file or the whole one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_stale_temp_files(out_dir)
    fd, tmp_name = tempfile.mkstemp(
        prefix=temp_prefix("verify-capture"), suffix=".tmp", dir=out_dir
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        for attempt in range(1, 1000):
            path = out_dir / capture_filename(capture, run_id, attempt)
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                continue
            return path
    except OSError as exc:
        raise DiskError(f"could not write a capture in {out_dir}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
    raise DiskError(f"could not find a free capture file name in {out_dir}")


def new_run_id() -> str:
    """A short random id shared by the files of one capture run."""
    return uuid.uuid4().hex[:12]


def capture_filename(capture: Capture, run_id: str | None = None, attempt: int = 1) -> str:
    """`<surface>__<captured_at>[__<run id>][-<n>].json`: sortable by time, unique per run."""
    stamp = capture.captured_at[:19].replace(":", "").replace("-", "") + "Z"  # to the second
    run = f"__{run_id}" if run_id else ""
    suffix = f"-{attempt}" if attempt > 1 else ""
    return f"{capture.surface}__{stamp}{run}{suffix}.json"
