"""The join and the CSV writing in two processes, split by date
(`verifier.merge.split_join`): the same bytes and the same `MergeResult` (join
coverage, counts) as one process, on the sandbox and documented captures, spilled or
not, with a credit rate, provisional, overlapping captures, through the library and
`verify merge`; a dead worker is one line, exit 3, the old output untouched, nothing
left; and the fallbacks keep it in one process. The threshold is set to 0 pairs and
`VERIFY_JOBS=2`, so these small captures take the split path on any machine (the
tests check that they did)."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES
from tests.test_merge_streamed_output import OPTIONS, sandbox, sandbox_locks
from verifier import parallel
from verifier.capture import capture_from_sandbox
from verifier.lock import run_lock
from verifier.merge import core, spill, split_join
from verifier.merge.core import MergeResult
from verifier.merge.formats import write_table
from verifier.merge.load import merge_paths_table

__all__ = ["sandbox", "sandbox_locks"]  # module fixtures shared with the streamed tests

DOCUMENTED_LOCKS = DOCUMENTED_CAPTURES.parent / "locks"
PREVIOUS = b"the previous table\n"


@pytest.fixture
def splits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[int]]:
    """The join split from 0 pairs with two processes; counts the splits that started a
    worker, and keeps temp files in a directory of the test's own (to see that nothing
    stays)."""
    started: list[int] = []
    real = parallel.beside_one_worker

    def counted(*args: Any) -> Any:
        started.append(1)
        return real(*args)

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(parallel, "beside_one_worker", counted)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv(parallel.JOBS_ENV, "2")
    with split_join.set_min_pairs(0):
        yield started
    assert list(temp.iterdir()) == [], "a temp file or directory was left behind"


def one_process(make: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setenv(parallel.JOBS_ENV, "1")
        return make()


def csv_table(paths: list[Path], options: dict[str, Any]) -> tuple[bytes, MergeResult]:
    stream = merge_paths_table(paths, stream_min_bytes=0, **dict(options))
    buffer = io.BytesIO()
    write_table(stream, "csv", buffer)
    return buffer.getvalue(), stream.result()


def assert_same(
    paths: list[Path], options: dict[str, Any], splits: list[int], mp: pytest.MonkeyPatch
) -> None:
    alone, alone_result = one_process(partial(csv_table, paths, options), mp)
    splits.clear()
    together, result = csv_table(paths, options)
    assert together == alone, (paths, options)
    assert result == alone_result
    assert result.counts.rows == alone.count(b"\n") - 1 or "breakdown" in options
    # `--by` tables stay in one process (their rows only count, `parts` is the table),
    # and a table of one date has nothing to split.
    split = result.counts.dates > 1 and "breakdown" not in options
    assert splits == ([1] if split else []), options


@pytest.mark.parametrize("options", OPTIONS, ids=lambda v: str(v))
def test_the_split_join_writes_the_same_bytes_and_result(
    sandbox: Path, options: dict[str, Any], splits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    for paths in ([DOCUMENTED_CAPTURES], [sandbox], [DOCUMENTED_CAPTURES, sandbox]):
        assert_same(paths, options, splits, monkeypatch)
    assert csv_table([sandbox], options)[1].counts.dates > 1  # split above


def test_the_split_join_reads_spilled_dates_the_same(
    sandbox: Path, splits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every aggregate spilled (budget one pair): both processes read the same spill
    files at once, at their offsets."""
    with spill.set_budget(1):
        for options in OPTIONS:
            assert_same([sandbox], options, splits, monkeypatch)
            assert_same([DOCUMENTED_CAPTURES, sandbox], options, splits, monkeypatch)


