"""Capture the analytics surfaces over HTTP: windows, cursors, retries, then anonymise and save.

The httpx client is injected (a live client, a loopback one for the sandbox, or an
`httpx.MockTransport` in unit tests), and so are the anonymiser and the leak gate.

    plan_windows()   a date range -> windows the vendor accepts (31 daily buckets for
                     usage, 180 for costs, the 90-day look-back of the Codex API)
    fetch_chain()    one window: follow cursors to the end; a cursor loop or
                     `has_more` without a cursor becomes a `pagination_changed` event
    fetch_page()     one request with retries: 408/409/429/5xx, timeouts, dropped
                     connections; exponential backoff with jitter, `Retry-After`
                     honoured, a bounded number of attempts and seconds of waiting
    run_capture()    all chains of all surfaces on a bounded thread pool, then per
                     surface: raw capture -> anonymise -> findings -> leak gate -> atomic save

A final non-2xx answer is data (recorded + an `http_status` finding); only a network
failure beyond retries is an error, and then that surface writes no file at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from verifier import pagination
from verifier.contract import http_status_finding
from verifier.credentials import SurfaceAccess, all_secrets, same_origin
from verifier.errors import EXIT_FINDINGS, EXIT_PASS, NetworkError, RefusedError, UsageError
from verifier.findings import Finding
from verifier.http_guard import DEFAULT_MAX_BODY_BYTES, Cancelled, HttpGuard, body_file
from verifier.inputs import STREAM_MIN_BYTES, Body, NotStreamable
from verifier.keys import AnonKey, key_from_text, load_key
from verifier.page_stream import LargePage, decode_body, large_page
from verifier.pagination import PaginationProblem, cursor_field, next_cursor
from verifier.store import (
    Capture,
    Coverage,
    CoverageWindow,
    Page,
    PageSpool,
    RequestInfo,
    capture_filename,
    new_run_id,
    page_bytes,
    save_new_capture_spooled,
)
from verifier.surfaces import SURFACE_NAMES, Surface, get_surface

DEFAULT_WINDOW_DAYS = 30  # for surfaces without a vendor cap: smaller windows run in parallel
MAX_REDIRECTS = 5
KEEPING_SLOTS = 1  # chains decoding, anonymising and gating a page at the same time
RETRY_STATUSES = frozenset({408, 409, 429})

# -- options -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one request. `budget` bounds the seconds spent waiting between tries."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    budget: float = 60.0
    timeout: float = 30.0  # the whole request, body included (verifier.http_guard)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # per response, after decompression

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with jitter: half fixed, half random, capped."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    start: date
    end: date  # inclusive: the last day captured
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 8
    page_limits: Mapping[str, int] = field(default_factory=dict)  # surface -> `limit`
    window_days: Mapping[str, int] = field(default_factory=dict)  # surface -> days per request
    today: date | None = None  # for look-back limits; None means the UTC date now
    source: str = "live"
    max_pages: int = 10_000
    # Per surface first day, overriding `start` (an incremental run: `--since-last`).
    surface_starts: Mapping[str, date] = field(default_factory=dict)
    # A 2xx body this large is never decoded whole (when the safety can stream it).
    stream_page_bytes: int = STREAM_MIN_BYTES

    def start_for(self, surface: str) -> date:
        return self.surface_starts.get(surface, self.start)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise UsageError(f"--end {self.end} is before --start {self.start}")
        if self.concurrency < 1:
            raise UsageError("concurrency must be at least 1")


@dataclass(frozen=True, slots=True)
class Window:
    start: date
    end: date  # exclusive

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()}..{(self.end - timedelta(days=1)).isoformat()}"


@dataclass(frozen=True, slots=True)
class Safety:
    """The anonymiser and the leak gate every capture passes before it reaches disk."""

    anonymise: Callable[[Capture], Capture]
    guard: Callable[[bytes], None]
    # A large page anonymised, gated and written in row slices (`verifier.page_stream`),
    # the same bytes as `anonymise` + `guard` of the whole page; None: always whole.
    stream: Callable[[Surface, LargePage, Callable[[bytes], object]], Page] | None = None


class Progress(Protocol):
    def chain_started(self, surface: str, window: Window | None) -> None: ...
    def page_done(self, surface: str, status: int) -> None: ...
    def retrying(self, surface: str, reason: str, delay: float) -> None: ...
    def chain_done(self, surface: str) -> None: ...


class NoProgress:
    def chain_started(self, surface: str, window: Window | None) -> None:
        pass

    def page_done(self, surface: str, status: int) -> None:
        pass

    def retrying(self, surface: str, reason: str, delay: float) -> None:
        pass

    def chain_done(self, surface: str) -> None:
        pass


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaginationEvent:
    page: int  # index in the chain's pages of the page that could not be followed
    problem: PaginationProblem
    cursor_field: str  # `next_page` or `last_id`


@dataclass(frozen=True, slots=True)
class ChainResult:
    surface: str
    window: Window | None
    pages: tuple[Page, ...]
    events: tuple[PaginationEvent, ...] = ()
    failure: str | None = None  # set when the network failed beyond retries


@dataclass(frozen=True, slots=True)
class CaptureRun:
    """What a capture produced: one file per surface and the capture-time findings."""

    paths: tuple[Path, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()  # surfaces whose network failed: nothing written
    fetch_seconds: float = 0.0  # wall time of the concurrent HTTP phase
    write_seconds: float = 0.0  # anonymise + leak gate + atomic writes, after the fetch

    @property
    def exit_code(self) -> int:
        if self.failures:
            return NetworkError.exit_code
        return EXIT_FINDINGS if self.findings else EXIT_PASS


class _NetworkFailure(Exception):
    """A request that could not get any HTTP answer within the retry policy."""


# -- windows -------------------------------------------------------------------------------


def utc_today() -> date:
    return datetime.now(UTC).date()


def unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def plan_windows(surface: Surface, options: CaptureOptions) -> tuple[list[Window], str | None]:
    """Split [start, end] into request windows the vendor accepts, plus a note if clamped."""
    if not surface.windowed:
        return [], None
    start, stop = options.start_for(surface.name), options.end + timedelta(days=1)
    if start >= stop:
        return [], f"{surface.name}: already captured up to {options.end.isoformat()}"
    note = None
    earliest = lookback_start(surface, options)
    if earliest is not None and start < earliest:
        start = earliest
        note = (
            f"{surface.name}: the vendor keeps {surface.lookback_days} days; "
            f"capturing from {earliest.isoformat()}"
        )
    cap = surface.max_days_per_request
    size = options.window_days.get(surface.name) or cap or DEFAULT_WINDOW_DAYS
    size = min(size, cap) if cap else size
    windows = []
    cursor = start
    while cursor < stop:
        windows.append(Window(cursor, min(cursor + timedelta(days=size), stop)))
        cursor = windows[-1].end
    if not windows:
        note = f"{surface.name}: nothing to capture inside the vendor's look-back"
    return windows, note


def lookback_start(surface: Surface, options: CaptureOptions) -> date | None:
    """The first day the vendor still serves, for surfaces with a look-back limit.
    The vendor counts its look-back from "now"; starting a day late stays inside it."""
    if surface.lookback_days is None:
        return None
    today = options.today or utc_today()
    return today - timedelta(days=surface.lookback_days - 1)


def coverage_of(
    surface: Surface, options: CaptureOptions, chains: Sequence[ChainResult]
) -> Coverage | None:
    """What the run asked for and, window by window, what the vendor answered."""
    if not surface.windowed:
        return None
    start, stop = options.start_for(surface.name), options.end + timedelta(days=1)
    windows: list[CoverageWindow] = []
    earliest = lookback_start(surface, options)
    if earliest is not None and start < earliest:
        cut = f"look-back: the vendor keeps {surface.lookback_days} days"
        cut_end = unix(min(earliest, stop))
        windows.append(CoverageWindow(unix(start), cut_end, "cut", cut))
    for chain in chains:
        if chain.window is not None:
            state, reason = chain_state(chain)
            windows.append(
                CoverageWindow(unix(chain.window.start), unix(chain.window.end), state, reason)
            )
    return Coverage(unix(start), unix(stop), tuple(windows))


def chain_state(chain: ChainResult) -> tuple[str, str | None]:
    """answered, rejected (a final non-2xx answer) or incomplete (pagination broke)."""
    refused = [page.status for page in chain.pages if not page.ok]
    if refused:
        return "rejected", f"HTTP {refused[-1]}"
    if chain.events:
        return "incomplete", pagination.PROBLEM_WORDS[chain.events[-1].problem]
    return "answered", None


def chain_query(access: SurfaceAccess, window: Window | None, limit: int) -> dict[str, str]:
    query = dict(access.surface.query)
    if window is not None:
        query |= {"start_time": str(unix(window.start)), "end_time": str(unix(window.end))}
    query["limit"] = str(limit)
    return query


# -- one request with retries ---------------------------------------------------------------


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`retry-after-ms` (as the OpenAI SDK reads it), else `Retry-After` seconds or date."""
    millis = _finite(headers.get("retry-after-ms"))
    if millis is not None:
        return max(millis / 1000, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite(value)
    if seconds is None:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0)


