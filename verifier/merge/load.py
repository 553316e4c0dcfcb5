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
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import ijson
import orjson

from verifier.errors import InputError
from verifier.inputs import (
    Source,
    expand_paths,
    parse_json_bytes,
    read_bytes,
    source_from_document,
)
from verifier.merge.core import MergeInputs, MergeResult, merge
from verifier.store import is_capture_document


def load_capture(path: Path) -> Source:
    """One capture file as a Source whose non-integer numbers are Decimals."""
    name = str(path)
    document = parse_exact(read_bytes(path), name)
    if not is_capture_document(document):
        raise InputError(
            name, "is not a capture file; verify merge reads files written by `verify capture`"
        )
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
) -> MergeResult:
    """Merge capture files, parsing one file at a time so only its aggregates stay in
    memory (a month of per-user data is millions of rows)."""
    with _gc_paused():
        inputs = MergeInputs()
        for path in expand_paths(paths):
            inputs.add(load_capture(path))
        return merge(inputs, credit_usd_rate=credit_usd_rate, provisional=provisional)


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
