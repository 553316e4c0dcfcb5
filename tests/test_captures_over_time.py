"""Captures over time: collision-free files and money kept digit for digit."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.cli_helpers import run_cli
from tests.test_capture_unit import IDENTITY, POLICY, access
from verifier import capture as capture_module
from verifier.capture import CaptureOptions, capture_from_sandbox, default_safety, run_capture
from verifier.exactjson import JsonNumber, dumps_default, loads_exact
from verifier.keys import key_from_text
from verifier.merge.load import merge_paths
from verifier.store import Capture, Page, RequestInfo, save_new_capture, serialise

LONG_AMOUNT = "0.1234567890123456789012345"  # 25 significant digits; a double keeps ~17


def _capture(surface: str = "openai_org_costs") -> Capture:
    return Capture(
        surface=surface,
        request=RequestInfo("GET", "https://api.test/x", {}),
        pages=(Page(200, "https://api.test/x", {}, {"data": [], "has_more": False}),),
        captured_at="2026-05-02T00:00:00Z",
        key_fingerprint=None,
    )


# -- collision-free names ----------------------------------------------------------------


def test_a_taken_name_is_never_overwritten(tmp_path: Path) -> None:
    first = save_new_capture(_capture(), tmp_path, "run1")
    before = first.read_bytes()
    second = save_new_capture(_capture(), tmp_path, "run1")  # same second, same run id
    assert first != second
    assert first.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])


def test_concurrent_writers_with_one_name_all_keep_their_file(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    written: list[Path] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        capture = _capture()
        barrier.wait()
        path = save_new_capture(capture, tmp_path, "same")
        with lock:
            written.append(path)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(written)) == 8
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".json"]) == 8
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_two_sandbox_runs_in_the_same_second_both_survive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture_module, "captured_at_now", lambda: "2026-05-08T02:00:00Z")
    runs: list[Any] = []

    def one_run() -> None:
        runs.append(capture_from_sandbox(tmp_path, start=date(2026, 5, 1), end=date(2026, 5, 7)))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paths = [path for run in runs for path in run.paths]
    assert len(paths) == 8 and len(set(paths)) == 8
    assert sorted(tmp_path.glob("*.json")) == sorted(paths)
    for path in paths:  # each file is whole and is its own run's
        assert orjson.loads(path.read_bytes())["format"] == "verify-capture"


# -- exact numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [LONG_AMOUNT, "1.50", "1E-8", "-0.0", "12.0", "3", "123456789012345678901234567890", "2.5e3"],
)
def test_numbers_round_trip_as_their_text(text: str) -> None:
    document = loads_exact(f'{{"v": {text}}}'.encode())
    assert orjson.loads(serialise(document))["v"] is not None
    assert serialise(document).decode().split('"v": ')[1].strip().rstrip("}").strip() == text


def test_exact_numbers_are_decimals_that_keep_their_text() -> None:
    number = loads_exact(f"[{LONG_AMOUNT}]".encode())[0]
    assert isinstance(number, JsonNumber)
    assert str(number) == LONG_AMOUNT
    assert dumps_default(number) is not None
    with pytest.raises(TypeError):
        dumps_default(object())


def _costs_body(amount_text: str) -> bytes:
    start = 1_777_593_600  # 2026-05-01T00:00:00Z
    return (
        '{"object": "page", "has_more": false, "next_page": null, "data": [{"object": "bucket", '
        f'"start_time": {start}, "end_time": {start + 86_400}, "results": [{{'
        '"object": "organization.costs.result", "user_id": "user-abc", '
        f'"amount": {{"value": {amount_text}, "currency": "usd"}}}}]}}]}}'
    ).encode()


@pytest.mark.parametrize("anonymised", [False, True], ids=["raw", "anonymised"])
def test_a_25_digit_amount_survives_capture_and_merge(tmp_path: Path, anonymised: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_costs_body(LONG_AMOUNT))

    safety = default_safety(key_from_text("test-key-for-exact-money"), ()) if anonymised else None
    client = httpx.Client(transport=httpx.MockTransport(handler))
    run = run_capture(
        client,
        [access("openai_org_costs")],
        CaptureOptions(start=date(2026, 5, 1), end=date(2026, 5, 1), retry=POLICY),
        tmp_path,
        safety or IDENTITY,
    )
    (path,) = run.paths
    assert f'"value": {LONG_AMOUNT}' in path.read_text()
    result = merge_paths([path])
    (row,) = result.rows
    assert str(row.api_cost_usd) == LONG_AMOUNT


def test_verify_anonymise_keeps_a_raw_body_s_digits(tmp_path: Path) -> None:
    raw = tmp_path / "costs.json"
    raw.write_bytes(_costs_body(LONG_AMOUNT))
    out = tmp_path / "out"
    result = run_cli(
        "anonymise",
        str(raw),
        "--surface",
        "openai_org_costs",
        "--out",
        str(out),
        env={"VERIFY_ANON_KEY": "test-key-for-exact-money"},
    )
    assert result.code == 0, result.stderr
    written = (out / "costs.json").read_text()
    assert f'"value": {LONG_AMOUNT}' in written
    (row,) = merge_paths([out / "costs.json"]).rows
    assert str(row.api_cost_usd) == LONG_AMOUNT