def _finite(text: str | None) -> float | None:
    """A header's number, or None for absent, malformed, NaN or infinite values."""
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def is_retryable(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


@dataclass
class Fetcher:
    """Sends requests for one run: shared client, retry policy, sleep and jitter source."""

    client: httpx.Client
    policy: RetryPolicy
    progress: Progress
    sleep: Callable[[float], None] | None = None  # None: wait, but wake up on cancel()
    rng: random.Random = field(default_factory=random.Random)
    _rng_lock: threading.Lock = field(default_factory=threading.Lock)
    _cancelled: threading.Event = field(default_factory=threading.Event)
    guard: HttpGuard | None = None  # made from the policy when not given
    stream_from: int | None = None  # 2xx bodies this large become LargePages
    # Held from a page's decoding to its keeping (`fetch_then`): chains that decode,
    # anonymise and gate a page at once; the others keep fetching meanwhile.
    slots: threading.BoundedSemaphore | None = None

    def __post_init__(self) -> None:
        if self.guard is None:
            self.guard = HttpGuard(max_body_bytes=self.policy.max_body_bytes)

    def cancel(self) -> None:
        """Stop every chain now: waits end and blocked reads wake (Ctrl-C, a fatal error)."""
        self._cancelled.set()
        if self.guard is not None:
            self.guard.cancel_all()

    def _wait(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        else:
            self._cancelled.wait(seconds)

    def fetch(self, access: SurfaceAccess, query: Mapping[str, str]) -> Page:
        """One page with retries. A final non-2xx answer is returned, not raised."""
        return self.fetch_then(access, query, _same_page)

    def fetch_then(
        self, access: SurfaceAccess, query: Mapping[str, str], then: Callable[[Page], T]
    ) -> T:
        """`then(page)` of the final page (`fetch`), run in the same hold of a slot as its
        decoding: a decoded page never waits for a slot (with eight chains, eight decoded
        pages of up to 1 MiB of JSON each could wait; raw bodies are a tenth of that)."""
        waited = 0.0
        for attempt in range(1, self.policy.attempts + 1):
            if self._cancelled.is_set():
                raise _NetworkFailure("cancelled")
            last = attempt == self.policy.attempts
            try:
                response = self._send(access, query)
            except httpx.TransportError as exc:
                reason = transport_reason(exc)
                delay = self._delay(attempt, None)
                if last or waited + delay > self.policy.budget:
                    raise _NetworkFailure(f"{reason} after {attempt} attempts") from None
            else:
                with self.slots or contextlib.nullcontext():
                    page = page_from_response(response, access, self.stream_from)
                    final = not self._should_retry(page) or last
                    if not final:
                        reason = f"HTTP {page.status}" if not page.ok else "unreadable body"
                        delay = self._delay(attempt, retry_after_seconds(response.headers))
                        final = waited + delay > self.policy.budget
                    if final:
                        return then(page)
                    del page  # tried again: the answer is not kept meanwhile
            self.progress.retrying(access.surface.name, reason, delay)
            self._wait(delay)
            waited += delay
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _should_retry(self, page: Page) -> bool:
        if page.ok:
            return page.body is None and page.body_text is not None  # a 2xx that is not JSON
        return is_retryable(page.status)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        with self._rng_lock:
            backoff = self.policy.backoff(attempt, self.rng)
        return backoff if retry_after is None else max(retry_after, backoff)

    def _send(self, access: SurfaceAccess, query: Mapping[str, str]) -> httpx.Response:
        """GET, following redirects only within the same origin so the key never leaves it."""
        guard = self.guard or HttpGuard(max_body_bytes=self.policy.max_body_bytes)
        timeout = self.policy.timeout
        try:
            response = guard.get(
                self.client,
                access.url,
                params=query,
                headers=access.auth_headers(),
                timeout=timeout,
                spill_from=self.stream_from,
            )
            for _ in range(MAX_REDIRECTS):
                if not response.is_redirect:
                    break
                target = response.url.join(response.headers.get("location", ""))
                discard_body(response)
                if not same_origin(response.url, target):
                    break  # recorded as the final answer; the key is not sent to another host
                response = guard.get(
                    self.client,
                    target,
                    headers=access.auth_headers(),
                    timeout=timeout,
                    spill_from=self.stream_from,
                )
        except Cancelled:
            raise _NetworkFailure("cancelled") from None
        return response


T = TypeVar("T")


def _same_page(page: Page) -> Page:
    return page


def discard_body(response: httpx.Response) -> None:
    """Close the temp file of a spilled body that will not be read (a redirect's)."""
    spilled = body_file(response)
    if spilled is not None:
        spilled.close()


def transport_reason(exc: httpx.TransportError) -> str:
    """A safe one-word-ish reason: class names only, never URLs or bodies."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({exc.__class__.__name__})"
    return exc.__class__.__name__


def page_from_response(
    response: httpx.Response, access: SurfaceAccess, stream_from: int | None = None
) -> Page:
    """Record an answer: status, every header (the anonymiser drops what must go), body.
    A 2xx JSON body of `stream_from` bytes or more is kept as its text (a LargePage)."""
    spilled = body_file(response)
    content = response.content
    threshold = math.inf if stream_from is None else stream_from
    if response.is_success and (spilled is not None or len(content) >= threshold):
        url = recorded_url(response.url, access)
        source = content if spilled is None else spilled
        headers = dict(response.headers)
        large = large_page(response.status_code, url, headers, source, access.surface)
        if large is not None:
            return large
    if spilled is not None:
        with spilled:
            spilled.seek(0)
            content = spilled.read()
    body, body_text = decode_body(content)
    if response.is_redirect and body is None and body_text is None:
        body_text = "redirect to another host was not followed (the key is never sent there)"
    return Page(
        status=response.status_code,
        url=recorded_url(response.url, access),
        headers=dict(response.headers),
        body=body,
        body_text=body_text,
    )


def recorded_url(url: httpx.URL, access: SurfaceAccess) -> str:
    """The URL as recorded: path values such as the workspace id put back as placeholders."""
    text = str(url)
    for name, value in access.path_values.items():
        text = text.replace(value, "{" + name + "}")
    return text


# -- one window: follow the cursors ----------------------------------------------------------


def cursor_param(surface: Surface) -> str:
    return "after" if surface.pagination == "after" else "page"


PageKeeper = Callable[[Page], Page]


def fetch_chain(
    fetcher: Fetcher,
    access: SurfaceAccess,
    window: Window | None,
    options: CaptureOptions,
    keep: PageKeeper | None = None,
) -> ChainResult:
    """Follow one window's cursors to the end. `keep` takes each page once its cursor is
    read and returns what the result holds instead (`run_capture` spools the page to
    disk and keeps a stub: the chain never holds the pages it fetched)."""
    surface = access.surface
    name = surface.name
    fetcher.progress.chain_started(name, window)
    limit = options.page_limits.get(name) or surface.page_size or 100
    query = chain_query(access, window, limit)
    pages: list[Page] = []
    events: list[PaginationEvent] = []
    used: set[str] = set()

    def read(page: Page) -> tuple[Page, str | None, PaginationProblem | None]:
        """The page's cursor, then the page kept: in the fetcher's slot, as decoded."""
        fetcher.progress.page_done(name, page.status)
        cursor, problem = next_cursor(surface, page.body) if page.ok else (None, None)
        return (keep(page) if keep is not None else page), cursor, problem

    try:
        while True:
            # A raw page (its body may be large) is gone before the next request.
            kept_page, cursor, problem = fetcher.fetch_then(access, query, read)
            pages.append(kept_page)
            if not pages[-1].ok:
                break
            if cursor is not None and cursor in used:
                problem = "cursor_loop"
            elif cursor is not None and len(pages) >= options.max_pages:
                problem = "too_many_pages"
            if problem is not None:
                events.append(PaginationEvent(len(pages) - 1, problem, cursor_field(surface)))
            if cursor is None or problem is not None:
                break
            used.add(cursor)
            query = {**query, cursor_param(surface): cursor}
    except _NetworkFailure as exc:
        return ChainResult(name, window, tuple(pages), tuple(events), failure=str(exc))
    finally:
        fetcher.progress.chain_done(name)
    return ChainResult(name, window, tuple(pages), tuple(events))


# -- findings from a capture ------------------------------------------------------------------


def pagination_finding(surface: str, source: str, page: int, event: PaginationEvent) -> Finding:
    pointer_field = "has_more" if event.problem == "has_more_without_cursor" else event.cursor_field
    return pagination.finding(
        surface,
        source,
        f"/pages/{page}/body",
        event.cursor_field,
        pagination.PROBLEM_WORDS[event.problem],
        pointer_field=pointer_field,
    )


def capture_time_findings(
    capture: Capture, source: str, events: Sequence[tuple[int, PaginationEvent]]
) -> list[Finding]:
    """`http_status` for every non-2xx page (vendor message from the anonymised body) and
    `pagination_changed` for every cursor problem."""
    surface = get_surface(capture.surface)
    findings = [
        http_status_finding(
            surface,
            source,
            Body(page.status, page.body, f"/pages/{index}/body", page.url, page.body_text),
        )
        for index, page in enumerate(capture.pages)
        if not page.ok
    ]
    findings.extend(pagination_finding(surface.name, source, i, e) for i, e in events)
    return findings


# -- the whole run -----------------------------------------------------------------------------


def captured_at_now() -> str:
    """RFC 3339 UTC with microseconds: the merge orders captures of one bucket by it, so
    two runs in the same second must still tell which came last."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def request_info(access: SurfaceAccess, windows: Sequence[Window], limit: int) -> RequestInfo:
    query: dict[str, Any] = dict(access.surface.query)
    if windows:
        query |= {"start_time": unix(windows[0].start), "end_time": unix(windows[-1].end)}
    query["limit"] = limit
    return RequestInfo(method="GET", url_template=access.url_template, query=query)


@contextmanager
def interrupt_cancels(fetcher: Fetcher) -> Iterator[Callable[[], bool]]:
    """While chains run, Ctrl-C only cancels them; the caller raises KeyboardInterrupt
    afterwards, from ordinary code. (A KeyboardInterrupt raised by the default handler
    can land in a finaliser, where Python prints and swallows it, and the capture would
    then run on to a normal exit.) Off the main thread signals can't be handled: no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    interrupted = threading.Event()

    def on_sigint(_signum: int, _frame: object) -> None:
        interrupted.set()
        fetcher.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def run_chains(
    fetcher: Fetcher,
    plans: Sequence[tuple[SurfaceAccess, list[Window | None]]],
    options: CaptureOptions,
    keepers: Sequence[PageKeeper | None] | None = None,
) -> dict[str, list[ChainResult]]:
    """Every (surface, window) chain on one bounded pool; results kept in window order.
    `keepers` gives each chain (in plan order) its page keeper."""
    jobs = [(access, window) for access, windows in plans for window in windows]
    keeps = list(keepers) if keepers is not None else [None] * len(jobs)
    pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="capture")
    try:
        with interrupt_cancels(fetcher) as interrupted:
            futures = [
                pool.submit(fetch_chain, fetcher, a, w, options, keep)
                for (a, w), keep in zip(jobs, keeps, strict=True)
            ]
            results = [future.result() for future in futures]
        if interrupted():
            raise KeyboardInterrupt
    except BaseException:
        # Ctrl-C or a bug: stop the other chains now instead of letting them run on.
        fetcher.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    grouped: dict[str, list[ChainResult]] = {}
    for result in results:
        grouped.setdefault(result.surface, []).append(result)
    return grouped


def assemble(
    access: SurfaceAccess,
    chains: Sequence[ChainResult],
    windows: Sequence[Window],
    options: CaptureOptions,
    captured_at: str,
) -> tuple[Capture, list[tuple[int, PaginationEvent]]]:
    """One raw capture per surface: all windows' pages in order, events re-indexed."""
    pages: list[Page] = []
    events: list[tuple[int, PaginationEvent]] = []
    for chain in chains:
        events.extend((len(pages) + e.page, e) for e in chain.events)
        pages.extend(chain.pages)
    surface = access.surface
    limit = options.page_limits.get(surface.name) or surface.page_size or 100
    capture = Capture(
        surface=surface.name,
        request=request_info(access, windows, limit),
        pages=tuple(pages),
        captured_at=captured_at,
        key_fingerprint=None,
        source=options.source,
        coverage=coverage_of(surface, options, chains),
    )
    return capture, events


def run_capture(
    client: httpx.Client,
    accesses: Sequence[SurfaceAccess],
    options: CaptureOptions,
    out_dir: Path,
    safety: Safety,
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] | None = None,
    rng: random.Random | None = None,
) -> CaptureRun:
    """Capture every surface in `accesses` and write one anonymised file per surface."""
    fetcher = Fetcher(
        client, options.retry, progress or NoProgress(), sleep, rng or random.Random()
    )
    # Decoding and anonymising pages is CPU-bound Python, one thread at a time whatever
    # the pool: one slot loses no speed, and bounds the row slices held in memory.
    slots = threading.BoundedSemaphore(KEEPING_SLOTS)
    limit_malloc_arenas()
    fetcher.slots = slots  # held from a page's decoding to its spooling (`fetch_then`)
    if safety.stream is not None:
        fetcher.stream_from = options.stream_page_bytes
    notes: list[str] = []
    plans: list[tuple[SurfaceAccess, list[Window | None]]] = []
    windows_of: dict[str, list[Window]] = {}
    for access in accesses:
        windows, note = plan_windows(access.surface, options)
        if note:
            notes.append(note)
        if access.surface.windowed and not windows:
            continue
        windows_of[access.surface.name] = windows
        chain_windows: list[Window | None] = [*windows] if windows else [None]
        plans.append((access, chain_windows))
    began = time.perf_counter()
    spools: dict[str, list[PageSpool]] = {}
    try:
        keepers: list[PageKeeper | None] = []
        for access, chain_windows in plans:
            for _window in chain_windows:
                spool = PageSpool(out_dir)
                spools.setdefault(access.surface.name, []).append(spool)
                keepers.append(page_keeper(access.surface, safety, spool))
        results = run_chains(fetcher, plans, options, keepers)
        fetched = time.perf_counter()
        captured_at = captured_at_now()
        run_id = new_run_id()
        paths: list[Path] = []
        findings: list[Finding] = []
        failures: list[str] = []
        for access, _ in plans:
            name = access.surface.name
            chains = results[name]
            failed = [c.failure for c in chains if c.failure]
            if failed:
                failures.append(f"{name}: {failed[0]}")
                continue
            raw, events = assemble(access, chains, windows_of[name], options, captured_at)
            try:
                path, surface_findings = save_spooled(
                    raw, events, spools[name], out_dir, safety, run_id
                )
            except RefusedError as exc:
                raise refused_run(exc, paths) from None
            paths.append(path)
            findings.extend(surface_findings)
    finally:
        for spool in (s for group in spools.values() for s in group):
            spool.discard()
    return CaptureRun(
        tuple(paths),
        tuple(findings),
        tuple(notes),
        tuple(failures),
        fetch_seconds=fetched - began,
        write_seconds=time.perf_counter() - fetched,
    )


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives threads heaps of their own (up to 8 per core), and what one chain's
    page freed stays in that thread's heap while the next page is decoded by another
    chain: at 5,556 people a capture peaked at 175 MB with them, 102 MB with two. Set
    before the pool starts; elsewhere (another C library) nothing is done."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


_M_ARENA_MAX = -8  # glibc's malloc.h


def refused_run(exc: RefusedError, written: list[Path]) -> RefusedError:
    """A leak-gate refusal makes the whole run write nothing: files of this run that are
    already on disk are removed, and the message says so exactly."""
    removed = []
    for path in written:
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path.name)
    if not removed:
        return exc
    return RefusedError(
        f"{exc.message}; the run is all or nothing, so its {len(removed)} file(s) already "
        f"written were removed: {', '.join(removed)}"
    )


