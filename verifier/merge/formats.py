"""The merge output formats, by name (`verify merge --format`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, TypeVar

from verifier.errors import UsageError
from verifier.merge.core import HeldTable, MergeResult, Table
from verifier.merge.focus import write_focus, write_focus_table
from verifier.merge.output import (
    write_csv,
    write_csv_table,
    write_json,
    write_json_table,
    write_jsonl,
    write_jsonl_table,
)

Writer = Callable[[MergeResult], bytes]
W = TypeVar("W")

WRITERS: dict[str, Writer] = {
    "csv": write_csv,
    "jsonl": write_jsonl,
    "json": write_json,
    "focus": write_focus,
}

# The same formats written into an open file batch by batch as a table's rows are made.
TABLE_WRITERS: dict[str, Callable[[Table, BinaryIO], None]] = {
    "csv": write_csv_table,
    "jsonl": write_jsonl_table,
    "json": write_json_table,
    "focus": write_focus_table,
}


def write(result: MergeResult, fmt: str) -> bytes:
    return _writer(WRITERS, fmt)(result)


def write_to(result: MergeResult, fmt: str, handle: BinaryIO) -> None:
    """`write` into an open file, a batch at a time."""
    write_table(HeldTable(result), fmt, handle)


def write_table(table: Table, fmt: str, handle: BinaryIO) -> None:
    """A table (`verifier.merge.core.MergeStream`: rows made as they are written) into an
    open file; nothing but that file holds the table."""
    _writer(TABLE_WRITERS, fmt)(table, handle)


def _writer(writers: dict[str, W], fmt: str) -> W:
    try:
        return writers[fmt]
    except KeyError:
        known = ", ".join(writers)
        raise UsageError(f"unknown merge output format {fmt!r}; known: {known}") from None
