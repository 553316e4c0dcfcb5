"""Writing a merge result as csv, jsonl or json (FOCUS: `focus.py`). Each writer
returns bytes, or writes a `Table` into an open file batch by batch as its rows are made
(`verify merge` does, into a temp file renamed when all went well).

Money is a plain decimal string in every format (never a float); a missing figure is
an empty CSV cell / JSON null. `codex_cost_usd` and `total_cost_usd` appear only when a
credit rate was given; a `provisional` column appears only in provisional output.
`codex_native_cost_usd` is the vendor's own `totals.cost_usd` (dollars billed natively,
separate from credits), never part of `api_cost_usd` or `total_cost_usd`.
With `--by model|client` the table is the Codex breakdown (`verifier.merge.breakdown`)."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, BinaryIO

import orjson

from verifier.merge import breakdown, split_join
from verifier.merge.core import (
    ROW_SLICE,
    HeldTable,
    MergedRow,
    MergeResult,
    MergeStream,
    Table,
)
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
        "rows": len(result.parts) if result.breakdown else result.counts.rows,
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
    return table_records(HeldTable(result))


def table_records(table: Table) -> Iterator[dict[str, Any]]:
    """The table's rows as dicts (column -> value), batch by batch; with a breakdown,
    its parts (the rows are still made: the coverage counts them)."""
    head = table.head
    names = columns(head)
    if head.breakdown is not None:
        for _ in table.batches():
            pass
        for values in breakdown.iter_values(head.parts, money_text):
            yield dict(zip(names, values, strict=True))
        return
    for batch in table.batches():
        for row in batch:
            yield dict(zip(names, row_values(row, head), strict=True))


def write_csv(result: MergeResult) -> bytes:
    return _bytes_of(write_csv_table, result)


def write_csv_to(result: MergeResult, handle: BinaryIO) -> None:
    """`write_csv` straight into a file, a batch at a time (the table is never one text)."""
    write_csv_table(HeldTable(result), handle)


def write_csv_table(table: Table, handle: BinaryIO) -> None:
    """The CSV of a table into an open file as its batches are made."""
    head = table.head
    out = CsvOut(handle, columns(head))
    if head.breakdown is not None:
        for _ in table.batches():
            pass
        out.rows([cell_texts(v) for v in breakdown.iter_values(head.parts, money_text)])
        return
    rate = head.credit_usd_rate is not None

    def lines(batches: Iterator[Sequence[MergedRow]], into: BinaryIO) -> None:
        writer = CsvOut(into, columns(head), head=False)
        for batch in batches:
            # Cells made a slice of rows at a time (a held table is one batch of every
            # row; a text per cell of a whole date was most of the join's memory).
            for start in range(0, len(batch), _CELL_SLICE):
                part = batch[start : start + _CELL_SLICE]
                texts = _csv_columns(part, rate)
                if head.provisional:
                    texts.append(("true",) * len(part))
                writer.columns(texts)

    if isinstance(table, MergeStream):  # the join in two processes when worth it
        split_join.write_rows(table, handle, lines)
    else:
        lines(iter(table.batches()), handle)


# Rows whose CSV cells are made at once (`write_csv_table`): a streamed table's batch.
_CELL_SLICE = ROW_SLICE


def _csv_columns(rows: Sequence[MergedRow], rate: bool) -> list[Sequence[str]]:
    """`row_values` spelled out for CSV (empty for null, true/false), as texts, a column
    at a time: a million rows go through here, and one comprehension per column is
    about half the cost of a function call and a tuple per row."""
    column = dict(zip(MergedRow._fields, zip(*rows, strict=True), strict=True))
    names = COLUMNS + RATE_COLUMNS if rate else COLUMNS
    return [_CSV_CELLS.get(name, _counts)(column[name]) for name in names]


def _texts(values: Sequence[str]) -> Sequence[str]:
    return values


def _names(values: Sequence[str | None]) -> list[str]:
    return [value or "" for value in values]


def _counts(values: Sequence[int | None]) -> list[str]:
    return ["" if value is None else str(value) for value in values]


def _flags(values: Sequence[bool]) -> list[str]:
    return ["true" if value else "false" for value in values]


def _money(values: Sequence[Decimal | None]) -> list[str]:
    """`money_text` of each amount (empty for None). `str` of a Decimal is that text
    whenever it has no exponent (plain notation keeps the digits and the exponent, as
    the "f" format does) at half the cost; a column where one has is formatted again."""
    texts = ["" if value is None else str(value) for value in values]
    if "E" in "".join(texts):
        return ["" if value is None else format(value, "f") for value in values]
    return texts


# How a column's values are written as CSV cells (`_counts` for the others).
_CSV_CELLS: dict[str, Callable[[Any], Sequence[str]]] = {
    "date": _texts,
    "person": _texts,
    "covered_by": _texts,
    "email": _names,
    "chatgpt_user_id": _names,
    "openai_user_id": _names,
    "api_cost_basis": _names,
    "partial": _flags,
    **dict.fromkeys(
        (
            "codex_credits",
            "api_cost_usd",
            "codex_native_cost_usd",
            "codex_cost_usd",
            "total_cost_usd",
        ),
        _money,
    ),
}


class CsvOut:
    """CSV rows of texts into a binary file, byte for byte what `csv.writer` (excel
    dialect, `\n` line ends) writes, faster: a slice of rows whose cells hold no comma,
    quote or line break is what csv.writer writes too, the cells joined by commas, so it
    is written so; any other slice goes through csv.writer itself (and so stays right
    whatever quoting rules a Python version has)."""

    SLICE = 2048  # rows joined into one text at a time

    def __init__(self, handle: BinaryIO, header: Sequence[str], *, head: bool = True) -> None:
        """`head`: the header line written first (not by a process writing later rows)."""
        self._handle = handle
        self._commas = len(header) - 1
        if head:
            self.rows([tuple(header)])

    def rows(self, rows: Sequence[Sequence[str]]) -> None:
        for start in range(0, len(rows), self.SLICE):
            self._write(rows[start : start + self.SLICE])

    def columns(self, columns: Sequence[Sequence[str]]) -> None:
        """`rows` of a table given by column (each the same length), a slice of rows
        made at a time."""
        for start in range(0, len(columns[0]) if columns else 0, self.SLICE):
            self._write(list(zip(*(c[start : start + self.SLICE] for c in columns), strict=True)))

    def _write(self, part: Sequence[Sequence[str]]) -> None:
        text = "\n".join(map(",".join, part)) + "\n"
        plain = (
            '"' not in text
            and "\r" not in text
            and text.count("\n") == len(part)
            and text.count(",") == self._commas * len(part)
            and self._commas > 0  # one empty cell alone is written `""`
        )
        self._handle.write(text.encode("utf-8") if plain else _csv_text(part))


def _csv_text(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


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


def cell_texts(values: Iterable[Any]) -> tuple[str, ...]:
    """JSON-ish values as CSV cell texts (`csv_cell`, then the text csv.writer makes)."""
    return tuple(_text(csv_cell(value)) for value in values)


def _text(cell: Any) -> str:
    return cell if isinstance(cell, str) else str(cell)


def write_jsonl(result: MergeResult) -> bytes:
    return _bytes_of(write_jsonl_table, result)


def write_jsonl_table(table: Table, handle: BinaryIO) -> None:
    dumps = orjson.dumps
    for record in table_records(table):
        handle.write(dumps(record) + b"\n")


def write_json(result: MergeResult) -> bytes:
    return _bytes_of(write_json_table, result)


_INDENT = orjson.OPT_INDENT_2
_SPOOL_BYTES = 16 << 20  # rows held in memory up to this size, then in a temp file


def write_json_table(table: Table, handle: BinaryIO) -> None:
    """`{"metadata": ..., "rows": [...]}` as orjson writes it indented (2 spaces), the
    rows spooled first: the metadata before them counts them and has their coverage."""
    dumps = orjson.dumps
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        count = 0
        for record in table_records(table):
            spool.write(b",\n    " if count else b"\n    ")
            # A JSON text never holds a raw line break: each one is an indent's place.
            spool.write(dumps(record, option=_INDENT).replace(b"\n", b"\n    "))
            count += 1
        document = dumps({"metadata": metadata(table.result())}, option=_INDENT)
        handle.write(document[: -len(b"\n}")] + b',\n  "rows": [')
        if count:
            spool.seek(0)
            shutil.copyfileobj(spool, handle)
            handle.write(b"\n  ")
        handle.write(b"]\n}\n")


def _bytes_of(writer: Callable[[Table, BinaryIO], None], result: MergeResult) -> bytes:
    buffer = io.BytesIO()
    writer(HeldTable(result), buffer)
    return buffer.getvalue()