def page_keeper(surface: Surface, safety: Safety, spool: PageSpool) -> PageKeeper:
    """Each page of a chain, as it arrives: anonymised, leak-gated and appended to the
    chain's spool on disk. What the chain keeps is a stub: the status and, for a non-2xx
    answer (small; its findings quote the vendor's message), the anonymised page. It runs
    in the fetcher's slot (`Fetcher.fetch_then`), right after the page is decoded."""
    shell = Capture(surface.name, RequestInfo("GET", ""), (), "", None)

    def kept(page: Page) -> Page:
        if isinstance(page, LargePage):
            large = page
            try:
                if safety.stream is not None:
                    with contextlib.suppress(NotStreamable, RefusedError), spool.page() as write:
                        return safety.stream(surface, large, write)
                # Else, or the stream gave up: the whole page decides (a refusal then names
                # the exact place).
                page = large.whole()
            finally:
                large.close()
        anonymised = safety.anonymise(replace(shell, pages=(page,))).pages[0]
        data = page_bytes(anonymised)
        safety.guard(data)  # refuses (and the run writes nothing) on any leak
        spool.append(data)
        if anonymised.ok:
            return Page(anonymised.status, anonymised.url)
        return anonymised

    return kept


def save_spooled(
    raw: Capture,
    events: Sequence[tuple[int, PaginationEvent]],
    spools: Sequence[PageSpool],
    out_dir: Path,
    safety: Safety,
    run_id: str,
) -> tuple[Path, list[Finding]]:
    """Anonymise the envelope, attach findings (built from the anonymised pages: `raw`
    holds the chains' stubs), gate and write the spooled pages under a name of this
    run's own (never replacing another run's file)."""
    anonymised = safety.anonymise(replace(raw, pages=()))
    planned = out_dir / capture_filename(anonymised, run_id)
    findings = capture_time_findings(replace(anonymised, pages=raw.pages), str(planned), events)
    final = replace(anonymised, findings=tuple(f.to_json() for f in findings))
    path = save_new_capture_spooled(final, spools, out_dir, run_id, guard=safety.guard)
    if path != planned:  # the name was taken after all (a reused run id): say where it went
        findings = [replace(f, source=str(path)) for f in findings]
    return path, findings


