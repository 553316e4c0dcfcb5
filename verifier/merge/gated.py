"""The gate and the merge in one pass per capture (`verify merge`).

The gate streams every capture once (`verifier.gate.evaluate`); the merge's parsers
(`verifier.merge.stream.MergeSink`) ride along in that pass, reading through the lock's
reading plan, and their sums are used only when the gate passes. A surface without a
lock (`--allow-unlocked`) has no plan before the gate's profile is known: its captures
are read once more after the gate, with the plan the gate resolved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from verifier.consumer.mapping import ReadingPlan
from verifier.gate import GateReport, evaluate_with
from verifier.inputs import Input
from verifier.merge.breakdown import Breakdown
from verifier.merge.core import MergeResult, MergeStream
from verifier.merge.load import merge_read, read_capture
from verifier.merge.stream import MergeSink


def gated_merge(sources: Sequence[Input], **options: Any) -> tuple[GateReport, MergeResult | None]:
    """`gated_merge_stream` (same options) with every row made and held."""
    report, stream = gated_merge_stream(sources, **options)
    return report, None if stream is None else stream.collect()


def gated_merge_stream(
    sources: Sequence[Input],
    *,
    locks_dir: Path,
    allow_unlocked: bool = False,
    credit_usd_rate: Decimal | None = None,
    breakdown: Breakdown | None = None,
) -> tuple[GateReport, MergeStream | None]:
    """The gate's report, and the merge when the gate passed (None when it failed), its
    rows made as a writer reads them (`MergeStream`); `breakdown`: the Codex credits per
    model or client too (`verify merge --by`)."""

    def merging(position: int, item: Input, plan: ReadingPlan | None) -> MergeSink | None:
        if plan is None:
            return None  # no lock: the plan comes from the gate's profile, read after it
        return MergeSink(item, plan, breakdown)

    report, readings = evaluate_with(
        sources, merging, locks_dir=locks_dir, allow_unlocked=allow_unlocked
    )
    if report.verdict == "fail":
        return report, None
    # Provisional only when an unlocked surface was actually let through.
    provisional = allow_unlocked and bool(report.extra.get("unlocked"))
    sinks = [
        _finished(cast(MergeSink | None, sink), item, report.plans, breakdown)
        for sink, item in zip(readings, sources, strict=True)
    ]
    stream = merge_read(
        sources,
        sinks,
        report.coverage,
        report.plans,
        credit_usd_rate=credit_usd_rate,
        provisional=provisional,
        breakdown=breakdown,
    )
    return report, stream


def _finished(
    sink: MergeSink | None,
    item: Input,
    plans: Mapping[str, ReadingPlan],
    breakdown: Breakdown | None,
) -> MergeSink:
    """The merge's reading of one capture: from the gate's pass, or (an unlocked surface,
    whose plan the gate resolved from the profile) a pass of its own now."""
    if sink is None:
        return read_capture(item, plans[item.surface.name], breakdown)[0]
    sink.finish()
    return sink
