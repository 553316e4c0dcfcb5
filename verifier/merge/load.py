"""Merging capture files: each read once, streamed, money exact.

`merge_paths` (and `verify merge`, whose gate runs the same pass, `verifier.gate`)
streams every capture page by page, row slices inside a page (`verifier.inputs`), into
the surface parsers (`verifier.merge.stream.MergeSink`) and the coverage index at once;
only the parsers' aggregates stay in memory. Money is exact: a capture whose number
texts are not all the shortest form of their doubles is read again with Decimals of the
text (`verifier.merge.stream.read_exact`, ijson page by page).

Coverage decides which capture each surface-day comes from (`reconcile.plan_merge`,
the dedupe rules) only after every capture was read, so a capture that lost dates to a
newer or wider one is read again with those dates left out (only it, and only then).

Sources built elsewhere (`merge_sources`; orjson: doubles) merge exactly in practice:
the parsers turn a double into Decimal through `repr`, the shortest text that reads back
as that double, which is the JSON text for every number of up to 15 significant digits
and for every file a shortest-repr serialiser wrote."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import ijson
import orjson

from verifier.consumer import contract_for
from verifier.consumer.mapping import ReadingPlan, plan_from_profile
from verifier.coverage import (
    CoverageSink,
    SourceIndex,
    coverage_gaps,
    covered_days,
    gap_findings,
    index_source,
)
from verifier.errors import InputError
from verifier.findings import Finding
from verifier.inputs import (
    Body,
    Input,
    Source,
    expand_paths,
    feed_source,
    load_capture_inputs,
    nesting_guard,
    parse_json_bytes,
    read_bytes,
    read_input,
    source_from_document,
)
from verifier.merge.breakdown import Breakdown
from verifier.merge.core import MergeInputs, MergeResult, MergeStream, gc_paused
from verifier.merge.reconcile import (
    MergePlan,
    Totals,
    ValueLookup,
    day_totals,
    plan_merge,
    restatements,
)
from verifier.merge.stream import (
    Keep,
    MergeSink,
    Parser,
    Read,
    new_parser,
    only_days,
    read_exact,
    without_days,
)
from verifier.parallel import file_sizes, map_in_processes
from verifier.store import is_capture_document

NOT_A_CAPTURE = "is not a capture file; verify merge reads files written by `verify capture`"


def load_capture(path: Path) -> Source:
    """One capture file as a Source whose non-integer numbers are Decimals."""
    name = str(path)
    document = parse_exact(read_bytes(path), name)
    if not is_capture_document(document):
        raise InputError(name, NOT_A_CAPTURE)
    return source_from_document(document, name, None)


def parse_exact(data: bytes, name: str) -> Any:
    """A whole JSON document, numbers with a fraction or exponent as Decimal."""
    try:
        # The guard, in C: orjson refuses invalid UTF-8, NaN, trailing data and nesting
        # deeper than 1024 (on which ijson would spin for minutes) before ijson runs.
        orjson.loads(data)
    except orjson.JSONDecodeError:
        parse_json_bytes(data, name)  # raises the tool's usual message for this file
        raise InputError(name, "invalid JSON") from None
    try:
        return next(ijson.items(io.BytesIO(data), ""))
    except (ijson.JSONError, ValueError, StopIteration) as exc:  # not seen: orjson agreed
        raise InputError(name, f"invalid JSON: {str(exc).splitlines()[0]}") from None


def merge_paths(paths: Sequence[str | Path], **options: Any) -> MergeResult:
    """Merge capture files, streamed: each is read once, a page at a time, and only its
    aggregates stay in memory (a month of per-user data is millions of rows); every row
    of the table held (`merge_paths_table`, same options, makes them as a writer reads
    them)."""
    return merge_paths_table(paths, **options).collect()


def merge_paths_table(
    paths: Sequence[str | Path],
    *,
    credit_usd_rate: Decimal | None = None,
    provisional: bool = False,
    plans: Mapping[str, ReadingPlan] | None = None,
    stream_min_bytes: int | None = None,
    breakdown: Breakdown | None = None,
) -> MergeStream:
    """`merge_paths`, the rows made date by date as a writer reads them (`MergeStream`).
    `plans` (a lock's, as the gate gives them) say where each surface's fields are read;
    a surface without one is read as each capture's own profile resolves, which takes a
    first pass over that capture for the profile. Files under `stream_min_bytes` (default
    1 MiB) are loaded whole, then their numbers read again exactly."""
    files = expand_paths(paths)
    plans = dict(plans or {})
    with gc_paused():
        items = load_capture_inputs(files, refusal=NOT_A_CAPTURE, stream_min_bytes=stream_min_bytes)

        def one_pass(position: int) -> tuple[MergeSink, SourceIndex | None]:
            item = items[position]
            return read_capture(item, plans.get(item.surface.name) or _own_plan(item), breakdown)

        # The passes in parallel processes when worth it (`verifier.parallel`).
        sinks: list[MergeSink | None] = []
        indexes: list[SourceIndex | None] = []
        for sink, index in map_in_processes(one_pass, file_sizes([i.name for i in items])):
            sinks.append(sink)
            indexes.append(index)
        return merge_read(
            items,
            sinks,
            indexes,
            plans,
            credit_usd_rate=credit_usd_rate,
            provisional=provisional,
            breakdown=breakdown,
        )


def merge_sources(
    sources: Sequence[Source],
    *,
    credit_usd_rate: Decimal | None = None,
    provisional: bool = False,
    plans: Mapping[str, ReadingPlan] | None = None,
    breakdown: Breakdown | None = None,
) -> MergeResult:
    """Merge loaded Sources (captures), with the same dedupe and restatement rules.
    Without `plans`, each surface is read as its captures' own profile resolves. Their
    numbers are taken as they are (a double through `repr`, see the module doc)."""
    plans = dict(plans or {})
    sinks: list[MergeSink | None] = []
    for source in sources:
        sink = MergeSink(source, plans.get(source.surface.name) or _own_plan(source), breakdown)
        feed_source(source, sink)
        sink.finish()
        sink.exact = True  # nothing better to read: the Source is all there is
        sinks.append(sink)

    def reread(position: int, plan: ReadingPlan, keep: Keep | None) -> Parser:
        source = sources[position]
        parser = new_parser(source.surface.name, source.name, plan, source.capture, keep, breakdown)
        feed_source(source, parser)
        parser.finish()
        return parser

    return merge_read(
        sources,
        sinks,
        [index_source(source) for source in sources],
        plans,
        credit_usd_rate=credit_usd_rate,
        provisional=provisional,
        reread=reread,
        breakdown=breakdown,
    ).collect()


def read_capture(
    item: Input, plan: ReadingPlan, breakdown: Breakdown | None = None
) -> tuple[MergeSink, SourceIndex | None]:
    """One pass over a capture: the merge's parser and its time coverage."""
    with nesting_guard(item.name):
        sink, capture = read_input(item, lambda: _MergeAndCoverage(item, plan, breakdown))
    sink.merge.finish()
    return sink.merge, sink.coverage.index(item.name, capture)


class _MergeAndCoverage:
    def __init__(self, item: Input, plan: ReadingPlan, breakdown: Breakdown | None) -> None:
        self.merge = MergeSink(item, plan, breakdown)
        self.coverage = CoverageSink(item.surface)

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        self.merge.rows(prefix, first, rows)
        self.coverage.rows(prefix, first, rows)

    def row_text(self, text: str, rows: list[Any]) -> None:
        self.merge.row_text(text, rows)

    def body(self, body: Body) -> None:
        self.merge.body(body)
        self.coverage.body(body)


def _own_plan(item: Input) -> ReadingPlan:
    """The reading plan a capture's own profile resolves (a first pass when streamed)."""
    contract = contract_for(item.surface)
    if contract is None:  # pragma: no cover - every surface has a contract
        raise InputError(item.name, f"surface {item.surface.name} has no merge parser")
    from verifier.profile import profile_input  # the profiler only when unplanned

    return plan_from_profile(contract, profile_input(item)[0])


def restatements_between(items: Sequence[Input]) -> list[Finding]:
    """`value_restated` findings among captures (`verify diff OLD NEW`): where two of them
    hold the same bucket with different values. Coverage is streamed, values re-read
    exactly from the files. Captures the merge could not combine or parse give none
    here: that is the merge's (and the shape diff's) to report."""
    captures = [i for i in items if i.capture is not None and i.surface.windowed]
    if len(captures) < 2:
        return []
    names = [item.name for item in captures]
    try:
        indexes = [_coverage_of(item) for item in captures]
        plan = plan_merge(indexes, names)
        reads = {
            position: read_exact(
                captures[position], _own_plan(captures[position]), only_days(frozenset(days))
            )
            for position, days in plan.value_days.items()
        }
        surfaces = [item.surface.name for item in captures]
        return restatements(plan, _restated_values(plan, surfaces, reads))
    except InputError:
        return []


def _coverage_of(item: Input) -> SourceIndex | None:
    sink, capture = read_input(item, lambda: CoverageSink(item.surface))
    return sink.index(item.name, capture)


Reread = Callable[[int, ReadingPlan, Keep | None], Parser]


def merge_read(
    items: Sequence[Input],
    sinks: Sequence[MergeSink | None],
    indexes: Sequence[SourceIndex | None],
    plans: Mapping[str, ReadingPlan],
    *,
    credit_usd_rate: Decimal | None,
    provisional: bool,
    reread: Reread | None = None,
    breakdown: Breakdown | None = None,
) -> MergeStream:
    """Merge captures whose parsers ran during a reading pass (`sinks`; None: not yet, no
    plan was known then). Decides which capture each surface-day comes from, reads again
    (exactly, page by page) only a capture whose pass could not be used as it is: inexact
    numbers, dates it lost to another capture, or no pass yet; and reads both versions'
    values where a day was restated. The rows are made when the stream is read
    (`MergeStream.batches`, or `.collect()` for them all)."""
    names = [item.name for item in items]
    again = reread or (lambda p, plan, keep: read_exact(items[p], plan, keep, breakdown))
    plan = plan_merge(indexes, names)
    inputs = MergeInputs(plans=plans, breakdown=breakdown)
    reads: dict[int, Read] = {}  # what each capture alone says on its overlapping days
    table: list[tuple[str, Read, ReadingPlan]] = []
    for position, item in enumerate(items):
        sink = sinks[position]
        reading = sink.plan if sink is not None else plans[item.surface.name]
        dropped = plan.dates_dropped(position)
        trusted = sink is not None and sink.exact
        if trusted and sink is not None and sink.error is not None and not dropped:
            raise sink.error  # read exactly: the same error a second reading would give
        usable = sink.parser if trusted and sink is not None and sink.error is None else None
        days = plan.value_days.get(position)
        if days:
            reads[position] = usable or again(position, reading, only_days(frozenset(days)))
        if usable is None or dropped:
            usable = again(position, reading, without_days(dropped) if dropped else None)
        table.append((item.surface.name, usable, reading))
    # Before the parsers' sums are combined (`add_parsed`): the values read them alone.
    restated = restatements(plan, _restated_values(plan, [i.surface.name for i in items], reads))
    for surface, usable, reading in table:
        inputs.add_parsed(surface, usable, reading)
    live = [index for index in indexes if index is not None]
    return MergeStream(
        inputs,
        credit_usd_rate=credit_usd_rate,
        provisional=provisional,
        covered=covered_days(live),
        gaps=coverage_gaps(live),
        findings=[*restated, *gap_findings(live)],
        consume=True,
    )


def _restated_values(
    plan: MergePlan, surfaces: Sequence[str], reads: Mapping[int, Read]
) -> ValueLookup:
    """Per capture, surface and date, what that capture alone says (`reads`: its
    parser), for the versions of a day that differ (`restatements`). Two versions are
    first compared by a digest of their totals, a date at a time; only the versions
    that differ keep their totals per person. A backfill given again, or daily runs over
    the same months, overlap on every date: holding every person's totals of every such
    date took memory in proportion to the rows."""
    alone = {position: _alone(surfaces[position], read) for position, read in reads.items()}

    def totals(position: int, surface: str, day: str) -> dict[str, Totals]:
        view = alone[position]
        return day_totals(view.codex, view.api_usage, view.api_costs, surface, day)

    def digest(position: int, surface: str, day: str) -> bytes:
        text = orjson.dumps(totals(position, surface, day), option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(text, digest_size=16).digest()

    pairs = [((v.older, v.surface, v.day), (v.newer, v.surface, v.day)) for v in plan.versions]
    # Each capture's date digested once, though it may be in several versions.
    digests = {key: digest(*key) for pair in pairs for key in pair}
    wanted = {key for pair in pairs if digests[pair[0]] != digests[pair[1]] for key in pair}
    # A version sharing a capture's date with one that differs is compared on the same
    # totals (a file given twice: a tie, which must agree, and a newer version).
    while grown := {key for pair in pairs if wanted & set(pair) for key in pair} - wanted:
        wanted |= grown
    values = {key: totals(*key) for key in wanted}
    return lambda capture, surface, day: values.get((capture, surface, day), {})


def _alone(surface: str, parser: Read) -> MergeInputs:
    """A capture's parser read alone (not combined with the other captures')."""
    view = MergeInputs()
    view.add_parsed(surface, parser, None)
    return view
