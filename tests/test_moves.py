"""Moves recognised by their values: renames, re-nestings, type changes, ambiguity.

Each test diffs a live-shaped payload against a clean one of the same data (`verify diff
--against CLEAN.json`, or a lock made from it), as a user would after a vendor change."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from verifier.drift import run_diff
from verifier.findings import Finding, Report
from verifier.lock import run_lock

from .cli_helpers import run_cli
from .drift_support import write_body

COSTS = "openai_org_costs"
DAY = 86_400
START = 1_777_593_600


def costs_body(rows: int = 20) -> dict[str, Any]:
    """Cost buckets, one result per person-day, with distinct amounts."""
    data = []
    for day in range(rows // 4):
        results = [
            {
                "object": "organization.costs.result",
                "amount": {"value": round(0.37 * (day * 4 + i + 1), 6), "currency": "usd"},
                "line_item": None,
                "user_id": f"user-{day * 4 + i:04d}abcdefghijklmnopq",
                "project_id": None,
            }
            for i in range(4)
        ]
        data.append(
            {
                "object": "bucket",
                "start_time": START + day * DAY,
                "end_time": START + (day + 1) * DAY,
                "results": results,
            }
        )
    return {"object": "page", "data": data, "has_more": False, "next_page": None}


def results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for bucket in body["data"] for r in bucket["results"]]


def changed(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = copy.deepcopy(costs_body())
    for result in results(body):
        edit(result)
    return body


def diff(tmp_path: Path, live: dict[str, Any], clean: dict[str, Any] | None = None) -> Report:
    clean_path = write_body(tmp_path, "clean.json", clean or costs_body())
    live_path = write_body(tmp_path, "live.json", live)
    return run_diff([live_path], COSTS, against=str(clean_path))


def kinds(report: Report) -> list[tuple[str, str]]:
    return sorted((f.kind, f.path) for f in report.findings)


def the(report: Report, kind: str) -> Finding:
    [found] = [f for f in report.findings if f.kind == kind]
    return found


def rename(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def edit(result: dict[str, Any]) -> None:
        result[new] = result.pop(old)

    return edit


def test_rename_within_a_parent_is_a_move_with_its_evidence(tmp_path: Path) -> None:
    def edit(result: dict[str, Any]) -> None:
        amount = result["amount"]
        amount["value_usd"] = amount.pop("value")

    report = diff(tmp_path, changed(edit))
    assert kinds(report) == [("field_moved", "data[].results[].amount.value_usd")]
    moved = the(report, "field_moved")
    assert moved.expected == "at data[].results[].amount.value"
    assert moved.observed == "at data[].results[].amount.value_usd"
    assert moved.pointer == "/data/0/results/0/amount/value_usd"
    assert "same 20 values in the same 20 rows" in moved.message
    assert moved.severity == "breaking"  # the merge reads amount.value
    assert moved.consumed_by_merge


def test_renesting_one_level_down_is_a_move(tmp_path: Path) -> None:
    def edit(result: dict[str, Any]) -> None:
        result["user"] = {"ident": result.pop("user_id")}

    report = diff(tmp_path, changed(edit))
    assert kinds(report) == [("field_moved", "data[].results[].user.ident")]
    moved = the(report, "field_moved")
    assert moved.expected == "at data[].results[].user_id"
    assert "same 20 values in the same 20 rows" in moved.message


def test_renesting_one_level_up_is_a_move(tmp_path: Path) -> None:
    def nest(result: dict[str, Any]) -> None:
        result["user"] = {"id": result.pop("user_id")}

    def flatten(result: dict[str, Any]) -> None:
        result["member"] = result.pop("user")["id"]

    nested = changed(nest)
    flat = copy.deepcopy(nested)
    for result in results(flat):
        flatten(result)
    report = diff(tmp_path, flat, clean=nested)
    moved = the(report, "field_moved")
    assert (moved.expected, moved.observed) == (
        "at data[].results[].user.id",
        "at data[].results[].member",
    )
    # The emptied parent is not reported on its own: its content moved. (Neither side
    # carries a `user_id` the merge could attribute costs by: the consumer contract says so.)
    assert kinds(report) == [
        ("field_missing", "data[].results[].user_id"),
        ("field_moved", "data[].results[].member"),
    ]


def test_rename_with_a_type_change_is_reported_as_both(tmp_path: Path) -> None:
    def edit(result: dict[str, Any]) -> None:
        amount = result["amount"]
        amount["amount"] = repr(amount.pop("value"))  # a numeric string, as live costs send

    report = diff(tmp_path, changed(edit))
    assert kinds(report) == [
        ("field_moved", "data[].results[].amount.amount"),
        ("type_changed", "data[].results[].amount.amount"),
    ]
    retyped = the(report, "type_changed")
    assert (retyped.expected, retyped.observed) == ("number", "numeric string")
    assert "data[].results[].amount.value -> data[].results[].amount.amount" in retyped.message
    # Judged as the consumed path it came from: the merge reads numeric-string amounts
    # exactly, so the type change is a tolerated warning; the move is what breaks.
    assert retyped.severity == "warning"
    assert the(report, "field_moved").severity == "breaking"


def test_two_candidates_with_equal_fingerprints_are_ambiguous(tmp_path: Path) -> None:
    def edit(result: dict[str, Any]) -> None:
        value = result["amount"].pop("value")
        result["amount"]["billed"] = value
        result["amount"]["list_price"] = value

    report = diff(tmp_path, changed(edit))
    assert not [f for f in report.findings if f.kind == "field_moved"]
    missing = the(report, "field_missing")
    assert missing.path == "data[].results[].amount.value"
    assert "ambiguous" in missing.observed
    assert "data[].results[].amount.billed" in missing.observed
    assert "data[].results[].amount.list_price" in missing.observed
    assert missing.severity == "breaking"
    added = sorted(f.path for f in report.findings if f.kind == "field_added")
    assert added == ["data[].results[].amount.billed", "data[].results[].amount.list_price"]


def test_two_vanished_fields_with_the_same_values_are_ambiguous(tmp_path: Path) -> None:
    clean = costs_body()
    for result in results(clean):
        result["amount"]["list"] = result["amount"]["value"]
    live = copy.deepcopy(clean)
    for result in results(live):
        result["amount"]["net"] = result["amount"].pop("value")
        del result["amount"]["list"]
    report = diff(tmp_path, live, clean=clean)
    assert not [f for f in report.findings if f.kind == "field_moved"]
    missing = {f.path: f for f in report.findings if f.kind == "field_missing"}
    assert set(missing) == {"data[].results[].amount.value", "data[].results[].amount.list"}
    assert all("ambiguous" in f.observed for f in missing.values())


def test_same_values_in_other_rows_still_move_but_say_so(tmp_path: Path) -> None:
    clean = costs_body()
    live = changed(rename("user_id", "member_id"))
    # The same people, each on another row.
    ids = [r["member_id"] for r in results(live)]
    for result, user in zip(results(live), ids[1:] + ids[:1], strict=True):
        result["member_id"] = user
    moved = the(diff(tmp_path, live, clean=clean), "field_moved")
    assert "same 20 values, in other rows" in moved.message


def test_different_values_and_names_are_not_paired(tmp_path: Path) -> None:
    def edit(result: dict[str, Any]) -> None:
        amount = result["amount"]
        amount["spent"] = amount.pop("value") * 2

    report = diff(tmp_path, changed(edit))
    assert kinds(report) == [
        ("field_added", "data[].results[].amount.spent"),
        ("field_missing", "data[].results[].amount.value"),
    ]


def test_name_based_matching_stays_the_fallback(tmp_path: Path) -> None:
    """Against a payload of another period (other values), the same name still pairs."""

    def edit(result: dict[str, Any]) -> None:
        result["billing"] = {"user_id": result.pop("user_id") + "x"}

    moved = the(diff(tmp_path, changed(edit)), "field_moved")
    assert moved.observed == "at data[].results[].billing.user_id"
    assert "same name under another parent" in moved.message


def test_a_lock_recognises_the_move_without_holding_the_values(tmp_path: Path) -> None:
    clean = write_body(tmp_path, "clean.json", costs_body())
    locks = tmp_path / "locks"
    report, [lock_file] = run_lock([clean], surface=COSTS, locks_dir=locks)
    assert report.verdict == "pass"
    text = lock_file.read_text()
    middle = results(costs_body())[7]
    for value in (middle["user_id"], str(middle["amount"]["value"])):
        assert value not in text  # hashes and number ranges only
    fingerprint = json.loads(text)["profile"]["paths"]["data[].results[].user_id"]["fingerprint"]
    assert fingerprint["sketch"]["size"] == 20

    live = write_body(tmp_path, "live.json", changed(rename("user_id", "member")))
    result = run_cli(
        "diff", str(live), "--surface", COSTS, "--against", "lock", "--locks-dir", str(locks),
        "--format", "json",
    )  # fmt: skip
    assert result.code == 1
    [moved] = [f for f in json.loads(result.stdout)["findings"] if f["kind"] == "field_moved"]
    assert moved["expected"] == "at data[].results[].user_id"
    assert "same 20 values in the same 20 rows" in moved["message"]


@pytest.mark.parametrize("rows", [4, 40])
def test_streamed_and_whole_reading_recognise_the_same_move(tmp_path: Path, rows: int) -> None:
    clean = write_body(tmp_path, "clean.json", costs_body(rows))
    body = costs_body(rows)
    for result in results(body):
        result["uid"] = result.pop("user_id")
    live = write_body(tmp_path, "live.json", body)
    whole = run_diff([live], COSTS, against=str(clean))
    streamed = run_diff([live], COSTS, against=str(clean), stream_min_bytes=0)
    assert whole.findings == streamed.findings
    assert the(whole, "field_moved").path == "data[].results[].uid"


def test_many_leaves_with_equal_fingerprints_are_ambiguous_and_named_briefly(
    tmp_path: Path,
) -> None:
    """A hostile payload: hundreds of renamed members holding the same constant."""

    def members(prefix: str) -> dict[str, Any]:
        return {f"{prefix}{i}": 7 for i in range(300)}

    clean, live = costs_body(), costs_body()
    for result in results(clean):
        result["extra"] = members("a")
    for result in results(live):
        result["extra"] = members("b")
    report = diff(tmp_path, live, clean=clean)
    missing = [f for f in report.findings if f.kind == "field_missing"]
    assert len(missing) == 300
    assert not [f for f in report.findings if f.kind == "field_moved"]
    for finding in missing:
        assert "ambiguous move: not guessed" in finding.observed
        assert finding.observed.count("data[].results[].extra.b") == 5  # then "and others"
        assert "and others" in finding.observed
