"""Captures that overlap (a backfill given again, daily runs over the same months): the
capture that loses dates to another is read again without them, and the versions of a
shared date are compared, both without holding a page (`verifier.merge.stream.
read_exact` streams a large capture in row slices; `verifier.merge.load.
_restated_values` compares the versions by digest a date at a time). The output is the
whole-file route's, byte for byte, with exact amounts and restatements named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_exact_rows import STREAMED, costs_capture, outputs
from verifier.merge import load_capture, merge_paths, merge_sources
from verifier.merge import stream as merge_stream

TEXTS = ["0.12345678901234567", "1.50", "2.5E-7", "3"]
# The newer capture's amounts: the older one's on the shared days (its days start 3 days
# later, 5 users a day, so 15 amounts later in the cycle of 4), or others.
SAME = TEXTS[3:] + TEXTS[:3]
OTHER = TEXTS


def captured_at(path: Path, moment: str) -> Path:
    """The capture file with another `captured_at` (its number texts kept as written)."""
    text = path.read_text()
    before = json.loads(text)["captured_at"]
    path.write_text(text.replace(json.dumps(before), json.dumps(moment), 1))
    return path


def overlapping(tmp_path: Path, newer_texts: list[str]) -> list[Path]:
    """Six days captured on 05-02, then days 3-8 captured on 05-09 (days 3-5 shared)."""
    old = costs_capture(tmp_path / "old.json", TEXTS, days=6, users=5)
    new = costs_capture(tmp_path / "new.json", newer_texts, days=6, users=5, first_day=3)
    return [old, captured_at(new, "2026-05-09T00:00:00Z")]


def whole_files(paths: list[Path]) -> dict[str, bytes] | str:
    return outputs(lambda: merge_sources([load_capture(p) for p in paths]))


def never_by_page(*args: Any) -> Any:
    raise AssertionError("a streamed capture was read a page at a time")


@pytest.mark.parametrize("given_twice", [False, True])
def test_a_capture_losing_dates_is_read_again_in_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given_twice: bool
) -> None:
    paths = overlapping(tmp_path, OTHER)
    if given_twice:
        paths.append(paths[0])  # the same file twice: counts once
    expected = whole_files(paths)
    assert isinstance(expected, dict)
    monkeypatch.setattr(merge_stream, "_exact_bodies", never_by_page)
    assert outputs(lambda: merge_paths(paths, stream_min_bytes=STREAMED)) == expected


def test_restatements_are_named_from_the_versions_that_differ(tmp_path: Path) -> None:
    paths = overlapping(tmp_path, OTHER)
    streamed = merge_paths(paths, stream_min_bytes=STREAMED)
    whole = merge_sources([load_capture(p) for p in paths])
    assert streamed.restatements == whole.restatements
    assert streamed.restatements  # the amounts differ on the shared days
    (tmp_path / "same").mkdir()
    unchanged = merge_paths(overlapping(tmp_path / "same", SAME), stream_min_bytes=STREAMED)
    assert unchanged.restatements == ()


def test_a_slice_the_standard_library_refuses_is_read_by_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = overlapping(tmp_path, TEXTS)
    expected = whole_files(paths)

    class Refusing(json.JSONDecoder):
        def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
            raise json.JSONDecodeError("refused", s, 0)

    monkeypatch.setattr(merge_stream, "_EXACT_ITEMS", Refusing())
    assert outputs(lambda: merge_paths(paths, stream_min_bytes=STREAMED)) == expected