# -- wiring: the real anonymiser and leak gate, and the sandbox entry point ------------------


def default_safety(key: AnonKey, secrets: Sequence[str]) -> Safety:
    """The anonymiser and leak gate of the anonymisation module (imported when used)."""
    from verifier.anonymise import Pseudonyms, anonymise_capture
    from verifier.leakscan import leak_guard
    from verifier.page_stream import spool_page

    literals = tuple(secrets)
    guard = leak_guard(literals)
    made = Pseudonyms(key)  # this run's: an id on every page costs its HMACs once

    def anonymise(capture: Capture) -> Capture:
        return anonymise_capture(capture, key, secrets=literals, pseudonyms=made)

    stream = partial(spool_page, key=key, secrets=literals, guard=guard, pseudonyms=made)
    return Safety(anonymise=anonymise, guard=guard, stream=stream)


def anonymisation_key(*, sandbox: bool, env: Mapping[str, str] | None = None) -> AnonKey:
    """The configured key; a sandbox run without VERIFY_ANON_KEY uses a fixed public one
    (and never creates a key file)."""
    source = os.environ if env is None else env
    if sandbox and not source.get("VERIFY_ANON_KEY"):
        # Sandbox data is fake, so a fixed public key is safe, and it lets sandbox runs
        # stack like real ones (daily --since-last runs, concurrent runs into one --out).
        return key_from_text(SANDBOX_KEY_TEXT)
    return load_key(env=dict(source))


