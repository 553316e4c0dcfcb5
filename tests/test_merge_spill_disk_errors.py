"""A disk that fails under the merge's spill (`verifier.merge.spill`): writing a date's
aggregates out (a full temp directory, ENOSPC) or reading one back (EIO) ends
`verify merge` with one line on stderr and exit 3 (a tool/disk failure, DESIGN.md), no
traceback, and the previous output file exactly as it was. The budget is one pair, so
these small sandbox captures spill at once and read every spilled date back."""

from __future__ import annotations

import errno
import os
import tempfile
import types
from pathlib import Path
from typing import IO, Any

import pytest

from tests.cli_helpers import run_cli
from tests.test_merge_streamed_output import sandbox, sandbox_locks
from verifier.merge import spill
from verifier.merge.formats import WRITERS

__all__ = ["sandbox", "sandbox_locks"]  # module fixtures shared with the streamed tests

PREVIOUS = b"the previous table\n"


class FailingFile:
    """A real unnamed temp file whose `write` or `read` raises `error` (after `after`
    calls of it succeeded), as a disk that fills up or goes bad part-way does."""

    def __init__(self, failing: str, error: int, after: int) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed by the Spill
        self._failing = failing
        self._error = error
        self._left = after

    def _step(self, name: str) -> None:
        if name != self._failing:
            return
        if self._left == 0:
            raise OSError(self._error, os.strerror(self._error))
        self._left -= 1

    def write(self, data: bytes) -> int:
        self._step("write")
        return self._file.write(data)

    def read_at(self, size: int, offset: int) -> bytes:
        self._step("read")
        return os.pread(self._file.fileno(), size, offset)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def failing_disk(
    monkeypatch: pytest.MonkeyPatch, failing: str, error: int, after: int
) -> list[int]:
    """Every spill file the merge opens fails as `FailingFile`; the files opened are
    counted, so a test knows the spill was reached."""
    opened: list[int] = []

    def temporary_file(*args: Any, **kwargs: Any) -> FailingFile:
        opened.append(1)
        return FailingFile(failing, error, after)

    # Only the spill module's view of `tempfile` changes (the output's temp file and
    # everything else keep the real one); its other functions stay the real ones.
    view = types.SimpleNamespace(**vars(tempfile))
    view.TemporaryFile = temporary_file
    monkeypatch.setattr(spill, "tempfile", view)
    # The spill reads at an offset (`_read_at`, pread): through the failing file here.
    monkeypatch.setattr(spill, "_read_at", lambda file, size, offset: file.read_at(size, offset))
    monkeypatch.setattr(spill, "_BUDGET", [1])
    return opened


@pytest.mark.parametrize(
    ("failing", "error", "after", "words"),
    [
        ("write", errno.ENOSPC, 0, "cannot spill aggregates to a temp file: No space left"),
        ("write", errno.ENOSPC, 3, "cannot spill aggregates to a temp file: No space left"),
        ("read", errno.EIO, 0, "cannot read back spilled aggregates: Input/output error"),
        ("read", errno.EIO, 2, "cannot read back spilled aggregates: Input/output error"),
    ],
    ids=["write-first", "write-later", "read-first", "read-later"],
)
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_a_spill_disk_error_is_one_line_exit_3_and_the_old_file_stays(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
    error: int,
    after: int,
    words: str,
    fmt: str,
) -> None:
    opened = failing_disk(monkeypatch, failing, error, after)
    out = tmp_path / f"spend.{fmt}"
    out.write_bytes(PREVIOUS)
    result = run_cli(
        "merge", str(sandbox), "--out", str(out), "--format", fmt,
        "--locks-dir", str(sandbox_locks),
    )  # fmt: skip
    assert opened, "the merge did not spill"
    assert result.code == 3, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr
    assert "merged" not in result.stdout
    assert out.read_bytes() == PREVIOUS
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left


def test_the_same_merge_passes_when_the_disk_does_not_fail(
    tmp_path: Path, sandbox: Path, sandbox_locks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failing file with nothing failing: the errors above come from the disk, not
    from the wrapper or the budget."""
    opened = failing_disk(monkeypatch, "neither", errno.EIO, 0)
    out = tmp_path / "spend.csv"
    result = run_cli("merge", str(sandbox), "--out", str(out), "--locks-dir", str(sandbox_locks))
    assert opened
    assert result.code == 0, result.stderr
    assert out.read_bytes().startswith(b"date,")


class MangledFile(FailingFile):
    """Reads back fewer bytes than were written (a file cut short under the merge) or
    bytes that are not what was written (damaged on disk)."""

    def read_at(self, size: int, offset: int) -> bytes:
        data = os.pread(self._file.fileno(), size, offset)
        if self._failing == "short":
            return data[:-1]
        return b"\xff" * len(data)


@pytest.mark.parametrize(
    ("mangling", "words"),
    [
        ("short", "spilled aggregates cut short"),
        ("damaged", "spilled aggregates are damaged on disk"),
    ],
)
def test_spilled_bytes_that_come_back_wrong_are_one_line_exit_3(
    tmp_path: Path,
    sandbox: Path,
    sandbox_locks: Path,
    monkeypatch: pytest.MonkeyPatch,
    mangling: str,
    words: str,
) -> None:
    """Not an interruption (a short read once made marshal raise EOFError, which click
    turns into Abort: exit 130 as if interrupted), and never a wrong table."""
    failing_disk(monkeypatch, "neither", errno.EIO, 0)
    view = vars(spill)["tempfile"]  # the module's own view, made by failing_disk
    view.TemporaryFile = lambda *args, **kwargs: MangledFile(mangling, errno.EIO, 0)
    out = tmp_path / "spend.csv"
    out.write_bytes(PREVIOUS)
    result = run_cli("merge", str(sandbox), "--out", str(out), "--locks-dir", str(sandbox_locks))
    assert result.code == 3, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0]
    assert out.read_bytes() == PREVIOUS
