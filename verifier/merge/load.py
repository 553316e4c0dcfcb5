"""Loading captures for the merge with money read exactly from the JSON text.

The merge reads capture files with ijson (yajl2_c), which hands over every number that
has a fraction or an exponent as `decimal.Decimal` built from its JSON text, so credits
and dollars are exactly what the file says. orjson runs first as the strictness guard
(UTF-8 without BOM, no NaN/Infinity, no trailing data, depth); when it refuses a file,
`verifier.inputs.parse_json_bytes` is asked for the tool's usual one-line message.
(`verify merge` reads every file with `verifier.inputs` first, for the gate, so the CLI
also applies that reader's integer-range rule.)

Sources built elsewhere (orjson: doubles) still merge exactly in practice: the parsers
turn a double into Decimal through `repr`, the shortest text that reads back as that
double, which is the JSON text for every number of up to 15 significant digits and for
every file a shortest-repr serialiser wrote (all capture files)."""

from __future__ import annotations

import contextlib
import gc
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import ijson
import orjson

from verifier.consumer.mapping import ReadingPlan
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
    Input,
    Source,
    expand_paths,
    load_capture_inputs,
    parse_json_bytes,
    read_bytes,
    read_input,
    source_from_document,
)
from verifier.merge.core import MergeInputs, MergeResult, merge
from verifier.merge.reconcile import (
    Totals,
    day_totals,
    only_days,
    plan_merge,
    restatements,
    without_days,
)
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


def merge_paths(
    paths: Sequence[str | Path],
    *,
    credit_usd_rate: Decimal | None = None,
    provisional: bool = False,
    indexes: Sequence[SourceIndex | None] | None = None,
    plans: Mapping[str, ReadingPlan] | None = None,
) -> MergeResult:
    """Merge capture files, parsing one file at a time so only its aggregates stay in
    memory (a month of per-user data is millions of rows). `indexes` (the coverage of
    each file, in `expand_paths` order) saves a reading pass when the caller has them;
    `plans` (the gate's, from the locks) say where each surface's fields are read."""
    files = expand_paths(paths)
    with _gc_paused():
        if indexes is None:
            # Coverage first (the plan needs every file's), streamed: a page at a time.
            items = load_capture_inputs(files, refusal=NOT_A_CAPTURE)
            indexes = [_coverage_of(item) for item in items]
        return _merge_planned(
            [str(path) for path in files],
            indexes,
            lambda position: load_capture(files[position]),
            credit_usd_rate=credit_usd_rate,
            provisional=provisional,
            plans=plans or {},
        )


def merge_sources(
    sources: Sequence[Source],
    *,
    credit_usd_rate: Decimal | None = None,
    provisional: bool = False,
    plans: Mapping[str, ReadingPlan] | None = None,
) -> MergeResult:
    """Merge loaded Sources (captures), with the same dedupe and restatement rules.
    Without `plans`, each surface is read as its captures' own profile resolves."""
    return _merge_planned(
        [source.name for source in sources],
        [index_source(source) for source in sources],
        sources.__getitem__,
        credit_usd_rate=credit_usd_rate,
        provisional=provisional,
        plans=plans or {},
    )


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
        values: dict[tuple[int, str, str], dict[str, Totals]] = {}
        for position, days in plan.value_days.items():
            exact = load_capture(Path(names[position]))
            values.update(_day_values(position, exact, days))
        return restatements(plan, lambda capture, s, day: values.get((capture, s, day), {}))
    except InputError:
        return []


def _coverage_of(item: Input) -> SourceIndex | None:
    sink, capture = read_input(item, lambda: CoverageSink(item.surface))
    return sink.index(item.name, capture)


def _merge_planned(
    names: Sequence[str],
    indexes: Sequence[SourceIndex | None],
    load: Callable[[int], Source],
    *,
    credit_usd_rate: Decimal | None,
    provisional: bool,
    plans: Mapping[str, ReadingPlan],
) -> MergeResult:
    """Decide which capture each surface-day comes from, parse each capture once with the
    days it lost left out, and read both versions' values where a day was restated."""
    plan = plan_merge(indexes, names)
    inputs = MergeInputs(plans=plans)
    values: dict[tuple[int, str, str], dict[str, Totals]] = {}
    for position in range(len(names)):
        source = load(position)
        inputs.add(without_days(source, plan.dates_dropped(position)))
        days = plan.value_days.get(position)
        if days:
            values.update(_day_values(position, source, days, inputs.plan_for(source)))
        del source
    restated = restatements(plan, lambda capture, s, day: values.get((capture, s, day), {}))
    live = [index for index in indexes if index is not None]
    return merge(
        inputs,
        credit_usd_rate=credit_usd_rate,
        provisional=provisional,
        covered=covered_days(live),
        gaps=coverage_gaps(live),
        findings=[*restated, *gap_findings(live)],
    )


def _day_values(
    position: int, source: Source, days: set[str], plan: ReadingPlan | None = None
) -> dict[tuple[int, str, str], dict[str, Totals]]:
    """What this capture alone says about each of `days`, per person (read as the
    whole capture is; without a plan, as its own profile resolves)."""
    alone = MergeInputs(plans={source.surface.name: plan} if plan else {})
    alone.add(only_days(source, days))
    surface = source.surface.name
    return {
        (position, surface, day): day_totals(
            alone.codex, alone.api_usage, alone.api_costs, surface, day
        )
        for day in days
    }


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing and aggregating create millions of acyclic objects; the cycle collector
    would scan them over and over (about half the cost of a large load) for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
