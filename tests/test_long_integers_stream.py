"""Number tokens of 16+ digits and the streaming reader (`verifier.inputs._CheckedReader`):
an integer JSON keeps exactly (within +-(2**53-1): Unix microseconds, a drift a vendor
may make) no longer sends a large file to the whole-file reader; an integer beyond it,
or a float with 16+ digits before its point, still does (which refuses the one and reads
the other exactly), wherever the chunk boundaries fall."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES
from tests.test_streamed_captures import assert_streamed_equals_whole, really_streams
from verifier.coverage import iso_day, timestamp_seconds
from verifier.inputs import NotStreamable, _CheckedReader
from verifier.merge.timestamps import DECODERS

MICROSECONDS = 1_780_000_000_123_456  # 2026-05-28 in Unix microseconds: 16 digits


def read_all(data: bytes, size: int) -> bytes:
    reader = _CheckedReader(io.BytesIO(data))
    parts = []
    while chunk := reader.read(size):
        parts.append(chunk)
    return b"".join(parts)


def document(token: str) -> bytes:
    return ('{"data": [{"start_time": ' + token + ', "n": 1}], "has_more": false}').encode()


@pytest.mark.parametrize("size", [1, 3, 7, 16, 17, 1 << 20])
def test_exact_long_integers_stream_at_every_chunk_boundary(size: int) -> None:
    for token in (str(MICROSECONDS), str(-MICROSECONDS), str(2**53 - 1)):
        data = document(token)
        assert read_all(data, size) == data


@pytest.mark.parametrize("size", [1, 3, 7, 16, 17, 1 << 20])
@pytest.mark.parametrize(
    "token",
    [str(2**53), "-9007199254740992", "12345678901234567890", "1234567890123456.5",
     "1234567890123456e2", "1234567890123456E-2"],
)  # fmt: skip
def test_others_go_to_the_whole_file_reader_at_every_chunk_boundary(size: int, token: str) -> None:
    with pytest.raises(NotStreamable):
        read_all(document(token), size)


def test_digit_runs_inside_strings_stream() -> None:
    data = document('"12345678901234567890"')
    assert read_all(data, 5) == data


def in_microseconds(folder: Path) -> Path:
    """The documented usage capture with its bucket times in Unix microseconds."""
    capture = json.loads((DOCUMENTED_CAPTURES / "openai_org_usage_completions.json").read_text())
    for page in capture["pages"]:
        for bucket in page["body"]["data"]:
            bucket["start_time"] *= 1_000_000
            bucket["end_time"] *= 1_000_000
    path = folder / "openai_org_usage_completions.json"
    path.write_text(json.dumps(capture, indent=2))
    return path


def test_a_capture_in_microseconds_streams_and_agrees_with_the_whole_file(
    tmp_path: Path,
) -> None:
    """Read streamed (no fallback to the whole file), and every reader's report equals
    the one of the file read whole (the drift it shows included)."""
    path = in_microseconds(tmp_path)
    assert b"0000000," in path.read_bytes()  # 16-digit integers in the file
    assert really_streams(path)
    assert_streamed_equals_whole(path)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1_780_000_000, 1_780_000_000),
        (1_780_000_000_123, 1_780_000_000),
        (1_780_000_000_123_456, 1_780_000_000),
        (1_780_000_000_123_456_789, 1_780_000_000),
        (10**30, None),  # beyond nanoseconds: edges it cannot read, not an overflow
        (-1, None),
    ],
)
def test_bucket_edges_in_any_unix_unit_locate_coverage(value: int, seconds: int | None) -> None:
    assert timestamp_seconds(value) == seconds
    if seconds is not None:
        assert iso_day(seconds) == "2026-05-28"


def test_a_merge_of_microseconds_read_as_seconds_is_refused_not_crashed(tmp_path: Path) -> None:
    """Microseconds where seconds are documented: the gate names the drift, and even
    let through unlocked, the merge refuses (exit 1), with no traceback and no output."""
    in_microseconds(tmp_path)
    out = tmp_path / "spend.csv"
    result = run_cli("merge", str(tmp_path), "--out", str(out), "--allow-unlocked")
    assert result.code == 1
    assert "timestamp_format_changed" in result.stdout + result.stderr
    assert "internal error" not in result.stdout + result.stderr
    assert not out.exists()
    assert DECODERS["unix-seconds"](1_780_000_000_123_456) is None  # no UTC date
    assert DECODERS["unix-millis"](1_780_000_000_123) == 1_780_000_000
