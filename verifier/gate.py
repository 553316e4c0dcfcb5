"""The gate: may the cost merge trust these payloads?

For every surface the merge reads (all four), the given payloads are checked against the
JSON Schema contract and diffed against the surface's lock; captures whose time coverage
leaves dates of the merged range uncovered get a `coverage_gap` warning. A breaking finding, or a
surface without a lock (unless `allow_unlocked`, which makes that a warning and diffs
that surface against its documented schema instead), fails the gate. The report lists the
consumer contract, so a reader sees why a finding is breaking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from verifier.consumer import consumed_paths
from verifier.consumer.mapping import ReadingPlan, readings_json
from verifier.coverage import CoverageSink, SourceIndex, gap_findings
from verifier.drift import CheckAndProfile, documented_reference, judge_capture, lock_reference
from verifier.findings import Finding, Report, Verdict
from verifier.inputs import (
    STREAM_MIN_BYTES,
    Body,
    BodySink,
    Input,
    RowTextCallback,
    load_inputs,
    nesting_guard,
    read_input,
)
from verifier.lockfile import DEFAULT_LOCKS_DIR, load_surface_lock, lock_path
from verifier.parallel import file_sizes, finish_time, jobs, map_in_processes
from verifier.profile import Profile, SketchKey, sketch_key
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


# Another reader of the gate's pass (the merge's parsers, `verify merge`): given the
# input's position, the input and the lock's reading plan (None: no lock), it returns a
# sink fed in the same pass, or None.
AlsoReading = Callable[[int, Input, ReadingPlan | None], BodySink | None]


def evaluate(
    sources: Sequence[Input],
    *,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    allow_unlocked: bool = False,
) -> GateReport:
    """Check + diff-against-lock for every given payload; policy over all four surfaces."""
    return evaluate_with(sources, None, locks_dir=locks_dir, allow_unlocked=allow_unlocked)[0]


def evaluate_with(
    sources: Sequence[Input],
    also: AlsoReading | None,
    *,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    allow_unlocked: bool = False,
) -> tuple[GateReport, list[BodySink | None]]:
    """`evaluate`, with `also` reading each input in the same pass (see AlsoReading):
    the report, and the sinks `also` made, one per input (None: none), in order."""
    locks = {name: load_surface_lock(name, locks_dir) for name in SURFACE_NAMES}
    unlocked = tuple(name for name, lock in locks.items() if lock is None)
    findings: list[Finding] = []
    plans: dict[str, ReadingPlan] = {}
    coverage: list[SourceIndex | None] = []
    readings: list[BodySink | None] = []
    references = [
        lock_reference(item.surface, lock)
        if (lock := locks.get(item.surface.name))
        else documented_reference(item.surface)
        for item in sources
    ]
    readers = [
        None if also is None else partial(also, position, item, reference.plan)
        for position, (item, reference) in enumerate(zip(sources, references, strict=True))
    ]
    # Each pass is judged here, in position order, as it would be one after the other.
    passes = _passes(sources, readers, [reference.plan is not None for reference in references])
    for item, reference, (checked, observed, index, reading) in zip(
        sources, references, passes, strict=True
    ):
        coverage.append(index)
        readings.append(reading)
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
    ), readings


# Splitting a capture's pass in two (the gate's sinks; `also` alone) reads its rows
# twice: what each half costs of the shared pass, measured at 1,500 people x 180 days
# (gate 0.42-0.50, the merge's parsers 0.70-0.73).
_GATE_SHARE, _ALSO_SHARE = 0.45, 0.72
_Reader = Callable[[], BodySink | None] | None


def _passes(
    sources: Sequence[Input], readers: Sequence[_Reader], splittable: Sequence[bool]
) -> Iterator[GatePass]:
    """Every input's `gate_pass`, in position order; in parallel processes when worth it
    (`verifier.parallel`). With fewer large captures than that keeps the processes busy
    (three captures, two processes: one waits for the other's second), a capture's pass
    may be read twice instead, the gate's sinks and `also` each in a process of their
    own, when the estimated finish is sooner (`_split`)."""
    sizes = file_sizes([item.name for item in sources])
    processes = jobs(sizes)
    can_split = [p for p, reader in enumerate(readers) if reader is not None and splittable[p]]
    split = _split(sizes, processes, can_split) if processes > 1 else frozenset()
    units = [
        (position, part)
        for position in range(len(sources))
        for part in (("gate", "also") if position in split else ("both",))
    ]
    shares = {"both": 1.0, "gate": _GATE_SHARE, "also": _ALSO_SHARE}

    def run(unit: int) -> Any:
        position, part = units[unit]
        item, reader = sources[position], readers[position]
        if part == "also":
            assert reader is not None
            return also_pass(item, reader)
        return gate_pass(item, None if part == "gate" else reader)

    costs = [sizes[position] * shares[part] for position, part in units]
    results = map_in_processes(run, costs, processes)
    gated: GatePass | None = None
    for (_position, part), result in zip(units, results, strict=True):
        if part == "gate":
            gated = result
        elif part == "also":
            assert gated is not None
            yield (*gated[:3], result)
        else:
            yield result


def _split(sizes: Sequence[int], processes: int, candidates: Sequence[int]) -> frozenset[int]:
    """The captures to read in two halves: one at a time, while that makes the estimated
    finish of all the passes sooner (`finish_time`, costs by size)."""
    chosen: set[int] = set()

    def finish(split: set[int]) -> float:
        costs: list[float] = []
        for position, size in enumerate(sizes):
            halves = (_GATE_SHARE, _ALSO_SHARE) if position in split else (1.0,)
            costs.extend(size * share for share in halves)
        return finish_time(costs, processes)

    best = finish(chosen)
    while True:
        trials = [(finish(chosen | {p}), p) for p in candidates if p not in chosen]
        if not trials or min(trials)[0] >= best:
            return frozenset(chosen)
        best, position = min(trials)
        chosen.add(position)


def also_pass(item: Input, reader: Callable[[], BodySink | None]) -> BodySink | None:
    """`also`'s sink fed by a pass of its own over the input (half of a split pass)."""
    made = [reader()]
    if made[0] is None:
        return None

    def new_sink() -> BodySink:
        sink = made.pop() if made else reader()
        assert sink is not None  # the same reader gave one just before
        return sink

    with nesting_guard(item.name):
        return read_input(item, new_sink)[0]


class GateSink(CheckAndProfile):
    """Contract check, observed profile and time coverage of one source in one pass, and
    whatever `also` reads in that pass (its `row_text` too, when it has one)."""

    def __init__(
        self, surface: Surface, name: str, key: SketchKey | None, also: BodySink | None = None
    ) -> None:
        super().__init__(surface, name, key)
        self.coverage = CoverageSink(surface)
        self.also = also
        self._texts: RowTextCallback | None = getattr(also, "row_text", None)

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        super().rows(prefix, first, rows)
        self.coverage.rows(prefix, first, rows)
        if self.also is not None:
            self.also.rows(prefix, first, rows)

    def row_text(self, text: str, rows: list[Any]) -> None:
        if self._texts is not None:
            self._texts(text, rows)

    def body(self, body: Body) -> None:
        super().body(body)
        self.coverage.body(body)
        if self.also is not None:
            self.also.body(body)


# One input's check findings, observed profile, coverage, and what `also` read.
GatePass = tuple[list[Finding], Profile, SourceIndex | None, BodySink | None]


def gate_pass(item: Input, also: Callable[[], BodySink | None] | None = None) -> GatePass:
    """Check findings, observed profile and (for a capture file) coverage of one input, in
    a single pass over its rows (a large file streams page by page); `also` makes another
    sink to feed in that pass (again when a stream gives up and the file is read whole),
    returned last."""
    key = sketch_key([item])

    def new_sink() -> GateSink:
        return GateSink(item.surface, item.name, key, also() if also is not None else None)

    with nesting_guard(item.name):
        sink, capture = read_input(item, new_sink)
        index = None if capture is None else sink.coverage.index(item.name, capture)
        return sink.check.findings(capture), sink.profile.profiler.result(), index, sink.also


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
