"""The per-capture passes in parallel processes (`verifier.parallel`) give exactly what
one process gives: the same merge bytes in every format (`--by` too), the same gate
report, the same first error in position order; a worker that dies stops the command
with one line and exit 3, nothing written, nothing left on disk. The threshold is set to
0 and `VERIFY_JOBS=2`, so these small captures take the parallel path on any machine
(the tests check that they did)."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import CliResult, run_cli
from tests.conftest import (
    DOCUMENTED_BODIES,
    DOCUMENTED_CAPTURES,
    REFERENCE_PAYLOADS,
    assert_no_canary,
)
from tests.test_merge_one_pass import costs_capture
from tests.test_merge_streamed_output import CASES, sandbox, sandbox_locks
from verifier import gate, inputs, parallel
from verifier.capture import capture_from_sandbox
from verifier.errors import InputError, UsageError
from verifier.exactjson import JsonNumber
from verifier.lock import run_lock
from verifier.merge import core, spill
from verifier.merge.formats import WRITERS, write_table
from verifier.merge.load import _own_plan, merge_paths_table, read_capture
from verifier.merge.stream import MergeSink, Parsed

__all__ = ["sandbox", "sandbox_locks"]  # module fixtures shared with the streamed tests

DOCUMENTED_LOCKS = DOCUMENTED_CAPTURES.parent / "locks"


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[int]]:
    """Parallel from 0 bytes with two processes; counts the parallel runs, and keeps
    temp files in a directory of the test's own (to see that nothing stays)."""
    runs: list[int] = []
    run = parallel._run

    def counted(work: Callable[[int], Any], sizes: Any, count: int, *shared: Any) -> Any:
        runs.append(count)
        return run(work, sizes, count, *shared)

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(parallel, "_run", counted)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv(parallel.JOBS_ENV, "2")
    with parallel.set_min_bytes(0):
        yield runs
    assert list(temp.iterdir()) == [], "a temp file or directory was left behind"


