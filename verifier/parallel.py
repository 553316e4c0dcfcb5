"""Per-capture passes in parallel processes: the gate's and the merge's (`verify merge`,
`verify gate`, `merge_paths_table`).

Reading a capture is pure Python (the parsers, the profile), so threads would take turns
on the GIL: the passes run in forked processes instead. This process and `jobs() - 1`
forked workers take capture positions from one shared counter, the largest file first;
the results come back in position order, each raised or returned exactly where the
sequential loop would have (the first failing capture in position order wins).

What crosses back is small: a worker pickles its result to a file in a private temp
directory (0700, made here and removed in `finally`), and an object that would be large
pickled says how it travels (`verifier.merge.stream.MergeSink`: its aggregates spilled
to files named in that directory, which this process adopts, `verifier.merge.spill`).

The passes run in this process, one after the other (the same code as in a worker),
when forking is not worth it or not safe: one usable core, one capture, captures
smaller than `min_bytes()` in all, another thread alive (a fork copies locks held by
threads), no `fork` start method, or `VERIFY_JOBS=1`. `VERIFY_JOBS=N` sets the number of
processes (default: the usable cores).

A worker that dies (killed, out of memory) stops the command with one line and exit 3:
nothing was written, and the temp directory is removed. Workers are daemons that ignore
Ctrl-C: the interrupted parent ends them; a parent killed outright is reported to them
by the kernel, and they remove the temp directory."""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from verifier.errors import DiskError, OperationalError, UsageError, VerifierError

T = TypeVar("T")

JOBS_ENV = "VERIFY_JOBS"

# Below this many bytes of input in all, the passes stay in this process (a fork and the
# results' travel cost more than they save). Tests lower it (`set_min_bytes`).
_MIN_BYTES = [16 * 1024 * 1024]

# In a worker: the private directory its spill and result files are named in.
_WORKER_DIRECTORY: list[Path | None] = [None]


def min_bytes() -> int:
    return _MIN_BYTES[0]


@contextlib.contextmanager
def set_min_bytes(size: int) -> Iterator[None]:
    """Run in parallel from `size` bytes of input while the block runs (tests)."""
    before = _MIN_BYTES[0]
    _MIN_BYTES[0] = size
    try:
        yield
    finally:
        _MIN_BYTES[0] = before


def worker_directory() -> Path | None:
    """The private directory of this worker process (None: not a worker)."""
    return _WORKER_DIRECTORY[0]


def jobs(sizes: Sequence[float]) -> int:
    """How many processes read inputs of these sizes (1: this one alone)."""
    wanted = _wanted_jobs()
    if wanted <= 1 or len(sizes) <= 1 or sum(sizes) < min_bytes() or not _can_fork():
        return 1
    return min(wanted, len(sizes))


def _can_fork() -> bool:
    """No other thread alive (a fork copies locks held by threads) and `fork` there."""
    return threading.active_count() <= 1 and "fork" in multiprocessing.get_all_start_methods()


def two_processes(work: float, minimum: float) -> bool:
    """Whether work of this size (at least `minimum`) is worth one forked worker beside
    this process: the fallbacks of `jobs` (one usable core, `VERIFY_JOBS=1`, threads,
    no fork)."""
    return work >= minimum and _wanted_jobs() >= 2 and _can_fork()


@contextlib.contextmanager
def beside_one_worker(
    theirs: Callable[[Path], Any], mine: Callable[[], None], what: tuple[str, str]
) -> Iterator[tuple[Path, Any] | None]:
    """`theirs(directory)` in one forked worker while `mine()` runs here; then, while
    the block runs, the private directory (0700) the worker wrote its files in and what
    `theirs` returned (small: it travels pickled). The directory goes at the end.

    None when no worker could start (no temp directory, no fork): nothing ran, the
    caller does both parts here. An error `theirs` raised is raised here, after `mine()`
    (where the sequential run would raise it); a dead worker is one OperationalError
    (`what`: what it was doing, and what one process would do, for `_died`), exit 3."""
    shared = _shared()
    if shared is None:
        yield None
        return
    directory = shared[0]
    worker: Any = None
    try:
        _flush_standard_streams()
        worker = multiprocessing.get_context("fork").Process(
            target=_one_worker, args=(theirs, directory, os.getpid()), daemon=True
        )
        try:
            worker.start()
        except OSError:  # no fork now (process limit, memory): all here
            worker = None
        if worker is None:
            yield None
            return
        mine()
        worker.join()
        if worker.exitcode != 0:
            raise OperationalError(_died(worker.exitcode, *what))
        ok, value = _arrived(directory, 0)
        if not ok:
            raise value
        yield directory, value
    finally:
        if worker is not None and worker.is_alive():
            worker.terminate()
            worker.join()
        shutil.rmtree(directory, ignore_errors=True)


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):  # a child must not write a copy of these
        with contextlib.suppress(Exception):
            stream.flush()


