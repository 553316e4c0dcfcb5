"""The merge output formats, by name (`verify merge --format`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from verifier.errors import UsageError
from verifier.merge.core import MergeResult
from verifier.merge.focus import write_focus
from verifier.merge.output import write_csv, write_csv_to, write_json, write_jsonl

Writer = Callable[[MergeResult], bytes]

WRITERS: dict[str, Writer] = {
    "csv": write_csv,
    "jsonl": write_jsonl,
    "json": write_json,
    "focus": write_focus,
}


def write(result: MergeResult, fmt: str) -> bytes:
    try:
        writer = WRITERS[fmt]
    except KeyError:
        known = ", ".join(WRITERS)
        raise UsageError(f"unknown merge output format {fmt!r}; known: {known}") from None
    return writer(result)


def write_to(result: MergeResult, fmt: str, handle: BinaryIO) -> None:
    """`write` into an open file; CSV goes a buffer at a time, never held whole."""
    if fmt == "csv":
        write_csv_to(result, handle)
    else:
        handle.write(write(result, fmt))
