"""Drift findings, one per kind, from realistic payloads; severity by consumer."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from verifier.capture import capture_from_sandbox
from verifier.drift import run_diff
from verifier.findings import Finding, Report

from .cli_helpers import run_cli
from .conftest import REFERENCE_PAYLOADS, assert_no_canary
from .drift_support import (
    SURFACE_NAMES,
    diff_costs_against_lock,
    documented_capture,
    mutated,
    payload,
    write_body,
    write_capture,
)


def only(report: Report, kind: str) -> list[Finding]:
    return [f for f in report.findings if f.kind == kind]


def one(report: Report, kind: str, path: str) -> Finding:
    [found] = [f for f in report.findings if f.kind == kind and f.path == path]
    return found


@pytest.mark.parametrize("surface", SURFACE_NAMES)
def test_documented_capture_matches_documented_schema(surface: str) -> None:
    report = run_diff([documented_capture(surface)])
    assert report.findings == ()
    assert report.verdict == "pass"


def seed_reference(tmp_path: Path, surface: str = "chatgpt_enterprise_usage") -> str:
    """The documented (seed) body as a payload reference: `diff --against FILE`."""
    return str(write_body(tmp_path, "reference.json", mutated(surface)))


def diff_against_seed(tmp_path: Path, body: dict[str, object]) -> Report:
    """A ChatGPT body diffed against the seed-shaped documented body."""
    path = write_body(tmp_path, "b.json", body)
    return run_diff([path], "chatgpt_enterprise_usage", against=seed_reference(tmp_path))


def test_peer_fixture_is_the_vendors_documented_row() -> None:
    report = run_diff(
        [REFERENCE_PAYLOADS / "codex_analytics_usage__peer_fixture_page1.json"],
        "chatgpt_enterprise_usage",
    )
    assert not only(report, "field_moved")
    assert not only(report, "schema_violation")
    # A workspace row names nobody: the attribution assumption is broken.
    missing = one(report, "field_missing", "data[].user_id")
    assert missing.severity == "breaking"
    assert "Codex rows name a workspace user" in missing.expected
    tokens = one(report, "field_missing", "data[].totals.text_output_tokens")
    assert tokens.severity == "warning"
    assert "shown as missing" in tokens.observed


def test_peer_fixture_moves_metrics_under_totals(tmp_path: Path) -> None:
    report = run_diff(
        [REFERENCE_PAYLOADS / "codex_analytics_usage__peer_fixture_page1.json"],
        "chatgpt_enterprise_usage",
        against=seed_reference(tmp_path),
    )
    moved = one(report, "field_moved", "data[].totals.credits")
    assert moved.severity == "breaking"
    assert moved.consumed_by_merge
    assert moved.expected == "at data[].credits"
    assert moved.observed == "at data[].totals.credits"
    assert moved.pointer == "/data/0/totals/credits"
    assert "data[].credits -> data[].totals.credits" in moved.message
    start = one(report, "timestamp_format_changed", "data[].start_time")
    assert (start.expected, start.observed) == ("rfc3339-z", "unix-seconds")
    # The format change explains the type change.
    assert not [f for f in only(report, "type_changed") if f.consumed_by_merge]
    added = one(report, "field_added", "data[].clients")
    assert added.severity == "info"
    assert report.verdict == "fail"


def test_field_missing(tmp_path: Path) -> None:
    body = mutated("chatgpt_enterprise_usage")
    for row in body["data"]:
        del row["credits"]
    report = diff_against_seed(tmp_path, body)
    [missing] = report.findings
    assert (missing.kind, missing.path, missing.severity) == (
        "field_missing",
        "data[].credits",
        "breaking",
    )
    assert missing.pointer == "/data/0/credits"
    assert missing.observed == "absent everywhere"


def test_missing_counts_the_merge_shows_as_missing_are_warnings(tmp_path: Path) -> None:
    body = mutated("chatgpt_enterprise_usage")
    for row in body["data"]:
        del row["tokens"]
    report = diff_against_seed(tmp_path, body)
    missing = one(report, "field_missing", "data[].tokens")
    assert missing.severity == "warning"
    assert "shown as missing" in missing.message
    assert report.verdict == "pass"


def test_field_added_is_info(tmp_path: Path) -> None:
    body = mutated("openai_org_costs")
    extra = payload("openai_costs__peer_fixture_result_extra_fields_langwatch.json")
    body["data"][0]["results"][0]["billing_org"] = extra["organization_id"]
    report = run_diff([write_body(tmp_path, "c.json", body)], "openai_org_costs")
    [added] = report.findings
    assert (added.kind, added.path, added.severity) == (
        "field_added",
        "data[].results[].billing_org",
        "info",
    )
    assert added.pointer == "/data/0/results/0/billing_org"
    assert report.verdict == "pass"


def test_number_to_numeric_string_is_a_tolerated_type_change(tmp_path: Path) -> None:
    body = mutated("openai_org_costs")
    live = payload("openai_costs__live_fragment_string_amount_codexbar999.json")
    body["data"][0]["results"][0]["amount"] = live["amount"]
    report = run_diff([write_body(tmp_path, "c.json", body)], "openai_org_costs")
    [changed] = report.findings
    assert changed.kind == "type_changed"
    assert changed.path == "data[].results[].amount.value"
    assert (changed.expected, changed.observed) == ("number", "numeric string")
    assert changed.severity == "warning"  # the parser reads it exactly: a tolerance
    assert "numeric-string amount exactly" in changed.message
    assert changed.pointer == "/data/0/results/0/amount/value"


def test_type_change_on_an_unread_path_is_a_warning(tmp_path: Path) -> None:
    body = mutated("openai_org_costs")
    body["data"][0]["results"][0]["line_item"] = 42
    report = run_diff([write_body(tmp_path, "c.json", body)], "openai_org_costs")
    [changed] = report.findings
    assert (changed.kind, changed.severity, changed.consumed_by_merge) == (
        "type_changed",
        "warning",
        False,
    )


def test_nullability_changed(tmp_path: Path) -> None:
    body = mutated("chatgpt_enterprise_usage")
    body["data"][1]["credits"] = None
    report = run_diff([write_body(tmp_path, "b.json", body)], "chatgpt_enterprise_usage")
    [changed] = report.findings
    assert (changed.kind, changed.path, changed.severity) == (
        "nullability_changed",
        "data[].credits",
        "breaking",
    )
    assert changed.pointer == "/data/1/credits"
    assert changed.observed == "null in 1 of 2 place(s)"


def test_presence_changed(tmp_path: Path) -> None:
    body = mutated("chatgpt_enterprise_usage")
    del body["data"][1]["credits"]
    report = diff_against_seed(tmp_path, body)
    [changed] = report.findings
    assert (changed.kind, changed.path, changed.severity) == (
        "presence_changed",
        "data[].credits",
        "breaking",
    )
    assert changed.pointer == "/data/1/credits"
    assert changed.observed == "present in 1 of 2 parent object(s)"


def test_presence_of_a_count_shown_as_missing_is_a_warning_with_the_share(
    tmp_path: Path,
) -> None:
    body = mutated("chatgpt_enterprise_usage")
    del body["data"][1]["turns"]
    report = run_diff([write_body(tmp_path, "b.json", body)], "chatgpt_enterprise_usage")
    [changed] = report.findings
    assert (changed.kind, changed.path, changed.severity) == (
        "presence_changed",
        "data[].turns",
        "warning",
    )
    assert "1 of 2 (50.0%)" in changed.observed
    assert "shown as missing" in changed.observed


@pytest.mark.parametrize(
    ("surface", "path", "value", "expected", "observed", "severity"),
    [
        (
            "chatgpt_enterprise_usage",
            "start_time",
            "2026-05-01T00:00:00+00:00",
            "rfc3339-z",
            "rfc3339-offset",
            "warning",  # the same instant: the parser's tolerance
        ),
        (
            "chatgpt_enterprise_usage",
            "start_time",
            1777593600,
            "rfc3339-z",
            "unix-seconds",
            "breaking",
        ),
        (
            "openai_org_costs",
            "start_time",
            1777593600000,
            "unix-seconds",
            "unix-millis",
            "breaking",
        ),
    ],
)
def test_timestamp_format_changed(
    tmp_path: Path,
    surface: str,
    path: str,
    value: object,
    expected: str,
    observed: str,
    severity: str,
) -> None:
    body = mutated(surface)
    for row in body["data"]:
        row[path] = value
    report = run_diff(
        [write_body(tmp_path, "b.json", body)], surface, against=seed_reference(tmp_path, surface)
    )
    [changed] = report.findings
    assert changed.kind == "timestamp_format_changed"
    assert changed.path == f"data[].{path}"
    assert (changed.expected, changed.observed) == (expected, observed)
    assert changed.severity == severity
    assert changed.pointer == f"/data/0/{path}"


def test_value_changed_from_the_2024_typo_example() -> None:
    name = "openai_costs__official_example_2024-12_typo_discriminator.json"
    report = run_diff(
        [REFERENCE_PAYLOADS / name],
        "openai_org_costs",
    )
    [changed] = only(report, "value_changed")
    assert changed.path == "data[].results[].object"
    assert changed.observed == 'string "orgainzation.costs.result"'
    assert changed.severity == "warning"  # the merge does not read `object`


def test_currency_change_is_breaking(tmp_path: Path) -> None:
    body = mutated("openai_org_costs")
    body["data"][0]["results"][0]["amount"]["currency"] = "eur"
    report = run_diff([write_body(tmp_path, "c.json", body)], "openai_org_costs")
    changed = one(report, "value_changed", "data[].results[].amount.currency")
    assert changed.severity == "breaking"
    assert "assumption currency-usd" in changed.expected
    assert changed.observed == '"eur"'


def test_unit_suspect_whole_cents_where_dollars_were_documented(tmp_path: Path) -> None:
    body = mutated("openai_org_costs")
    results = body["data"][0]["results"]
    results[0]["amount"]["value"] = 13
    results.append({**results[0], "amount": {"value": 250, "currency": "usd"}})
    report = run_diff([write_body(tmp_path, "c.json", body)], "openai_org_costs")
    suspect = one(report, "unit_suspect", "data[].results[].amount.value")
    assert suspect.severity == "breaking"
    assert "whole numbers only" in suspect.observed


def test_unit_suspect_against_a_lock(tmp_path: Path) -> None:
    locked = mutated("openai_org_costs")
    cents = mutated("openai_org_costs")
    cents["data"][0]["results"][0]["amount"]["value"] *= 100
    reference = write_body(tmp_path, "ref.json", locked)
    report = run_diff(
        [write_body(tmp_path, "cents.json", cents)], "openai_org_costs", against=str(reference)
    )
    [suspect] = report.findings
    assert suspect.kind == "unit_suspect"
    assert "100x" in suspect.observed


def test_pagination_changed(tmp_path: Path) -> None:
    body = mutated("chatgpt_enterprise_usage")
    body["next_cursor"] = body.pop("next_page")
    report = run_diff([write_body(tmp_path, "b.json", body)], "chatgpt_enterprise_usage")
    [changed] = report.findings
    assert (changed.kind, changed.path, changed.severity) == (
        "pagination_changed",
        "next_page",
        "breaking",
    )
    assert changed.observed == "the cursor in `next_cursor`"


def test_http_status_from_a_captured_error_page(tmp_path: Path) -> None:
    error = payload("openai_error__400_costs_api_key_grouping_floor_langwatch.json")
    path = write_capture(
        tmp_path, "openai_org_costs", [mutated("openai_org_costs"), error], [200, 400]
    )
    report = run_diff([path])
    [status] = report.findings
    assert status.kind == "http_status"
    assert status.pointer == "/pages/1/status"
    assert "group_by=api_key_id is not available" in status.observed


def test_vendor_docs_sandbox_against_documented(tmp_path: Path) -> None:
    run = capture_from_sandbox(
        tmp_path, scenario="vendor-docs", start=date(2026, 5, 1), end=date(2026, 5, 2), users=3
    )
    documented = run_diff(run.paths)
    # The vendor's documented shapes: nothing breaking, tolerances named.
    assert documented.verdict == "pass", [f.message for f in documented.findings]
    amount = one(documented, "type_changed", "data[].results[].amount.value")
    assert (amount.surface, amount.observed, amount.severity) == (
        "openai_org_costs",
        "numeric string",
        "warning",
    )
    [codex] = [p for p in run.paths if "chatgpt_enterprise_usage" in p.name]
    report = run_diff([codex], against=str(documented_capture("chatgpt_enterprise_usage")))
    moves = {(f.surface, f.expected, f.observed, f.severity) for f in only(report, "field_moved")}
    assert (
        "chatgpt_enterprise_usage",
        "at data[].credits",
        "at data[].totals.credits",
        "breaking",
    ) in moves
    assert (
        "chatgpt_enterprise_usage",
        "at data[].user.email",
        "at data[].actor.email",
        "breaking",
    ) in moves
    start = one(report, "timestamp_format_changed", "data[].start_time")
    assert (start.expected, start.observed, start.severity) == (
        "rfc3339-z",
        "unix-seconds",
        "breaking",
    )
    assert (
        "chatgpt_enterprise_usage",
        "at data[].user.id",
        "at data[].user_id",
        "breaking",
    ) in moves  # the same name with its parent folded in
    missing = one(report, "field_missing", "data[].tokens")
    assert missing.pointer.endswith("/data/0/tokens")
    assert missing.severity == "warning"  # the counts under it are shown as missing
    assert {f.severity for f in only(report, "field_added")} == {"info"}
    assert documented.to_json()["consumer_contract"]["openai_org_costs"]


def test_diff_cli_json_and_exit_codes(tmp_path: Path) -> None:
    clean = run_cli("diff", str(documented_capture("openai_org_users")), "--format", "json")
    assert clean.code == 0
    assert json.loads(clean.stdout)["verdict"] == "pass"
    body = mutated("chatgpt_enterprise_usage")
    for row in body["data"]:
        row["credits"] = {"amount": row["credits"]}
    path = write_body(tmp_path, "b.json", body)
    drifted = run_cli(
        "diff", "--surface", "chatgpt_enterprise_usage", str(path), "--format", "json"
    )
    assert drifted.code == 1
    document = json.loads(drifted.stdout)
    [finding] = [f for f in document["findings"] if f["path"] == "data[].credits"]
    assert finding["kind"] == "type_changed"
    assert finding["consumed_by_merge"] is True
    assert "data[].credits" in document["consumer_contract"]["chatgpt_enterprise_usage"]
    assert_no_canary(drifted.stdout)


def test_diff_against_missing_lock_is_a_usage_error(tmp_path: Path) -> None:
    result = diff_costs_against_lock(tmp_path)
    assert result.code == 2
    assert "no lock for openai_org_costs" in result.stderr


def test_streamed_diff_equals_whole_diff(tmp_path: Path) -> None:
    body = payload("codex_analytics_usage__peer_fixture_page1.json")
    path = write_body(tmp_path, "big.json", body)
    whole = run_diff([path], "chatgpt_enterprise_usage", stream_min_bytes=10**9)
    streamed = run_diff([path], "chatgpt_enterprise_usage", stream_min_bytes=0)
    assert streamed.to_json() == whole.to_json()
    assert streamed.findings


def test_diff_against_a_lock_file(tmp_path: Path) -> None:
    from verifier.lock import run_lock

    run_lock([documented_capture("openai_org_users")], locks_dir=tmp_path)
    body = mutated("openai_org_users")
    body["data"][0]["role"] = None  # the vendor allows null: widened, not drift
    body["data"][0]["role"] = 42
    path = write_body(tmp_path, "users.json", body)
    lock_file = tmp_path / "openai_org_users.lock.json"
    report = run_diff([path], "openai_org_users", against=str(lock_file))
    [changed] = report.findings
    assert (changed.kind, changed.path, changed.severity) == (
        "type_changed",
        "data[].role",
        "warning",
    )
    assert f"lock {lock_file}" in changed.message


def test_missing_envelope_member_points_into_the_capture_page(tmp_path: Path) -> None:
    body = mutated("openai_org_costs")
    del body["has_more"]
    report = run_diff([write_capture(tmp_path, "openai_org_costs", [body])])
    [missing] = report.findings
    assert (missing.kind, missing.path, missing.pointer) == (
        "field_missing",
        "has_more",
        "/pages/0/body/has_more",
    )


def test_against_a_payload_of_another_surface_is_refused(tmp_path: Path) -> None:
    result = run_cli(
        "diff",
        str(documented_capture("openai_org_costs")),
        "--against",
        str(documented_capture("openai_org_users")),
    )
    assert result.code == 2
    assert "openai_org_users" in result.stderr
    assert "Traceback" not in result.stderr
