"""The merge's per-(date, user) aggregates moved to disk beyond a budget of pairs.

The join needs every surface's figures for a date together, and the captures are read
one after the other (all ChatGPT, then all usage, then all costs), so the aggregates of
every pair wait for the join: at a million rows per surface that was the merge's memory
(about 375 bytes a pair over the three surfaces). An aggregate (`chatgpt.CodexDays`,
`usage.UsageDays`, `costs.ApiCosts`) that holds more than `budget()` pairs writes all
its dates to a `Spill` and starts again empty; a date it is asked about again (a later
row of it, a later capture naming it) is read back whole first, so every rule that
compares a row with the date's others (a second Codex row for one user and date, the
partial edges) sees the whole date, exactly as in memory. The join reads a spilled date
straight from the file, one date at a time.

Records are marshalled tuples of str, int, None and bool; money is the Decimal's own
text (`str(Decimal)`: `Decimal(text)` gives back the same coefficient and exponent),
never a float. The file has no name (`tempfile.TemporaryFile`: unlinked at once), so
success, failure, an interruption or a crash leave nothing behind.

In a worker process of a parallel pass (`verifier.parallel`) the file is named, inside
the private temp directory the parent made: a Spill pickles as that name, and the
parent adopts the file (opens it, unlinks it at once: unnamed from then on, as above),
so an aggregate crosses the process boundary as its chunks on disk, not as millions of
pickled Decimals."""

from __future__ import annotations

import contextlib
import marshal
import os
import tempfile
from typing import IO, Any

from verifier.errors import DiskError
from verifier.parallel import worker_directory

# Pairs an aggregate holds in memory before it spills (about 8 MB of Codex pairs).
# Measured: 64 MB peak at 200k rows per surface, 105 MB at 1M (docs/merge.md "Scale").
# Tests lower it (`set_budget`) so that small captures take the spilled path.
_BUDGET = [50_000]

Token = tuple[int, int]  # where a chunk is in the file: offset, length


def budget() -> int:
    return _BUDGET[0]


@contextlib.contextmanager
def set_budget(pairs: int) -> Any:
    """Spill beyond `pairs` pairs while the block runs (tests, benchmarks)."""
    before = _BUDGET[0]
    _BUDGET[0] = pairs
    try:
        yield
    finally:
        _BUDGET[0] = before


class Spill:
    """Chunks appended to an unnamed temp file, each read back by its token."""

    __slots__ = ("_end", "_file", "_path")

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0
        self._path: str | None = None  # named only in a worker process (see above)

    def put(self, value: Any) -> Token:
        """Write one chunk (a marshal-able value); its token."""
        data = marshal.dumps(value)
        try:
            if self._file is None:
                self._file, self._path = _new_file()
            self._file.seek(self._end)
            self._file.write(data)
            self._file.flush()  # on disk for `_read_at`, which reads past any buffer
        except OSError as exc:  # a full or read-only temp directory
            raise DiskError(
                f"merge: cannot spill aggregates to a temp file: {exc.strerror or exc}"
            ) from None
        token = (self._end, len(data))
        self._end += len(data)
        return token

    def get(self, token: Token) -> Any:
        """The chunk written under `token`."""
        assert self._file is not None
        offset, length = token
        try:  # at the offset, the file's own position untouched: see `_read_at`
            data = _read_at(self._file, length, offset)
        except OSError as exc:
            raise DiskError(
                f"merge: cannot read back spilled aggregates: {exc.strerror or exc}"
            ) from None
        if len(data) != length:  # the file was cut short under us (another process, a full disk)
            raise DiskError(
                f"merge: spilled aggregates cut short: {len(data)} of {length} bytes read back"
            )
        try:
            return marshal.loads(data)
        except (EOFError, ValueError, TypeError):  # bytes changed on disk under us
            raise DiskError("merge: spilled aggregates are damaged on disk") from None

    def __reduce__(self) -> tuple[Any, ...]:
        """To the parent process: the file's name (see the module doc)."""
        if self._file is None:
            return Spill, ()
        if self._path is None:  # pragma: no cover - only a worker's Spill travels
            raise TypeError("an unnamed spill file cannot leave its process")
        try:
            self._file.flush()
        except OSError as exc:
            raise DiskError(
                f"merge: cannot spill aggregates to a temp file: {exc.strerror or exc}"
            ) from None
        return _adopt, (self._path, self._end)

    def __del__(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()


def _read_at(file: IO[bytes], length: int, offset: int) -> bytes:
    """`length` bytes at `offset`, the file's position untouched (`pread`): a forked
    process (`verifier.merge.split_join`) shares that position with this one, and the
    reads of both at once must not move it under each other."""
    return os.pread(file.fileno(), length, offset)


def _new_file() -> tuple[IO[bytes], str | None]:
    """A file for a Spill: unnamed, or in a worker named in its private directory."""
    directory = worker_directory()
    if directory is None:
        # Closed with its Spill (and by the OS at exit): no name, nothing left.
        return tempfile.TemporaryFile(), None
    handle, path = tempfile.mkstemp(prefix="spill-", dir=directory)
    return os.fdopen(handle, "w+b"), path


def _adopt(path: str, end: int) -> Spill:
    """A worker's spill file, opened and unlinked here at once (unnamed from now on)."""
    spill = Spill()
    try:
        spill._file = open(path, "r+b")  # noqa: SIM115 - closed with the Spill
        os.unlink(path)
    except OSError as exc:
        raise DiskError(
            f"merge: cannot read back spilled aggregates: {exc.strerror or exc}"
        ) from None
    spill._end = end
    return spill


class SpilledDates:
    """The dates an aggregate (`chatgpt.CodexDays`, `usage.UsageDays`) has written to
    disk: each date's chunk and how many pairs it holds. The Spill is made when first
    needed, so an aggregate that never spills never opens a file."""

    __slots__ = ("_dates", "_spill")

    def __init__(self) -> None:
        self._spill: Spill | None = None
        self._dates: dict[str, tuple[Token, int]] = {}

    def __bool__(self) -> bool:
        return bool(self._dates)

    def __contains__(self, day: object) -> bool:
        return day in self._dates

    def pairs(self) -> int:
        return sum(count for _, count in self._dates.values())

    def dates(self) -> set[str]:
        return set(self._dates)

    def pairs_on(self, day: str) -> int:
        entry = self._dates.get(day)
        return 0 if entry is None else entry[1]

    def put(self, day: str, chunk: Any, pairs: int) -> None:
        if self._spill is None:
            self._spill = Spill()
        self._dates[day] = (self._spill.put(chunk), pairs)

    def get(self, day: str) -> Any:
        """The date's chunk, left on disk; None when the date is not there."""
        entry = self._dates.get(day)
        if entry is None:
            return None
        assert self._spill is not None
        return self._spill.get(entry[0])

    def pop(self, day: str) -> Any:
        """The date's chunk, forgotten here (read back to memory or consumed)."""
        chunk = self.get(day)
        self._dates.pop(day, None)
        return chunk


__all__ = ["Spill", "SpilledDates", "Token", "budget", "set_budget"]
