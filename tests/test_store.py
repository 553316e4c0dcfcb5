"""Capture envelope: round trip, version refusal, atomic writes that never half-write."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from verifier import __version__
from verifier.errors import DiskError, FormatVersionError, InputError, RefusedError
from verifier.inputs import load_sources
from verifier.store import (
    CAPTURE_FORMAT_VERSION,
    Capture,
    Coverage,
    CoverageWindow,
    Page,
    RequestInfo,
    atomic_write_bytes,
    capture_filename,
    capture_from_json,
    save_capture,
)

from .conftest import DOCUMENTED_CAPTURES


def _capture() -> Capture:
    return Capture(
        surface="openai_org_costs",
        request=RequestInfo(
            "GET", "https://api.openai.com/v1/organization/costs", {"bucket_width": "1d"}
        ),
        pages=(
            Page(200, "https://api.openai.com/v1/organization/costs?page=tok_1", {}, {"a": 1}),
            Page(502, "https://api.openai.com/v1/organization/costs", {}, None, "<html>bad</html>"),
        ),
        captured_at="2026-11-27T10:00:00Z",
        key_fingerprint="sha256:0123456789abcdef",
        source="sandbox:faults",
    )


def test_round_trip(tmp_path: Path) -> None:
    capture = _capture()
    path = save_capture(capture, tmp_path / capture_filename(capture))
    document = json.loads(path.read_text())
    assert document["format"] == "verify-capture"
    assert document["format_version"] == CAPTURE_FORMAT_VERSION
    assert document["tool_version"] == __version__
    assert capture_from_json(document, str(path)) == capture
    assert path.name == "openai_org_costs__20261127T100000Z.json"


def test_loaded_capture_exposes_pages_as_bodies(tmp_path: Path) -> None:
    path = save_capture(_capture(), tmp_path / "c.json")
    [source] = load_sources([path])
    assert source.surface.name == "openai_org_costs"
    assert [b.pointer_prefix for b in source.bodies] == ["/pages/0/body", "/pages/1/body"]
    assert [b.ok for b in source.bodies] == [True, False]
    assert source.bodies[1].body_text == "<html>bad</html>"


def test_unknown_version_is_refused_loudly() -> None:
    document = json.loads((DOCUMENTED_CAPTURES / "openai_org_costs.json").read_text())
    document["format_version"] = 3
    with pytest.raises(FormatVersionError, match="format version 3 is not supported"):
        capture_from_json(document, "x.json")


def test_version_1_captures_stay_readable_and_are_rewritten_as_version_1() -> None:
    document = json.loads((DOCUMENTED_CAPTURES / "openai_org_costs.json").read_text())
    assert document["format_version"] == 1
    capture = capture_from_json(document, "x.json")
    assert capture.coverage is None and capture.format_version == 1
    again = capture.to_json()
    assert again["format_version"] == 1 and "coverage" not in again


def test_coverage_round_trips_through_the_envelope() -> None:
    coverage = Coverage(
        1_777_593_600,
        1_777_852_800,
        (
            CoverageWindow(1_777_593_600, 1_777_680_000, "cut", "look-back"),
            CoverageWindow(1_777_680_000, 1_777_852_800, "answered"),
        ),
    )
    capture = replace(_capture(), coverage=coverage)
    document = capture.to_json()
    assert document["format_version"] == CAPTURE_FORMAT_VERSION == 2
    assert document["coverage"]["windows"][0] == {
        "start": "2026-05-01T00:00:00Z",
        "end": "2026-05-02T00:00:00Z",
        "state": "cut",
        "reason": "look-back",
    }
    assert capture_from_json(document, "x.json").coverage == coverage
    document["coverage"]["windows"][0]["state"] = "maybe"
    with pytest.raises(InputError, match="malformed capture file"):
        capture_from_json(document, "x.json")


def test_malformed_capture_is_an_input_error() -> None:
    document = json.loads((DOCUMENTED_CAPTURES / "openai_org_costs.json").read_text())
    del document["pages"]
    with pytest.raises(InputError, match="malformed capture file"):
        capture_from_json(document, "x.json")


def test_guard_refusal_leaves_existing_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "capture.json"
    target.write_text("previous content")

    def refuse(_data: bytes) -> None:
        raise RefusedError("leak at pages[0].body.email")

    with pytest.raises(RefusedError):
        save_capture(_capture(), target, guard=refuse)
    assert target.read_text() == "previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capture.json"]


def test_guard_sees_the_exact_bytes_written(tmp_path: Path) -> None:
    seen: list[bytes] = []
    path = save_capture(_capture(), tmp_path / "c.json", guard=seen.append)
    assert seen == [path.read_bytes()]


def test_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    blocked = tmp_path / "dir"
    blocked.mkdir()
    target = blocked / "out.json"
    target.mkdir()  # renaming a file over a directory fails
    with pytest.raises(DiskError, match="could not write"):
        atomic_write_bytes(target, b"{}")
    assert [p.name for p in blocked.iterdir()] == ["out.json"]


def test_interrupted_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(_src: str, _dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(tmp_path / "out.json", b"{}")
    assert list(tmp_path.iterdir()) == []