SANDBOX_KEY_TEXT = "verify sandbox key v1 - PUBLIC, NOT SECRET, for fake sandbox data only"
SANDBOX_RETRY = RetryPolicy(attempts=4, base_delay=0.02, max_delay=0.5, budget=5.0, timeout=0.5)
SANDBOX_SLOW_SECONDS = 1.5  # longer than SANDBOX_RETRY.timeout, so the slow answer times out


def sandbox_credentials() -> tuple[str, str, str]:
    """A fresh canary key pair and workspace id for an in-process sandbox run."""
    return (
        "sk-admin-sandbox-" + uuid.uuid4().hex,
        "sk-codex-sandbox-" + uuid.uuid4().hex,
        str(uuid.uuid4()),
    )


def sandbox_accesses(
    base_url: str, surfaces: Sequence[str], keys: tuple[str, str, str]
) -> list[SurfaceAccess]:
    openai_key, codex_key, workspace_id = keys
    accesses = []
    for name in surfaces:
        surface = get_surface(name)
        key = codex_key if surface.auth_env == "CODEX_ANALYTICS_KEY" else openai_key
        values = {"workspace_id": workspace_id} if surface.path_env else {}
        accesses.append(SurfaceAccess(surface, base_url, key, values))
    return accesses


def capture_from_sandbox(
    out_dir: Path,
    *,
    scenario: str = "documented",
    start: date,
    end: date,
    users: int = 3,
    surfaces: Sequence[str] | None = None,
    progress: Progress | None = None,
    safety: Safety | None = None,
    latency: float = 0.0,
    surface_starts: Mapping[str, date] | None = None,
    stream_page_bytes: int = STREAM_MIN_BYTES,
) -> CaptureRun:
    """Start a sandbox on a free loopback port, capture from it, stop it.

    The sandbox holds data for exactly [start, end]; its "today" is `end`."""
    from verifier.sandbox import running_sandbox

    options = CaptureOptions(
        start=start,
        end=end,
        retry=SANDBOX_RETRY,
        today=end,
        source=f"sandbox:{scenario}",
        surface_starts=dict(surface_starts or {}),
        stream_page_bytes=stream_page_bytes,
    )
    keys = sandbox_credentials()
    names = list(surfaces or SURFACE_NAMES)
    with running_sandbox(
        scenario=scenario,
        users=users,
        days=(end - start).days + 1,
        api_key=keys[:2],
        anchor=end + timedelta(days=1),
        latency=latency,
        slow_seconds=SANDBOX_SLOW_SECONDS,
    ) as box:
        accesses = sandbox_accesses(box.base_url, names, keys)
        chosen = safety or default_safety(anonymisation_key(sandbox=True), all_secrets(accesses))
        with httpx.Client(trust_env=False) as client:
            return run_capture(client, accesses, options, out_dir, chosen, progress=progress)
