"""`verify capture`: capture the surfaces (live keys from env, or the in-process sandbox)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress as RichProgressBar
from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from verifier.capture import (
    CaptureOptions,
    CaptureRun,
    Progress,
    RetryPolicy,
    Window,
    anonymisation_key,
    capture_from_sandbox,
    default_safety,
    run_capture,
    utc_today,
)
from verifier.cli.app import emit, fail_line, format_option, main
from verifier.credentials import (
    access_for,
    all_secrets,
    make_client,
    parse_base_url_overrides,
    require_env,
)
from verifier.detect import literal_secrets
from verifier.errors import EXIT_OPERATIONAL, UsageError
from verifier.findings import Report
from verifier.incremental import since_last_starts
from verifier.sandbox import SCENARIO_NAMES
from verifier.surfaces import SURFACE_NAMES, get_surface


@main.command()
@click.option(
    "--surface",
    "surfaces",
    multiple=True,
    metavar="NAME",
    help="Surface to capture (repeatable; default all): " + ", ".join(SURFACE_NAMES),
)
@click.option(
    "--start",
    metavar="DATE",
    help="First day, YYYY-MM-DD (UTC). Required, except with --since-last once DIR holds captures.",
)
@click.option(
    "--end",
    metavar="DATE",
    help="Last day, YYYY-MM-DD (UTC), inclusive [default: yesterday].",
)
@click.option(
    "--since-last",
    is_flag=True,
    help="Incremental run: each surface starts the day after the newest whole day already "
    "captured in --out (a surface not captured there yet starts at --start).",
)
@click.option(
    "--out",
    default="captures",
    show_default=True,
    metavar="DIR",
    help="Directory for the capture files (one per surface).",
)
@click.option(
    "--base-url",
    "base_urls",
    multiple=True,
    metavar="SURFACE=URL",
    help="Override a surface's base URL (https only; http only for 127.0.0.1).",
)
@click.option(
    "--timeout",
    default=None,
    type=click.FloatRange(min=0.01),
    metavar="SECONDS",
    help="Whole-request deadline (connect, headers and body), retried like a 5xx "
    "[default: 30; not with --sandbox].",
)
@click.option(
    "--retries",
    default=None,
    type=click.IntRange(min=0, max=20),
    metavar="N",
    help="Retries per request after 408/409/429/5xx or a timeout [default: 4; not with --sandbox].",
)
@click.option(
    "--max-body-mb",
    default=None,
    type=click.IntRange(min=1, max=64 * 1024),
    metavar="MB",
    help="Largest response body accepted, after decompression; a bigger one is an "
    "operational failure (exit 3) [default: 256; not with --sandbox].",
)
@click.option("--sandbox", is_flag=True, help="Capture from an in-process sandbox with fake keys.")
@click.option(
    "--scenario",
    default=None,
    metavar="|".join(SCENARIO_NAMES),
    help="Sandbox scenario (with --sandbox; default documented).",
)
@format_option()
def capture(
    surfaces: tuple[str, ...],
    start: str | None,
    end: str | None,
    since_last: bool,
    out: str,
    base_urls: tuple[str, ...],
    timeout: float | None,
    retries: int | None,
    max_body_mb: int | None,
    sandbox: bool,
    scenario: str | None,
    fmt: str,
) -> int:
    """Capture the analytics surfaces, anonymise them and write one file per surface.

    Keys come from the environment only: OPENAI_ADMIN_KEY for the OpenAI surfaces,
    CODEX_ANALYTICS_KEY and CHATGPT_WORKSPACE_ID for chatgpt_enterprise_usage.
    Windows, cursors and retries are handled; a rejected request is recorded and
    reported as an `http_status` finding, a broken cursor as `pagination_changed`.

    Every run writes its own files (`<surface>__<time>__<run id>.json`, never replacing
    one), so daily runs can share one directory; `--since-last` asks only for the days
    not captured there yet, up to yesterday.

    \b
    Examples:
      verify capture --start 2026-05-01 --end 2026-05-31 --out captures/
      verify capture --since-last --start 2026-05-01 --out captures/   # daily, from CI
      verify capture --sandbox --scenario vendor-docs --start 2026-05-01 --end 2026-05-07
    Exit codes: 0 captured cleanly; 1 capture-time findings; 2 usage error;
                3 network failure beyond retries (that surface writes no file).
    """
    names = [get_surface(name).name for name in surfaces] or list(SURFACE_NAMES)
    out_dir = Path(out)
    last = parse_day(end, "--end") if end is not None else utc_today() - timedelta(days=1)
    given = parse_day(start, "--start") if start is not None else None
    starts: Mapping[str, date] = {}
    if since_last:
        starts = since_last_starts(out_dir, names, given)
        for name, day in starts.items():
            click.echo(f"verify: note: {name}: --since-last starts at {day.isoformat()}", err=True)
        first = min([*starts.values(), *([given] if given else [])], default=last)
        first = min(first, last)
    elif given is None:
        raise UsageError("--start is required (or --since-last with captures in --out)")
    else:
        first = given
    with progress_display() as progress:
        if sandbox:
            if base_urls or timeout is not None or retries is not None or max_body_mb:
                raise UsageError(
                    "--base-url, --timeout, --retries and --max-body-mb cannot be combined "
                    "with --sandbox"
                )
            run = capture_from_sandbox(
                out_dir,
                scenario=scenario or "documented",
                start=first,
                end=last,
                surfaces=names,
                progress=progress,
                surface_starts=starts,
            )
        else:
            if scenario is not None:
                raise UsageError("--scenario needs --sandbox")
            options = CaptureOptions(
                start=first,
                end=last,
                retry=live_policy(timeout, retries, max_body_mb),
                surface_starts=starts,
            )
            run = capture_live(names, options, out_dir, base_urls, progress)
    return report_run(run, fmt)


def live_policy(
    timeout: float | None, retries: int | None, max_body_mb: int | None = None
) -> RetryPolicy:
    default = RetryPolicy()
    return replace(
        default,
        timeout=default.timeout if timeout is None else timeout,
        attempts=default.attempts if retries is None else retries + 1,
        max_body_bytes=(
            default.max_body_bytes if max_body_mb is None else max_body_mb * 1024 * 1024
        ),
    )


# The APIs count in Unix seconds; dates outside this range are no usage period (and
# window arithmetic near year 1 or 9999 would overflow).
EARLIEST_DAY = date(1970, 1, 2)
LATEST_DAY = date(9998, 12, 31)


def parse_day(text: str, option: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} expects a date as YYYY-MM-DD, got {text!r}") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise UsageError(
            f"{option} {day.isoformat()} is outside {EARLIEST_DAY.isoformat()}.."
            f"{LATEST_DAY.isoformat()}"
        )
    return day


def capture_live(
    names: Sequence[str],
    options: CaptureOptions,
    out_dir: Path,
    base_urls: Sequence[str],
    progress: Progress,
) -> CaptureRun:
    """Keys from the environment, the real anonymiser and leak gate, a TLS-verifying client."""
    overrides = parse_base_url_overrides(base_urls)
    require_env([get_surface(n) for n in names])
    accesses = [access_for(get_surface(n), base_url=overrides.get(n)) for n in names]
    # Every secret the environment holds is masked, not only those of the surfaces that
    # run: an OpenAI-only capture must not carry the workspace id either.
    secrets = tuple({*all_secrets(accesses), *literal_secrets(os.environ)})
    safety = default_safety(anonymisation_key(sandbox=False), secrets)
    with make_client(options.retry.timeout) as client:
        return run_capture(client, accesses, options, out_dir, safety, progress=progress)


def report_run(run: CaptureRun, fmt: str) -> int:
    for note in run.notes:
        click.echo(f"verify: note: {note}", err=True)
    for path in run.paths:
        click.echo(f"verify: wrote {path}", err=True)
    report = Report(
        command="capture",
        findings=run.findings,
        sources=tuple(str(p) for p in run.paths),
        extra={"captures": [str(p) for p in run.paths], "network_failures": list(run.failures)},
        run_failed=bool(run.failures),
    )
    code = emit(report, fmt)
    if run.failures:
        for failure in run.failures:
            fail_line(f"network failure, no capture written for {failure}")
        return EXIT_OPERATIONAL
    return code


# -- progress: rich on a terminal, plain lines otherwise (CI logs) ---------------------------


class PlainProgress:
    """One line per event on stderr; never a cursor, URL or key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _say(self, text: str) -> None:
        with self._lock:
            click.echo(f"capture: {text}", err=True)

    def chain_started(self, surface: str, window: Window | None) -> None:
        self._say(f"{surface} {window.label if window else 'all'} started")

    def page_done(self, surface: str, status: int) -> None:
        self._say(f"{surface} page HTTP {status}")

    def retrying(self, surface: str, reason: str, delay: float) -> None:
        self._say(f"{surface} retrying after {reason} in {delay:.2f} s")

    def chain_done(self, surface: str) -> None:
        self._say(f"{surface} window done")


