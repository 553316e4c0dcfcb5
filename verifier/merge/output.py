"""Writing a merge result as csv, jsonl or json (FOCUS: `focus.py`). Each writer
returns bytes; the CLI writes them atomically.

Money is a plain decimal string in every format (never a float); a missing figure is
an empty CSV cell / JSON null. `codex_cost_usd` and `total_cost_usd` appear only when a
credit rate was given; a `provisional` column appears only in provisional output.
`codex_native_cost_usd` is the vendor's own `totals.cost_usd` (dollars billed natively,
separate from credits), never part of `api_cost_usd` or `total_cost_usd`.
With `--by model|client` the table is the Codex breakdown (`verifier.merge.breakdown`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import orjson

from verifier.merge import breakdown
from verifier.merge.core import MergedRow, MergeResult
from verifier.merge.values import money_text

OUTPUT_FORMAT = "verify-merge"
# 2: empty cells where a surface does not cover a date, covered_by; 3: codex_native_cost_usd,
# metadata `by` (`--by model|client` breakdown tables)
OUTPUT_FORMAT_VERSION = 3

COLUMNS: tuple[str, ...] = (
    "date",
    "person",
    "email",
    "chatgpt_user_id",
    "openai_user_id",
    "codex_credits",
    "codex_threads",
    "codex_turns",
    "codex_input_tokens",
    "codex_cached_input_tokens",
    "codex_output_tokens",
    "api_input_tokens",
    "api_cached_input_tokens",
    "api_output_tokens",
    "api_requests",
    "api_cost_usd",
    "api_cost_basis",
    "partial",
    "covered_by",
    "codex_native_cost_usd",
)
RATE_COLUMNS: tuple[str, ...] = ("codex_cost_usd", "total_cost_usd")


def columns(result: MergeResult) -> tuple[str, ...]:
    if result.breakdown is not None:
        return breakdown.columns(result.breakdown)
    rate = RATE_COLUMNS if result.credit_usd_rate is not None else ()
    provisional = ("provisional",) if result.provisional else ()
    return COLUMNS + rate + provisional


def row_values(row: MergedRow, result: MergeResult) -> list[Any]:
    """A row's values in `columns(result)` order, money as strings."""
    values: list[Any] = [
        row.date,
        row.person,
        row.email,
        row.chatgpt_user_id,
        row.openai_user_id,
        money_text(row.codex_credits),
        row.codex_threads,
        row.codex_turns,
        row.codex_input_tokens,
        row.codex_cached_input_tokens,
        row.codex_output_tokens,
        row.api_input_tokens,
        row.api_cached_input_tokens,
        row.api_output_tokens,
        row.api_requests,
        money_text(row.api_cost_usd),
        row.api_cost_basis,
        row.partial,
        row.covered_by,
        money_text(row.codex_native_cost_usd),
    ]
    if result.credit_usd_rate is not None:
        values += [money_text(row.codex_cost_usd), money_text(row.total_cost_usd)]
    if result.provisional:
        values.append(True)
    return values


def metadata(result: MergeResult) -> dict[str, Any]:
    """What the table does not say by itself: provenance, rate, join coverage."""
    coverage = result.coverage
    return {
        "format": OUTPUT_FORMAT,
        "format_version": OUTPUT_FORMAT_VERSION,
        "provisional": result.provisional,
        "surfaces": list(result.surfaces),
        "by": result.breakdown or "person",
        "credit_usd_rate": money_text(result.credit_usd_rate),
        "columns": list(columns(result)),
        "rows": len(result.parts) if result.breakdown else len(result.rows),
        # The locks read through and the field mappings (accepted moves, scales) used.
        "readings": {name: dict(reading) for name, reading in result.readings.items()},
        "join_coverage": {
            "credits_share": money_text(coverage.credits.ratio),
            "dollars_share": money_text(coverage.dollars.ratio),
            "credits_total": money_text(coverage.credits.total),
            "credits_joined": money_text(coverage.credits.joined),
            "dollars_total": money_text(coverage.dollars.total),
            "dollars_joined": money_text(coverage.dollars.joined),
            "people": coverage.people,
            "people_joined": coverage.people_joined,
        },
        "coverage": coverage_table(result),
        "restatements": len(result.restatements),
    }


def coverage_table(result: MergeResult) -> list[dict[str, Any]]:
    """Per surface: the first and last UTC date covered, how many dates, and the gaps."""
    table = []
    for surface, dates in sorted(result.covered.items()):
        gaps = [g for g in result.gaps if g.surface == surface]
        table.append(
            {
                "surface": surface,
                "first": min(dates) if dates else None,
                "last": max(dates) if dates else None,
                "days": len(dates),
                "gaps": [
                    {"first": g.first, "last": g.last, "days": g.days, "reasons": list(g.reasons)}
                    for g in gaps
                ],
            }
        )
    return table


def records(result: MergeResult) -> Iterable[dict[str, Any]]:
    names = columns(result)
    if result.breakdown is not None:
        for values in breakdown.iter_values(result.parts, money_text):
            yield dict(zip(names, values, strict=True))
        return
    for row in result.rows:
        yield dict(zip(names, row_values(row, result), strict=True))


def write_csv(result: MergeResult) -> bytes:
    return csv_bytes(columns(result), _csv_rows(result))


def write_csv_to(result: MergeResult, handle: BinaryIO) -> None:
    """`write_csv` straight into a file, a buffer at a time (the table is never one text)."""
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns(result))
    writer.writerows(_csv_rows(result))
    text.flush()
    text.detach()  # the caller's file stays open


def _csv_rows(result: MergeResult) -> Iterator[list[Any]]:
    if result.breakdown is not None:
        cells = breakdown.iter_values(result.parts, money_text)
        return ([csv_cell(v) for v in row] for row in cells)
    rate = result.credit_usd_rate is not None
    provisional = ["true"] if result.provisional else []
    return (_csv_row(row, rate) + provisional for row in result.rows)


def _csv_row(row: MergedRow, rate: bool) -> list[Any]:
    """`row_values` spelled out for CSV (empty for null, true/false): a million rows
    go through here, so no per-cell function calls."""
    cost, credits, native = row.api_cost_usd, row.codex_credits, row.codex_native_cost_usd
    cells: list[Any] = [
        row.date,
        row.person,
        row.email or "",
        row.chatgpt_user_id or "",
        row.openai_user_id or "",
        "" if credits is None else format(credits, "f"),
        _count(row.codex_threads),
        _count(row.codex_turns),
        _count(row.codex_input_tokens),
        _count(row.codex_cached_input_tokens),
        _count(row.codex_output_tokens),
        _count(row.api_input_tokens),
        _count(row.api_cached_input_tokens),
        _count(row.api_output_tokens),
        _count(row.api_requests),
        "" if cost is None else format(cost, "f"),
        row.api_cost_basis or "",
        "true" if row.partial else "false",
        row.covered_by,
        "" if native is None else format(native, "f"),
    ]
    if rate:
        cells += [money_text(row.codex_cost_usd) or "", money_text(row.total_cost_usd) or ""]
    return cells


def _count(value: int | None) -> int | str:
    return "" if value is None else value


def csv_bytes(header: Iterable[str], rows: Iterable[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def csv_cell(value: Any) -> Any:
    """A JSON-ish value as a CSV cell: null is empty, booleans are true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_jsonl(result: MergeResult) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records(result))


def write_json(result: MergeResult) -> bytes:
    document = {"metadata": metadata(result), "rows": list(records(result))}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