def _one_worker(theirs: Callable[[Path], Any], directory: Path, parent: int) -> None:
    """The forked worker of `beside_one_worker`: `theirs`'s outcome pickled to
    `directory/0`, as `_worker` does a position's."""
    _become_worker(directory, parent)
    status = 0
    try:
        _deliver(directory, 0, _outcome(lambda _: theirs(directory), 0))
    except OSError:
        status = _CANNOT_WRITE
    except BaseException:  # a worker never prints a traceback
        status = _FAILED
    os._exit(status)


def _wanted_jobs() -> int:
    text = os.environ.get(JOBS_ENV, "").strip()
    if not text:
        return len(os.sched_getaffinity(0))
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{JOBS_ENV} must be a whole number of processes (1 or more)")
    return int(text)


def file_sizes(names: Sequence[str]) -> list[int]:
    """Each input's size in bytes (0 when it cannot be read: its pass says why)."""
    sizes = []
    for name in names:
        try:
            sizes.append(os.stat(name).st_size)
        except OSError:
            sizes.append(0)
    return sizes


def map_in_processes(
    work: Callable[[int], T], sizes: Sequence[float], processes: int | None = None
) -> Iterator[T]:
    """`work(position)` for every position (`sizes`: what each costs, its input's bytes),
    in `processes` processes (default `jobs(sizes)`, see the module doc), the costliest
    first. The results come in position order; a position whose work raised raises
    there, as the sequential loop would."""
    count = jobs(sizes) if processes is None else processes
    shared = _shared() if count > 1 else None
    if shared is None:
        return (work(position) for position in range(len(sizes)))
    return _in_order(_run(work, sizes, count, *shared))


def _shared() -> tuple[Path, Any] | None:
    """The private temp directory (0700: this user only) and the shared counter; None
    when the temp directory cannot hold them (the passes then run here, as with one
    process)."""
    try:
        counter = multiprocessing.get_context("fork").Value("q", 0)
        return Path(tempfile.mkdtemp(prefix="verify-jobs-")), counter
    except OSError:
        return None


def finish_time(costs: Sequence[float], processes: int) -> float:
    """When the last of `processes` processes would finish, each taking the next
    costliest position when it is free (as `map_in_processes` hands them out)."""
    free = [0.0] * processes
    for cost in sorted(costs, reverse=True):
        heapq.heapreplace(free, free[0] + cost)
    return max(free)


# A position's result: (True, value) or (False, the exception it raised).
_Outcome = tuple[bool, Any]


def _in_order(outcomes: list[_Outcome]) -> Iterator[Any]:
    for ok, value in outcomes:
        if not ok:
            raise value
        yield value


def _run(
    work: Callable[[int], Any], sizes: Sequence[float], count: int, directory: Path, counter: Any
) -> list[_Outcome]:
    """Every position's outcome, read by this process and `count - 1` workers, which
    write theirs to `directory`; `counter` is the next index into the costliest-first
    order, shared by all."""
    context = multiprocessing.get_context("fork")
    order = sorted(range(len(sizes)), key=lambda position: -sizes[position])

    def take() -> int | None:
        with counter.get_lock():
            index = int(counter.value)
            counter.value = index + 1
        return order[index] if index < len(order) else None

    workers: list[Any] = []
    try:
        _flush_standard_streams()
        for _ in range(count - 1):
            worker = context.Process(
                target=_worker, args=(work, take, directory, os.getpid()), daemon=True
            )
            try:
                worker.start()
            except OSError:  # no fork now (process limit, memory): fewer workers
                break
            workers.append(worker)
        mine: dict[int, _Outcome] = {}
        while (position := take()) is not None:
            mine[position] = _outcome(work, position)
        for worker in workers:
            worker.join()
        for worker in workers:
            if worker.exitcode != 0:
                raise OperationalError(_died(worker.exitcode))
        return [mine.get(p) or _arrived(directory, p) for p in range(len(sizes))]
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
        shutil.rmtree(directory, ignore_errors=True)


