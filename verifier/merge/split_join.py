"""A merge table's rows made and written by two processes, split by date.

After the per-capture passes (`verifier.parallel`) every aggregate is known, and what is
left is the join and the writing, date by date (`MergeStream`): at a million rows a
surface, about ten seconds of one core. Here one forked worker makes the later dates'
rows and writes their lines (no header) to a file in a private temp directory, with its
share of the tally (the join coverage and the counts), while this process makes the
earlier dates' rows straight into the output; then the worker's bytes are appended (in
chunks, never whole in memory) and the tallies added. The bytes and the `MergeResult`
are those of one process: a date's rows depend only on the aggregates and the
identities, the same in both processes (the worker is a fork of this one once they are
all known; spilled dates are read at their offset, `verifier.merge.spill._read_at`).

The dates are cut where about half the join's work (pairs read, `MergeStream.work`) is
on each side. One process does it all under `verifier.parallel`'s conditions (one usable
core, `VERIFY_JOBS=1`, another thread alive, no fork) and below `min_pairs()` pairs; a
dead worker is one line, exit 3, nothing written, the temp directory removed."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from verifier import parallel
from verifier.errors import DiskError
from verifier.merge.core import MergedRow, MergeStream

# Lines of `batches` into an open file: what both processes run.
Write = Callable[[Iterator[Sequence[MergedRow]], BinaryIO], None]

# Below this many pairs the join stays in this process (the fork and the copy cost more
# than they save). Tests lower it (`set_min_pairs`).
_MIN_PAIRS = [100_000]

_ROWS = "rows"  # the worker's lines, in its private directory
_CHUNK = 1 << 20  # appended a MiB at a time
_WHAT = ("writing the merge table", "writes it")  # for the dead worker's line


def min_pairs() -> int:
    return _MIN_PAIRS[0]


@contextlib.contextmanager
def set_min_pairs(pairs: int) -> Iterator[None]:
    """Split the join from `pairs` pairs while the block runs (tests)."""
    before = _MIN_PAIRS[0]
    _MIN_PAIRS[0] = pairs
    try:
        yield
    finally:
        _MIN_PAIRS[0] = before


def write_rows(table: MergeStream, handle: BinaryIO, write: Write) -> None:
    """Every date's lines into `handle` in date order (`write` makes a run of dates'
    lines), in two processes when worth it (see the module doc); `table.result()` after
    it is the same either way."""
    days, work = table.days(), table.work()
    if len(days) < 2 or not parallel.two_processes(sum(work), min_pairs()):
        write(table.batches(), handle)
        return
    cut = halfway(work)
    early, late = days[:cut], days[cut:]

    def theirs(directory: Path) -> Any:
        with (directory / _ROWS).open("wb") as out:
            write(table.batches_of(late), out)
        return table.tally()

    handle.flush()  # the header: written once, by this process
    with parallel.beside_one_worker(
        theirs, lambda: write(table.batches_of(early), handle), _WHAT
    ) as shared:
        if shared is None:  # no worker could start: all here
            write(table.batches(), handle)
            return
        directory, tally = shared
        _append(directory / _ROWS, handle)
        table.absorb(tally)


def halfway(work: Sequence[int]) -> int:
    """Where to cut the dates (1 .. len - 1): the first index at which the dates before
    hold half the work or more."""
    half, done = sum(work) / 2, 0
    for index, amount in enumerate(work):
        if done >= half and index > 0:
            return index
        done += amount
    return len(work) - 1


def _append(path: Path, handle: BinaryIO) -> None:
    try:
        rows = path.open("rb")
    except OSError as exc:  # the worker's file went (a cleaner) or cannot be read
        raise DiskError(
            f"merge: cannot read back the worker's rows: {exc.strerror or exc}"
        ) from None
    with rows:  # a write error is the output's, as when one process writes it all
        shutil.copyfileobj(rows, handle, _CHUNK)


__all__ = ["halfway", "min_pairs", "set_min_pairs", "write_rows"]
