"""The gate: may the cost merge trust these payloads?

For every surface the merge reads (all four), the given payloads are checked against the
JSON Schema contract and diffed against the surface's lock; captures whose time coverage
leaves dates of the merged range uncovered get a `coverage_gap` warning. A breaking finding, or a
surface without a lock (unless `allow_unlocked`, which makes that a warning and diffs
that surface against its documented schema instead), fails the gate. The report lists the
consumer contract, so a reader sees why a finding is breaking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.consumer import consumed_paths
from verifier.consumer.mapping import ReadingPlan, readings_json
from verifier.coverage import CoverageSink, SourceIndex, gap_findings
from verifier.drift import CheckAndProfile, documented_reference, judge_capture, lock_reference
from verifier.findings import Finding, Report, Verdict
from verifier.inputs import STREAM_MIN_BYTES, Body, Input, load_inputs, nesting_guard, read_input
from verifier.lockfile import DEFAULT_LOCKS_DIR, load_surface_lock, lock_path
from verifier.profile import Profile
from verifier.surfaces import SURFACE_NAMES, Surface, get_surface


@dataclass(frozen=True, slots=True)
class GateReport(Report):
    """A Report whose verdict also fails on surfaces that have no lock yet."""

    unlocked: tuple[str, ...] = ()
    allow_unlocked: bool = False
    # Where the merge reads each surface's fields (the locks' mappings): not JSON.
    plans: Mapping[str, ReadingPlan] = field(default_factory=dict)
    # The time coverage of each source (None: a raw body, or the users list), in order:
    # the merge plans with it instead of reading every capture again.
    coverage: tuple[SourceIndex | None, ...] = ()

    @property
    def verdict(self) -> Verdict:
        if self.unlocked and not self.allow_unlocked:
            return "fail"
        return Report.verdict.fget(self)  # type: ignore[attr-defined,no-any-return]


def evaluate(
    sources: Sequence[Input],
    *,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    allow_unlocked: bool = False,
) -> GateReport:
    """Check + diff-against-lock for every given payload; policy over all four surfaces."""
    locks = {name: load_surface_lock(name, locks_dir) for name in SURFACE_NAMES}
    unlocked = tuple(name for name, lock in locks.items() if lock is None)
    findings: list[Finding] = []
    plans: dict[str, ReadingPlan] = {}
    coverage: list[SourceIndex | None] = []
    for item in sources:
        checked, observed, index = gate_pass(item)
        coverage.append(index)
        lock = locks.get(item.surface.name)
        reference = (
            lock_reference(item.surface, lock) if lock else documented_reference(item.surface)
        )
        judged, plan = judge_capture(item.surface, item.name, observed, reference, checked)
        findings.extend(judged)
        if plan is not None:
            plans.setdefault(item.surface.name, plan)
    # `coverage_gap` warnings: dates inside the merged range a consumed surface's captures
    # do not cover (a look-back cut, a rejected request, a day never captured).
    findings.extend(gap_findings([index for index in coverage if index is not None]))
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
        "readings": readings_json(plans),
    }
    return GateReport(
        command="gate",
        findings=tuple(findings),
        sources=tuple(item.name for item in sources),
        extra=extra,
        unlocked=unlocked,
        allow_unlocked=allow_unlocked,
        plans=plans,
        coverage=tuple(coverage),
    )


class GateSink(CheckAndProfile):
    """Contract check, observed profile and time coverage of one source in one pass."""

    def __init__(self, surface: Surface, name: str) -> None:
        super().__init__(surface, name)
        self.coverage = CoverageSink(surface)

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        super().rows(prefix, first, rows)
        self.coverage.rows(prefix, first, rows)

    def body(self, body: Body) -> None:
        super().body(body)
        self.coverage.body(body)


def gate_pass(item: Input) -> tuple[list[Finding], Profile, SourceIndex | None]:
    """Check findings, observed profile and (for a capture file) coverage of one input, in
    a single pass over its rows (a large file streams page by page)."""
    with nesting_guard(item.name):
        sink, capture = read_input(item, lambda: GateSink(item.surface, item.name))
        index = None if capture is None else sink.coverage.index(item.name, capture)
        return sink.check.findings(capture), sink.profile.profiler.result(), index


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
