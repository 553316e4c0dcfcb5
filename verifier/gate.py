"""The gate: may the cost merge trust these payloads?

For every surface the merge reads (all four), the given payloads are checked against the
JSON Schema contract and diffed against the surface's lock; captures whose time coverage
leaves dates of the merged range uncovered get a `coverage_gap` warning. A breaking finding, or a
surface without a lock (unless `allow_unlocked`, which makes that a warning and diffs
that surface against its documented schema instead), fails the gate. The report lists the
consumer contract, so a reader sees why a finding is breaking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verifier.consumers import consumed_paths
from verifier.contract import RowChecker, check_source, rows_schema, violations
from verifier.contract import findings_from_violations as located_findings
from verifier.coverage import gap_findings, index_source
from verifier.drift import contradiction_findings, diff_profiles, to_finding
from verifier.findings import Finding, Report, Verdict
from verifier.inputs import (
    STREAM_MIN_BYTES,
    Input,
    NotStreamable,
    Source,
    StreamedSource,
    load_inputs,
)
from verifier.lock import DEFAULT_LOCKS_DIR, load_surface_lock, lock_path
from verifier.profile import Profile, Profiler, expected_profile, profile_source
from verifier.surfaces import SURFACE_NAMES, get_surface


@dataclass(frozen=True, slots=True)
class GateReport(Report):
    """A Report whose verdict also fails on surfaces that have no lock yet."""

    unlocked: tuple[str, ...] = ()
    allow_unlocked: bool = False

    @property
    def verdict(self) -> Verdict:
        if self.unlocked and not self.allow_unlocked:
            return "fail"
        return Report.verdict.fget(self)  # type: ignore[attr-defined,no-any-return]


def check_and_profile(item: Input) -> tuple[list[Finding], Profile]:
    """Contract check and observed profile of one input in a single pass over its rows."""
    if isinstance(item, StreamedSource) and rows_schema(item.surface) is not None:
        checker = RowChecker(item.surface)
        profiler = Profiler(item.surface)

        def on_row(index: int, row: Any) -> None:
            checker.add(index, row)
            profiler.add_row(index, row)

        try:
            envelope = item.stream(on_row)
        except NotStreamable:
            return check_and_profile(item.load_whole())
        checker.flush()
        profiler.add_body(envelope)
        located = checker.located + [("", v) for v in violations(item.surface, envelope)]
        profile = profiler.result()
        found = located_findings(item.surface, item.name, located)
        return found + contradiction_findings(item.name, profile), profile
    source: Source = item.load_whole() if isinstance(item, StreamedSource) else item
    return check_source(source), profile_source(source)


def evaluate(
    sources: Sequence[Input],
    *,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    allow_unlocked: bool = False,
) -> Report:
    """Check + diff-against-lock for every given payload; policy over all four surfaces."""
    locks = {name: load_surface_lock(name, locks_dir) for name in SURFACE_NAMES}
    unlocked = tuple(name for name, lock in locks.items() if lock is None)
    findings: list[Finding] = []
    for item in sources:
        checked, observed = check_and_profile(item)
        findings.extend(checked)
        lock = locks.get(item.surface.name)
        against, label = (
            (lock.profile, "lock") if lock else (expected_profile(item.surface), "documented")
        )
        drifts = diff_profiles(against, observed, item.surface)
        findings.extend(to_finding(item.surface, item.name, d, label) for d in drifts)
    findings.extend(coverage_findings(sources))
    given = {item.surface.name for item in sources}
    extra = {
        "consumer_contract": {name: sorted(consumed_paths(name)) for name in SURFACE_NAMES},
        "unlocked": list(unlocked),
        "allow_unlocked": allow_unlocked,
        "locks": {
            name: (str(lock_path(name, locks_dir)) if lock else None)
            for name, lock in locks.items()
        },
        "uncaptured": [name for name in SURFACE_NAMES if name not in given],
    }
    return GateReport(
        command="gate",
        findings=tuple(findings),
        sources=tuple(item.name for item in sources),
        extra=extra,
        unlocked=unlocked,
        allow_unlocked=allow_unlocked,
    )


def coverage_findings(sources: Sequence[Input]) -> list[Finding]:
    """`coverage_gap` warnings: dates inside the merged range a consumed surface's captures
    do not cover (a look-back cut, a rejected request, a day never captured)."""
    indexes = [
        index_source(item)
        for item in sources
        if isinstance(item, Source) and item.capture is not None
    ]
    return gap_findings([index for index in indexes if index is not None])


def run_gate(
    paths: Sequence[str | Path],
    *,
    surface: str | None = None,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    allow_unlocked: bool = False,
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> Report:
    """`verify gate` as a library call."""
    if surface is not None:
        get_surface(surface)
    inputs = load_inputs(list(paths), surface, stream_min_bytes=stream_min_bytes)
    return evaluate(inputs, locks_dir=locks_dir, allow_unlocked=allow_unlocked)