class RichProgress:
    """A live line per surface: pages fetched, windows done, retries."""

    def __init__(self, bar: RichProgressBar) -> None:
        self._bar = bar
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._counts: dict[str, list[int]] = {}  # pages, windows started, windows done, retries

    def _update(self, surface: str, index: int) -> None:
        with self._lock:
            if surface not in self._tasks:
                self._tasks[surface] = self._bar.add_task(surface, total=None)
                self._counts[surface] = [0, 0, 0, 0]
            counts = self._counts[surface]
            counts[index] += 1
            pages, started, done, retries = counts
            self._bar.update(
                self._tasks[surface],
                description=f"{surface}: {pages} pages, windows {done}/{started}, "
                f"{retries} retries",
            )

    def chain_started(self, surface: str, window: Window | None) -> None:
        self._update(surface, 1)

    def page_done(self, surface: str, status: int) -> None:
        self._update(surface, 0)

    def retrying(self, surface: str, reason: str, delay: float) -> None:
        self._update(surface, 3)

    def chain_done(self, surface: str) -> None:
        self._update(surface, 2)


@contextmanager
def progress_display() -> Iterator[Progress]:
    if not sys.stderr.isatty():
        yield PlainProgress()
        return
    bar = RichProgressBar(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        yield RichProgress(bar)