def test_verify_merge_writes_the_same_file_split(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    splits: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`verify merge`: the same file and the same summary (coverage, rows), with and
    without a credit rate, for the sandbox, overlapping runs and the documented ones."""
    first, second = tmp_path / "first", tmp_path / "second"
    with monkeypatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", "split-join-key-0123456789abcdef0123456789")
        capture_from_sandbox(first, start=date(2026, 5, 1), end=date(2026, 5, 6), users=6)
        capture_from_sandbox(second, start=date(2026, 5, 4), end=date(2026, 5, 9), users=6)
    overlap_locks = tmp_path / "locks"
    run_lock([first], locks_dir=overlap_locks)
    cases = [
        ([sandbox], sandbox_locks, [1]),
        ([first, second], overlap_locks, [1]),
        ([DOCUMENTED_CAPTURES], DOCUMENTED_LOCKS, []),  # one date: nothing to split
    ]
    for paths, locks, split in cases:
        for extra in ([], ["--credit-usd-rate", "0.04"]):
            one, two = tmp_path / "one.csv", tmp_path / "two.csv"
            command = [*map(str, paths), "--locks-dir", str(locks), *extra]
            alone = one_process(partial(run_cli, "merge", *command, "--out", str(one)), monkeypatch)
            splits.clear()
            together = run_cli("merge", *command, "--out", str(two))
            assert splits == split
            assert (together.code, together.stderr) == (alone.code, alone.stderr) == (0, "")
            assert together.stdout.replace(str(two), str(one)) == alone.stdout
            assert two.read_bytes() == one.read_bytes()
            one.unlink()
            two.unlink()


def test_a_dead_join_worker_is_one_line_exit_3_and_nothing_written(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    splits: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker killed while making its dates' rows (as by the OOM killer): exit 3,
    one line, the old output untouched; the temp directory is removed (`splits`)."""
    real = core._finish

    def dying(*args: Any) -> Any:
        if parallel.worker_directory() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args)

    monkeypatch.setattr(core, "_finish", dying)
    out = tmp_path / "spend.csv"
    out.write_bytes(PREVIOUS)
    result = run_cli(
        "merge", str(sandbox), "--out", str(out), "--locks-dir", str(sandbox_locks)
    )  # fmt: skip
    assert splits == [1]
    assert result.code == 3
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "worker process writing the merge table was killed by signal 9" in result.stderr
    assert out.read_bytes() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spend.csv", "tmp"]


def test_an_error_in_the_worker_is_raised_as_one_process_raises_it(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    splits: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A spilled date that cannot be read back in the worker: the same one line and
    exit code as in one process, nothing written."""
    real = spill._read_at

    def failing(*args: Any) -> bytes:
        if parallel.worker_directory() is not None:
            raise OSError(5, "Input/output error")
        return real(*args)

    monkeypatch.setattr(spill, "_read_at", failing)
    out = tmp_path / "spend.csv"
    out.write_bytes(PREVIOUS)
    with spill.set_budget(1):
        result = run_cli(
            "merge", str(sandbox), "--out", str(out), "--locks-dir", str(sandbox_locks)
        )  # fmt: skip
    assert splits == [1]
    assert result.code == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "cannot read back spilled aggregates: Input/output error" in result.stderr
    assert out.read_bytes() == PREVIOUS


def test_the_join_stays_in_this_process_when_splitting_does_not_pay(
    sandbox: Path, splits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process alone: `VERIFY_JOBS=1`, fewer pairs than `min_pairs()`, another
    thread alive, no fork, no temp directory: the same bytes, no worker."""
    expected = one_process(partial(csv_table, [sandbox], {}), monkeypatch)

    def check(reason: str) -> None:
        splits.clear()
        assert csv_table([sandbox], {}) == expected, reason
        assert splits in ([], [1]), reason

    with monkeypatch.context() as patch:
        patch.setenv(parallel.JOBS_ENV, "1")
        check("VERIFY_JOBS=1")
        assert splits == []
    with split_join.set_min_pairs(10**9):
        check("below the minimum")
        assert splits == []
    with monkeypatch.context() as patch:
        patch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
        check("no fork")
        assert splits == []
    stop = threading.Event()
    alive = threading.Thread(target=stop.wait)
    alive.start()
    try:
        check("a thread alive")
        assert splits == []
    finally:
        stop.set()
        alive.join()

    def no_directory(*args: Any, **kwargs: Any) -> str:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkdtemp", no_directory)
        check("no temp directory")  # tried, nothing started: all here
        assert splits == [1]


def test_the_dates_are_cut_at_half_the_work() -> None:
    assert split_join.halfway([1, 1]) == 1
    assert split_join.halfway([5, 1, 1, 1, 1, 1]) == 1
    assert split_join.halfway([1, 1, 1, 1, 1, 5]) == 5
    assert split_join.halfway([2, 2, 2, 2]) == 2
    assert split_join.halfway([0, 0, 0]) == 1
    assert split_join.halfway([3, 1, 1, 1]) == 1


def test_a_credit_rate_and_provisional_together_split_the_same(
    sandbox: Path, splits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"credit_usd_rate": Decimal("0.04"), "provisional": True}
    assert_same([DOCUMENTED_CAPTURES, sandbox], options, splits, monkeypatch)