def sequential(make: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setenv(parallel.JOBS_ENV, "1")
        return make()


def table(paths: list[Path], fmt: str, options: dict[str, Any]) -> bytes:
    stream = merge_paths_table(paths, stream_min_bytes=0, **options)
    buffer = io.BytesIO()
    write_table(stream, fmt, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("fmt", "options"), CASES, ids=lambda v: str(v))
def test_parallel_merge_paths_table_writes_the_same_bytes(
    sandbox: Path,
    fmt: str,
    options: dict[str, Any],
    forks: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for paths in ([DOCUMENTED_CAPTURES], [sandbox]):
        alone = sequential(partial(table, paths, fmt, options), monkeypatch)
        forks.clear()
        assert table(paths, fmt, options) == alone, (paths, fmt)
        assert forks == [2], "the parallel path was not taken"
        assert alone.count(b"\n") > 1


def test_parallel_merge_with_spilling_aggregates_writes_the_same_bytes(
    sandbox: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Aggregates spilling during the workers' passes (budget one pair) as well."""
    with spill.set_budget(1):
        for fmt, options in CASES:
            alone = sequential(partial(table, [sandbox], fmt, options), monkeypatch)
            assert table([sandbox], fmt, options) == alone, (fmt, options)
    assert forks


def cli_merge(paths: list[Path], locks: Path, out: Path, *extra: str) -> CliResult:
    return run_cli(
        "merge", *map(str, paths), "--out", str(out), "--locks-dir", str(locks), *extra
    )  # fmt: skip


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_parallel_verify_merge_writes_the_same_file(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    fmt: str,
    forks: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gated one pass (`verify merge`), streamed captures: the same file, the same
    summary, in every format and breakdown."""
    monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)  # every capture streams
    breakdowns = [[]] if fmt == "focus" else [[], ["--by", "model"], ["--by", "client"]]
    for paths, locks in (([sandbox], sandbox_locks), ([DOCUMENTED_CAPTURES], DOCUMENTED_LOCKS)):
        for by in breakdowns:
            one, two = tmp_path / f"one.{fmt}", tmp_path / f"two.{fmt}"
            command = [*map(str, paths), "--out", str(one), "--locks-dir", str(locks)]
            command += ["--format", fmt, *by]
            alone = sequential(partial(run_cli, "merge", *command), monkeypatch)
            forks.clear()
            together = cli_merge(paths, locks, two, "--format", fmt, *by)
            assert forks == [2]
            assert (together.code, together.stderr) == (alone.code, alone.stderr) == (0, "")
            assert together.stdout.replace(str(two), str(one)) == alone.stdout
            assert two.read_bytes() == one.read_bytes()
            assert_no_canary(two.read_bytes())
            one.unlink()
            two.unlink()


def test_parallel_gate_gives_the_same_report(
    sandbox: Path, sandbox_locks: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`verify gate`: the same JSON report and findings in the same order, for captures
    that pass and for a set with findings (no locks: every surface unlocked)."""
    monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    cases = [
        ([sandbox], ["--locks-dir", str(sandbox_locks)]),
        ([DOCUMENTED_CAPTURES], ["--locks-dir", str(DOCUMENTED_LOCKS)]),
        ([DOCUMENTED_CAPTURES, sandbox], ["--locks-dir", str(sandbox_locks)]),
        ([sandbox], ["--locks-dir", str(sandbox / "no-locks")]),
        (  # raw bodies of the corpus, with their findings
            [
                DOCUMENTED_BODIES / "openai_org_costs.json",
                *sorted(REFERENCE_PAYLOADS.glob("openai_costs__*.json")),
            ],
            ["--surface", "openai_org_costs", "--locks-dir", str(DOCUMENTED_LOCKS)],
        ),
    ]
    for paths, options in cases:
        command = ["gate", *map(str, paths), *options, "--format", "json"]
        alone = sequential(partial(run_cli, *command), monkeypatch)
        forks.clear()
        together = run_cli(*command)
        assert forks == [2]
        assert (together.code, together.stdout, together.stderr) == (
            alone.code,
            alone.stdout,
            alone.stderr,
        )
        assert '"findings"' in together.stdout
    # The library report: findings (objects, in order) and the coverage the merge uses.
    sources = inputs.load_inputs([sandbox], stream_min_bytes=0)
    report = gate.evaluate(sources, locks_dir=sandbox_locks)
    alone_report = sequential(lambda: gate.evaluate(sources, locks_dir=sandbox_locks), monkeypatch)
    assert report.findings == alone_report.findings
    assert report.coverage == alone_report.coverage
    assert report.plans == alone_report.plans


def broken_copy(source: Path, to: Path, padding: int) -> Path:
    """A capture whose JSON breaks after its metadata, inside the pages (what only the
    pass finds), `padding` bytes of whitespace longer to change which is read first."""
    text = source.read_bytes()
    cut = text.index(b'"pages"')
    at = text.index(b"{", text.index(b"[", cut)) + 1
    to.write_bytes(text[:at] + b" " * padding + b"]]]" + text[at:])
    return to


def test_the_first_error_in_position_order_wins(
    tmp_path: Path, sandbox: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two captures break in the pass; the later one is bigger, so it is read first (by
    another process): the error is still the first capture's, as one after the other."""
    monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    usage = next(sandbox.glob("openai_org_usage_completions*.json"))
    costs = next(sandbox.glob("openai_org_costs*.json"))
    folder = tmp_path / "broken"
    folder.mkdir()
    broken_copy(usage, folder / "a.json", 0)
    broken_copy(costs, folder / "b.json", 100_000)
    locks = tmp_path / "locks"
    out = tmp_path / "spend.csv"
    out.write_bytes(b"the previous table\n")
    alone = sequential(lambda: cli_merge([folder], locks, out), monkeypatch)
    together = cli_merge([folder], locks, out)
    assert forks == [2]
    assert together == alone
    assert together.code == 2 and "a.json" in together.stderr
    assert together.stderr.count("\n") == 1 and "Traceback" not in together.stderr
    assert out.read_bytes() == b"the previous table\n"
    with pytest.raises(InputError) as error:
        merge_paths_table([folder], stream_min_bytes=0)
    assert "a.json" in str(error.value)
    gate_alone = sequential(lambda: run_cli("gate", str(folder)), monkeypatch)
    assert run_cli("gate", str(folder)) == gate_alone


def test_errors_and_values_come_back_in_position_order(forks: list[int]) -> None:
    """A toy pass: values in position order up to the first position that raised (the
    largest is read first, so later positions ran before it), then that error."""

    def work(position: int) -> int:
        if position in (1, 3):
            raise InputError(f"capture-{position}", "cannot be read")
        return position * 10

    results = parallel.map_in_processes(work, [1, 2, 3, 400])
    assert next(results) == 0
    with pytest.raises(InputError, match="capture-1: cannot be read"):
        next(results)
    assert forks == [2]


def test_a_dying_worker_stops_the_merge_with_one_line(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    forks: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker killed mid-pass (as by the OOM killer): exit 3, one line, the old output
    untouched; the temp directory is removed (checked by `forks`)."""
    monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    real = gate.gate_pass

    def dying(*args: Any, **kwargs: Any) -> Any:
        if parallel.worker_directory() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    monkeypatch.setattr(gate, "gate_pass", dying)
    out = tmp_path / "spend.csv"
    out.write_bytes(b"the previous table\n")
    result = cli_merge([sandbox], sandbox_locks, out)
    assert forks == [2]
    assert result.code == 3
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "worker process reading the captures was killed by signal 9" in result.stderr
    assert out.read_bytes() == b"the previous table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spend.csv", "tmp"]


def test_a_spilled_sink_is_adopted_whole_and_its_file_unnamed(
    tmp_path: Path, sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MergeSink pickled in a worker: its aggregate spilled to a file named in the
    worker's directory; unpickled here, that file is opened and unlinked at once, and
    the aggregate merges to the same table as the sink held in memory."""
    held, travelled = core.MergeInputs(), core.MergeInputs()
    for item in inputs.load_capture_inputs([sandbox], refusal="", stream_min_bytes=0):
        plan = _own_plan(item)
        sink, _ = read_capture(item, plan)
        held.add_parsed(item.surface.name, sink.parser, plan)
        with monkeypatch.context() as patch:
            patch.setattr(parallel, "_WORKER_DIRECTORY", [tmp_path])
            again, _ = read_capture(item, plan)
            data = pickle.dumps(again)
        named = list(tmp_path.iterdir())
        arrived = pickle.loads(data)
        assert isinstance(arrived, MergeSink) and isinstance(arrived.parser, Parsed)
        assert list(tmp_path.iterdir()) == [], "the adopted file still has a name"
        assert len(named) == (0 if item.surface.name == "openai_org_users" else 1)
        arrived.finish()  # finished in the worker: nothing happens again
        travelled.add_parsed(item.surface.name, arrived.parser, plan)
    assert write(held) == write(travelled)


def write(merged: core.MergeInputs) -> bytes:
    buffer = io.BytesIO()
    write_table(core.MergeStream(merged, consume=True), "csv", buffer)
    return buffer.getvalue()


def test_the_passes_stay_in_this_process_when_forking_does_not_pay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(parallel.JOBS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    big = [parallel.min_bytes(), 1]
    assert parallel.jobs(big) == 2
    assert parallel.jobs([parallel.min_bytes() - 2, 1]) == 1  # too little input
    assert parallel.jobs([parallel.min_bytes() * 2]) == 1  # one capture
    with monkeypatch.context() as patch:
        patch.setenv(parallel.JOBS_ENV, "1")
        assert parallel.jobs(big) == 1
    with monkeypatch.context() as patch:
        patch.setenv(parallel.JOBS_ENV, "3")
        assert parallel.jobs([*big, 1, 1]) == 3
        assert parallel.jobs(big) == 2  # never more processes than captures
    with monkeypatch.context() as patch:
        patch.setattr(os, "sched_getaffinity", lambda _pid: {0})
        assert parallel.jobs(big) == 1  # one usable core
    with monkeypatch.context() as patch:
        patch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
        assert parallel.jobs(big) == 1  # no fork
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.jobs(big) == 1  # another thread alive: a fork is not safe
    finally:
        stop.set()
        thread.join()
    ran: list[int] = []

    def work(position: int) -> int:
        ran.append(position)
        return position

    results = parallel.map_in_processes(work, [1, 2])
    assert list(results) == [0, 1] and ran == [0, 1]  # in this process, in order


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_verify_jobs_is_a_usage_error(
    value: str, sandbox: Path, sandbox_locks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(parallel.JOBS_ENV, value)
    with pytest.raises(UsageError, match="VERIFY_JOBS must be a whole number"):
        parallel.jobs([1, 2])
    result = run_cli("gate", str(sandbox), "--locks-dir", str(sandbox_locks))
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "VERIFY_JOBS" in result.stderr


def test_an_input_error_travels_with_its_source_and_problem() -> None:
    error = InputError("captures/a.json", "invalid JSON:   at   1")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is InputError
    assert (back.source, back.problem, str(back)) == (error.source, error.problem, str(error))


def test_split_passes_give_the_same_file_and_report(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    forks: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every capture's pass split in two (the gate's sinks, the merge's parsers, each in a
    process of its own): the same files in every format, the same gate report, and the
    first error in position order."""
    monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    halves: list[frozenset[int]] = []

    def every(sizes: Any, processes: int, candidates: Any) -> frozenset[int]:
        halves.append(frozenset(candidates))
        return halves[-1]

    monkeypatch.setattr(gate, "_split", every)
    for fmt, by in [("csv", []), ("json", ["--by", "model"]), ("jsonl", []), ("focus", [])]:
        one, two = tmp_path / f"one.{fmt}", tmp_path / f"two.{fmt}"
        command = [str(sandbox), "--locks-dir", str(sandbox_locks), "--format", fmt, *by]
        alone = sequential(partial(run_cli, "merge", *command, "--out", str(one)), monkeypatch)
        halves.clear()
        together = run_cli("merge", *command, "--out", str(two))
        assert len(halves[0]) == 4  # every capture: the three surfaces and the users list
        assert together.stdout.replace(str(two), str(one)) == alone.stdout
        assert two.read_bytes() == one.read_bytes()
    command = ["gate", str(sandbox), "--locks-dir", str(sandbox_locks), "--format", "json"]
    assert run_cli(*command) == sequential(partial(run_cli, *command), monkeypatch)
    folder = tmp_path / "broken"
    folder.mkdir()
    broken_copy(next(sandbox.glob("openai_org_costs*.json")), folder / "a.json", 0)
    broken_copy(next(sandbox.glob("chatgpt_enterprise_usage*.json")), folder / "b.json", 9)
    out = tmp_path / "spend.csv"
    alone = sequential(partial(cli_merge, [folder], sandbox_locks, out), monkeypatch)
    assert cli_merge([folder], sandbox_locks, out) == alone
    assert alone.code == 2 and "a.json" in alone.stderr and not out.exists()


def test_a_pass_is_split_only_when_the_processes_then_finish_sooner() -> None:
    assert parallel.finish_time([3, 2, 2], 2) == 4
    assert parallel.finish_time([5, 1, 1, 1], 2) == 5
    # Three captures of the 1,500-people bench on two processes: the smallest large one
    # is read twice, so that both processes finish at about the same time.
    assert gate._split([49_920_890, 68_568_475, 93_211_583, 447_927], 2, [0, 1, 2, 3]) == {0}
    assert gate._split([100, 100, 100, 100], 2, [0, 1, 2, 3]) == set()  # even already
    assert gate._split([300, 100, 100], 2, [0, 1, 2]) == set()  # the largest decides
    assert gate._split([100, 100, 100], 2, [1]) == {1}  # only those given
    assert gate._split([100, 100, 100], 2, []) == set()


def test_without_a_temp_directory_or_a_fork_the_passes_run_here(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    forks: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No private temp directory (a full or read-only temp dir): the passes run in this
    process; no worker can be forked: this process reads every capture. Same file."""
    one = tmp_path / "one.csv"
    alone = sequential(partial(cli_merge, [sandbox], sandbox_locks, one), monkeypatch)
    expected = one.read_bytes()

    def no_directory(*args: Any, **kwargs: Any) -> str:
        raise OSError(28, "No space left on device")

    def no_fork(self: Any) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    process = multiprocessing.get_context("fork").Process
    for target, name, failing in ((tempfile, "mkdtemp", no_directory), (process, "start", no_fork)):
        with monkeypatch.context() as patch:
            patch.setattr(target, name, failing)
            out = tmp_path / "two.csv"
            result = cli_merge([sandbox], sandbox_locks, out)
        assert result.stdout.replace(str(out), str(one)) == alone.stdout
        assert out.read_bytes() == expected
        out.unlink()
    assert forks == [2]  # the second: no directory gave no parallel run at all


ORPHAN = """
import os, signal, sys, time
from verifier import parallel

def work(position):
    if parallel.worker_directory() is None:  # this process: dies as by the OOM killer
        time.sleep(1)
        os.kill(os.getpid(), signal.SIGKILL)
    (parallel.worker_directory() / "spill-named").write_bytes(b"x")
    time.sleep(60)

with parallel.set_min_bytes(0):
    list(parallel.map_in_processes(work, [1, 2]))
"""


def test_a_killed_parent_leaves_no_named_file(tmp_path: Path) -> None:
    """The parent killed (no `finally`): its worker is told by the kernel and removes the
    private directory with the files named in it."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), parallel.JOBS_ENV: "2"}
    done = subprocess.run(
        [sys.executable, "-c", ORPHAN], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    for _ in range(200):  # the worker is gone once the directory is
        if not any(temp.iterdir()):
            break
        time.sleep(0.05)
    assert list(temp.iterdir()) == []
    assert done.stderr == ""


INTERRUPTED = """
import os, sys, time
from pathlib import Path
from verifier import parallel

def work(position):
    if parallel.worker_directory() is not None:
        Path(sys.argv[1]).write_text(str(os.getpid()))  # this worker, for the test
        time.sleep(60)
    else:
        time.sleep(60)  # Ctrl-C arrives here
    return position

with parallel.set_min_bytes(0):
    list(parallel.map_in_processes(work, [1, 2]))
"""


def test_ctrl_c_ends_the_workers_and_removes_the_temp_directory(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    pid_file = tmp_path / "worker"
    env = {**os.environ, "TMPDIR": str(temp), parallel.JOBS_ENV: "2"}
    command = [sys.executable, "-c", INTERRUPTED, str(pid_file)]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as process:
        for _ in range(400):  # until the worker runs its pass
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # ended and reaped by the parent
    assert list(temp.iterdir()) == []


def test_overlapping_runs_and_exact_numbers_merge_the_same_in_parallel(
    tmp_path: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sandbox runs whose ranges overlap (one capture loses dates and is read again,
    both versions of the shared dates compared); and the documented captures with a
    costs capture whose amounts a double cannot carry (`1.50`, 25 digits, `2.5E-7`:
    decoded again from their text in its pass, in whichever process): the same bytes."""
    monkeypatch.setattr(inputs, "STREAM_MIN_BYTES", 0)
    first, second, exact = tmp_path / "first", tmp_path / "second", tmp_path / "exact"
    with monkeypatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", "parallel-key-0123456789abcdef0123456789ab")
        capture_from_sandbox(first, start=date(2026, 5, 1), end=date(2026, 5, 6), users=6)
        capture_from_sandbox(second, start=date(2026, 5, 4), end=date(2026, 5, 9), users=6)
    locks = tmp_path / "locks"
    run_lock([first], locks_dir=locks)
    shutil.copytree(DOCUMENTED_CAPTURES, exact)
    texts = ["0.1234567890123456789012345", "1.50", "2.5E-7"]
    costs_capture(exact / "openai_org_costs.json", [JsonNumber(text) for text in texts])
    for fmt in WRITERS:
        one, two = tmp_path / f"one.{fmt}", tmp_path / f"two.{fmt}"
        command = [str(first), str(second), "--locks-dir", str(locks), "--format", fmt]
        alone = sequential(partial(run_cli, "merge", *command, "--out", str(one)), monkeypatch)
        forks.clear()
        together = run_cli("merge", *command, "--out", str(two))
        assert forks == [2]
        assert (together.code, alone.code) == (0, 0), together.stderr
        assert two.read_bytes() == one.read_bytes()
        one.unlink()
        two.unlink()
    # The library merge (no gate, no key check: the costs capture is built, not captured).
    for fmt, options in CASES:
        alone_bytes = sequential(partial(table, [exact], fmt, options), monkeypatch)
        forks.clear()
        assert table([exact], fmt, options) == alone_bytes
        assert forks == [2]