def _outcome(work: Callable[[int], Any], position: int) -> _Outcome:
    try:
        return True, work(position)
    except Exception as error:  # raised in position order by the parent
        return False, error


def _worker(
    work: Callable[[int], Any], take: Callable[[], int | None], directory: Path, parent: int
) -> None:
    """A forked worker: positions from the shared counter until none is left, each
    outcome pickled to `directory/<position>` (written whole, then renamed). It ends
    with `os._exit`: a failure of its own is its exit status, said by the parent."""
    _become_worker(directory, parent)
    status = 0
    try:
        while (position := take()) is not None:
            _deliver(directory, position, _outcome(work, position))
    except OSError:
        status = _CANNOT_WRITE
    except BaseException:  # a worker never prints a traceback
        status = _FAILED
    os._exit(status)


def _become_worker(directory: Path, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent ends the workers
    _clean_up_if_orphaned(directory, parent)
    _WORKER_DIRECTORY[0] = directory


def _deliver(directory: Path, position: int, outcome: _Outcome) -> None:
    """An outcome pickled to `directory/<position>` (written whole, then renamed)."""
    partial = directory / f"{position}.partial"
    partial.write_bytes(_pickled(outcome))
    partial.rename(directory / str(position))


def _clean_up_if_orphaned(directory: Path, parent: int) -> None:
    """Should the parent die without its `finally` (SIGKILL, the OOM killer), the kernel
    sends this worker SIGTERM (PR_SET_PDEATHSIG): it removes the private directory, its
    named files with it, and ends. The parent's own SIGTERM (`terminate`, on failure or
    Ctrl-C) does the same, before the parent removes the directory too."""

    def ended(_signal: int, _frame: Any) -> None:
        shutil.rmtree(directory, ignore_errors=True)
        os._exit(_FAILED)

    signal.signal(signal.SIGTERM, ended)
    with contextlib.suppress(Exception):  # Linux only; elsewhere the parent cleans up
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the kernel was asked
        ended(signal.SIGTERM, None)


_PR_SET_PDEATHSIG = 1
_CANNOT_WRITE = 74  # the worker could not write its result (EX_IOERR)
_FAILED = 70  # anything else went wrong in the worker itself (EX_SOFTWARE)


def _pickled(outcome: _Outcome) -> bytes:
    """The outcome as it travels; a value that cannot (the spill behind it failed, or
    it does not pickle) travels as the error that says so."""
    try:
        return pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
    except VerifierError as error:  # e.g. a DiskError spilling a merge's aggregates
        return pickle.dumps((False, error), pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        failed = OperationalError(f"a parallel pass's result cannot travel: {type(error).__name__}")
        return pickle.dumps((False, failed), pickle.HIGHEST_PROTOCOL)


def _arrived(directory: Path, position: int) -> _Outcome:
    """A worker's outcome for `position` (its spill files adopted as it is unpickled)."""
    path = directory / str(position)
    try:
        with path.open("rb") as handle:
            outcome: _Outcome = pickle.load(handle)
    except OSError as exc:
        raise DiskError(f"cannot read a parallel pass's result: {exc.strerror or exc}") from None
    path.unlink()
    return outcome


def _died(
    exitcode: int | None, what: str = "reading the captures", alone: str = "reads them"
) -> str:
    if exitcode == _CANNOT_WRITE:
        how = "could not write its result to the temp directory"
    elif exitcode is not None and exitcode < 0:
        how = f"was killed by signal {-exitcode}"
    else:
        how = f"failed (exit status {exitcode})"
    return (
        f"a worker process {what} {how}; nothing was written ({JOBS_ENV}=1 {alone} in one process)"
    )


__all__ = [
    "JOBS_ENV",
    "beside_one_worker",
    "file_sizes",
    "finish_time",
    "jobs",
    "map_in_processes",
    "min_bytes",
    "set_min_bytes",
    "two_processes",
    "worker_directory",
]
