#!/usr/bin/env python3
"""Benchmark `verify capture` against the sandbox with injected latency.

Captures all four surfaces for 180 days (the Codex API keeps 90 of them) with 50 ms
added to every response. The sandbox runs in its own process, as a remote API would,
so its CPU does not compete with the capture for the interpreter lock. Printed from
the same run:

  * every cursor chain (one surface, one window) run ALONE, one after the other;
  * the longest of those chains;
  * the concurrent capture: its HTTP phase (what concurrency acts on; each page is
    anonymised, leak-gated and spooled inside it, as it arrives) and the atomic write
    phase that follows it;
  * the CPU time of the capture process during the concurrent capture (the sandbox
    runs in its own process): the part of the wall time no concurrency can hide.

Target: concurrent HTTP wall time <= 1.3x the longest single chain.

    .venv/bin/python scripts/bench_capture.py [--days 180] [--users 50] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx

from verifier.capture import (
    CaptureOptions,
    CaptureRun,
    Fetcher,
    NoProgress,
    RetryPolicy,
    Window,
    anonymisation_key,
    default_safety,
    fetch_chain,
    plan_windows,
    run_capture,
    sandbox_accesses,
    sandbox_credentials,
)
from verifier.credentials import SurfaceAccess, all_secrets
from verifier.sandbox import running_sandbox
from verifier.surfaces import SURFACE_NAMES

TARGET_RATIO = 1.3
END = date(2026, 10, 31)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark verify capture on the sandbox.")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per response")
    parser.add_argument("--concurrency", type=int, default=8)
    return parser.parse_args()


def serve(args: argparse.Namespace, keys: tuple[str, str], urls: Queue[str], stop: Event) -> None:
    """Child process: run the sandbox until told to stop."""
    with running_sandbox(
        scenario="documented",
        users=args.users,
        days=args.days,
        api_key=keys,
        anchor=END + timedelta(days=1),
        latency=args.latency,
    ) as box:
        urls.put(box.base_url)
        stop.wait()


@contextmanager
def sandbox_process(args: argparse.Namespace, keys: tuple[str, str]) -> Iterator[str]:
    context = multiprocessing.get_context("spawn")
    urls: Queue[str] = context.Queue()
    stop = context.Event()
    process = context.Process(target=serve, args=(args, keys, urls, stop), daemon=True)
    process.start()
    try:
        yield urls.get(timeout=60)
    finally:
        stop.set()
        process.join(timeout=10)


def chain_windows(access: SurfaceAccess, options: CaptureOptions) -> list[Window | None]:
    """The windows a capture would fetch for a surface; a list surface has one chain."""
    windows: list[Window | None] = [*plan_windows(access.surface, options)[0]]
    return windows or [None]


def warm_up(client: httpx.Client, accesses: list[SurfaceAccess], options: CaptureOptions) -> None:
    """One untimed pass, so the sandbox has built every answer before anything is timed:
    both measurements then see the same server, one that answers in `--latency`."""
    fetcher = Fetcher(client, options.retry, NoProgress())
    for access in accesses:
        for window in chain_windows(access, options):
            fetch_chain(fetcher, access, window, options)


def time_chains_alone(
    client: httpx.Client, accesses: list[SurfaceAccess], options: CaptureOptions
) -> tuple[float, str, float]:
    """Run every chain by itself; return (longest seconds, its label, sum of all)."""
    fetcher = Fetcher(client, options.retry, NoProgress())
    print(f"  {'chain (run alone)':<54} {'pages':>5} {'seconds':>8}")
    longest, longest_label, total = 0.0, "", 0.0
    for access in accesses:
        note = plan_windows(access.surface, options)[1]
        if note:
            print(f"  note: {note}")
        for window in chain_windows(access, options):
            began = time.perf_counter()
            chain = fetch_chain(fetcher, access, window, options)
            took = time.perf_counter() - began
            label = f"{access.surface.name} {window.label if window else '(list)'}"
            print(f"  {label:<54} {len(chain.pages):>5} {took:>8.3f}")
            total += took
            if took > longest:
                longest, longest_label = took, label
    return longest, longest_label, total


def report(longest: float, label: str, sequential: float, run: CaptureRun, cpu: float) -> bool:
    ratio = run.fetch_seconds / longest
    whole = run.fetch_seconds + run.write_seconds
    print(f"all chains one after another:        {sequential:8.3f} s")
    print(f"longest single chain alone:          {longest:8.3f} s  ({label})")
    print(f"concurrent capture, HTTP wall time:  {run.fetch_seconds:8.3f} s")
    print(
        f"then anonymise + leak gate + write:  {run.write_seconds:8.3f} s "
        f"({len(run.paths)} files; whole command {whole:.3f} s)"
    )
    print(
        f"CPU of the capture process (all threads, both phases): {cpu:.3f} s: its pages' "
        "decode, anonymise, leak gate and write, under one interpreter lock"
    )
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(
        f"ratio HTTP wall / longest chain:     {ratio:8.2f}x ({verdict} the {TARGET_RATIO}x target)"
    )
    return ratio <= TARGET_RATIO


def main() -> int:
    args = parse_args()
    start = END - timedelta(days=args.days - 1)
    options = CaptureOptions(
        start=start,
        end=END,
        retry=RetryPolicy(timeout=10.0),
        concurrency=args.concurrency,
        today=END,
        source="sandbox:bench",
    )
    keys = sandbox_credentials()
    print(
        f"sandbox (own process): {args.users} users, {args.days} days, "
        f"{args.latency * 1000:.0f} ms per response; capture concurrency {args.concurrency}"
    )
    with sandbox_process(args, keys[:2]) as base_url:
        accesses = sandbox_accesses(base_url, SURFACE_NAMES, keys)
        safety = default_safety(anonymisation_key(sandbox=True), all_secrets(accesses))
        with httpx.Client(trust_env=False) as client:
            warm_up(client, accesses, options)
            longest, label, sequential = time_chains_alone(client, accesses, options)
            with tempfile.TemporaryDirectory() as tmp:
                cpu_before = time.process_time()
                run = run_capture(client, accesses, options, Path(tmp), safety)
                cpu = time.process_time() - cpu_before
    return 0 if report(longest, label, sequential, run, cpu) else 1


if __name__ == "__main__":
    raise SystemExit(main())
