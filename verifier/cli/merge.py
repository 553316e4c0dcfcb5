"""`verify merge`: gated cost merge of captures into one table per person per day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from verifier.anonymise import require_same_fingerprint
from verifier.cli.app import emit, main
from verifier.errors import RefusedError, UsageError
from verifier.findings import Report
from verifier.gate_text import refusal_summary
from verifier.inputs import load_capture_inputs
from verifier.lock import DEFAULT_LOCKS_DIR
from verifier.merge.breakdown import BREAKDOWNS, Breakdown
from verifier.merge.core import MergeResult
from verifier.merge.formats import WRITERS, write_table
from verifier.merge.gated import gated_merge_stream
from verifier.merge.load import NOT_A_CAPTURE
from verifier.merge.output import coverage_table
from verifier.merge.values import parse_rate
from verifier.store import atomic_write

_MAX_NAMED = 12  # restatements listed in the summary


@main.command("merge")
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (atomically; nothing is written when the merge is refused).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(WRITERS)),
    default="csv",
    show_default=True,
    help="Output format; focus = FinOps FOCUS 1.2 columns.",
)
@click.option(
    "--credit-usd-rate",
    "rate",
    metavar="RATE",
    help="Dollars per Codex credit (your contract's rate). Without it credits are never "
    "turned into dollars; with it codex_cost_usd and total_cost_usd columns appear. It "
    "prices credits only: codex_native_cost_usd (the vendor's own dollars) is never "
    "converted or added to them.",
)
@click.option(
    "--by",
    "by",
    type=click.Choice(["person", *BREAKDOWNS]),
    default="person",
    show_default=True,
    help="person: the table per person per day. model / client: Codex credits per "
    "(day, person, model+speed) / (day, person, client) as the vendor's models[] / "
    "clients[] give them, plus a `difference to totals` row where the parts do not add "
    "up to the row's credits (csv, jsonl, json).",
)
@click.option(
    "--allow-unlocked",
    is_flag=True,
    help="Merge surfaces that have no lock yet; the output is marked provisional.",
)
@click.option(
    "--locks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_LOCKS_DIR,
    show_default=True,
    help="Directory of lock files the gate compares captures with.",
)
@click.option(
    "--on-restatement",
    type=click.Choice(["newest", "fail"]),
    default="newest",
    show_default=True,
    help="When captures hold different values for the same bucket (the vendor revised a "
    "past day): use the newest capture and report `value_restated`, or refuse (exit 1, "
    "nothing written).",
)
def merge_command(
    captures: tuple[str, ...],
    out: Path,
    fmt: str,
    rate: str | None,
    by: str,
    allow_unlocked: bool,
    locks_dir: Path,
    on_restatement: str,
) -> int:
    """Merge Codex credits, API tokens and API dollars per person per UTC day.

    CAPTURE is a capture file written by `verify capture` (or a directory of them):
    ChatGPT usage, OpenAI usage, OpenAI costs and the OpenAI users list that joins them
    by email. The drift gate runs first: breaking drift on a path the merge reads, or a
    surface without a lock, refuses the merge (exit 1) and nothing is written.

    Captures may overlap (daily runs, backfills, a file given twice): each bucket counts
    once, edge buckets of successive runs are combined, and where the vendor revised a
    day the newest capture wins (`value_restated`). A surface's cells are empty on dates
    its captures do not cover.

    Large captures are read by several processes at once, one per usable core
    (VERIFY_JOBS=N sets how many; VERIFY_JOBS=1 reads them in this process).

    \b
    Examples:
      verify merge captures/2026-05 --out spend.csv
      verify merge captures/ --out spend.csv --on-restatement fail
      verify merge captures/2026-05 --out spend.json --format json --credit-usd-rate 0.04
      verify merge captures/2026-05 --out models.csv --by model
    """
    credit_usd_rate = parse_rate(rate) if rate is not None else None
    breakdown = _breakdown(by, fmt)
    # Large captures stream: the gate holds one page at a time, never every file at once.
    sources = load_capture_inputs(captures, refusal=NOT_A_CAPTURE)
    require_same_fingerprint(
        [s.capture for s in sources if s.capture is not None], [s.name for s in sources]
    )
    # One pass per capture: the merge's sums come from the gate's reading, used only when
    # the gate passes (nothing is written otherwise).
    report, stream = gated_merge_stream(
        sources,
        locks_dir=locks_dir,
        allow_unlocked=allow_unlocked,
        credit_usd_rate=credit_usd_rate,
        breakdown=breakdown,
    )
    if stream is None:
        emit(report, "text")
        raise RefusedError(f"merge refused, nothing written: {refusal_summary(report)}")
    files = [source.name for source in sources]
    restated = stream.head.restatements
    if on_restatement == "fail" and restated:
        emit(Report(command="merge", findings=restated, sources=tuple(files)), "text")
        raise RefusedError(
            f"merge refused, nothing written: {len(restated)} value(s) restated "
            "between captures (--on-restatement fail); the findings above name each day, "
            "person and both totals"
        )
    # The rows are made date by date straight into the temp file (the table is never
    # held whole); it is renamed only when the last date was written.
    atomic_write(out, lambda handle: write_table(stream, fmt, handle))
    click.echo(summary(stream.result(), out, fmt))
    return 0


def _breakdown(by: str, fmt: str) -> Breakdown | None:
    """The breakdown asked for, refused up front where the format has no such table."""
    for choice in BREAKDOWNS:
        if by == choice:
            if fmt == "focus":
                raise UsageError(
                    f"--by {by} has no FOCUS form (FOCUS rows are charges per person and "
                    "day); use --format csv, jsonl or json"
                )
            return choice
    return None


def summary(result: MergeResult, out: Path, fmt: str) -> str:
    """What was written and how well the identities joined, in a few lines."""
    coverage, counts = result.coverage, result.counts
    lines = [
        f"merged {counts.rows} row(s) over {counts.dates} UTC day(s) from "
        f"{', '.join(result.surfaces)} into {out} ({fmt})",
        "join coverage: credits "
        + _share(coverage.credits.ratio, coverage.credits.joined, coverage.credits.total)
        + ", dollars "
        + _share(coverage.dollars.ratio, coverage.dollars.joined, coverage.dollars.total)
        + f"; {coverage.people_joined} of {coverage.people} people known on both surfaces",
    ]
    if result.breakdown:
        lines.append(
            f"by {result.breakdown}: {len(result.parts)} row(s) of Codex credits written "
            "(a `difference to totals` row where the vendor's parts do not add up)"
        )
    if counts.partial:
        lines.append(
            f"{counts.partial} row(s) flagged partial (a bucket that is not a whole UTC day)"
        )
    lines.extend(coverage_lines(result))
    for finding in result.restatements[:_MAX_NAMED]:
        lines.append(f"value_restated: {finding.surface} {finding.message}")
    if len(result.restatements) > _MAX_NAMED:
        lines.append(f"... and {len(result.restatements) - _MAX_NAMED} more restatement(s)")
    if result.provisional:
        lines.append("PROVISIONAL: unlocked surfaces were allowed (--allow-unlocked)")
    if fmt == "focus" and result.credit_usd_rate is None:
        lines.append(
            "focus: Codex rows carry credits only (no dollar costs); give --credit-usd-rate"
        )
    return "\n".join(lines)


def coverage_lines(result: MergeResult) -> list[str]:
    """The coverage table: per surface, the dates covered and the gaps in the range."""
    table = coverage_table(result)
    if not table:
        return []
    width = max(len(entry["surface"]) for entry in table)
    lines = ["coverage:"]
    for entry in table:
        span = f"{entry['first']}..{entry['last']}" if entry["days"] else "no dates"
        gaps = entry["gaps"]
        gap_text = "; gaps " + ", ".join(_gap_text(gap) for gap in gaps) if gaps else "; no gaps"
        lines.append(f"  {entry['surface']:<{width}}  {span} ({entry['days']} day(s)){gap_text}")
    return lines


def _gap_text(gap: dict[str, Any]) -> str:
    span = gap["first"] if gap["first"] == gap["last"] else f"{gap['first']}..{gap['last']}"
    return f"{span} ({'; '.join(gap['reasons'])}; cells left empty)"


def _share(ratio: object, joined: object, total: object) -> str:
    if ratio is None:
        return "n/a (none)"
    return f"{ratio} ({joined} of {total})"
