"""Incremental capture: where each surface's next run starts (`verify capture --since-last`).

A surface resumes the day after the newest UTC day its captures in the directory cover
as a whole day (the vendor answered it: an `answered` window, or for a version 1 file
the window of its request); a day covered only in part, cut by a look-back or rejected
is asked for again. Files in the directory that are not capture files are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path

from verifier.coverage import DAY_SECONDS, SourceIndex, day_start, index_source
from verifier.errors import InputError, UsageError
from verifier.inputs import load_json_file, source_from_document
from verifier.store import is_capture_document
from verifier.surfaces import get_surface


def capture_indexes(directory: Path) -> list[SourceIndex]:
    """Coverage of every capture file directly inside `directory` (none if it is absent)."""
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise InputError(str(directory), "--out must be a directory")
    indexes = []
    for path in sorted(directory.glob("*.json")):
        document = load_json_file(path)
        if not is_capture_document(document):
            continue
        index = index_source(source_from_document(document, str(path), None))
        if index is not None:
            indexes.append(index)
    return indexes


def last_whole_days(indexes: Iterable[SourceIndex]) -> dict[str, date]:
    """Per surface, the newest UTC day some capture covers from 00:00 to 24:00."""
    newest: dict[str, date] = {}
    for index in indexes:
        for day, spans in index.days.items():
            start = day_start(day)
            if spans != ((start, start + DAY_SECONDS),):
                continue
            found = date.fromisoformat(day)
            if index.surface not in newest or found > newest[index.surface]:
                newest[index.surface] = found
    return newest


def since_last_starts(
    directory: Path, surfaces: Iterable[str], first_start: date | None
) -> Mapping[str, date]:
    """Per windowed surface, the day its next capture starts; `first_start` (--start) is
    used for a surface with no capture in the directory yet."""
    newest = last_whole_days(capture_indexes(directory))
    starts: dict[str, date] = {}
    for name in surfaces:
        if not get_surface(name).windowed:
            continue
        if name in newest:
            starts[name] = newest[name] + timedelta(days=1)
        elif first_start is not None:
            starts[name] = first_start
        else:
            raise UsageError(
                f"--since-last: {directory} holds no capture of {name} yet; "
                "give --start for the first run"
            )
    return starts
