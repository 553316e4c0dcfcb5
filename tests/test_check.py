"""`verify check` end to end: the issue's done-when cases and the JSON report contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from verifier.findings import FINDING_KINDS

from .cli_helpers import run_cli
from .conftest import DOCUMENTED_BODIES, DOCUMENTED_CAPTURES

FINDING_FIELDS = {
    "surface",
    "source",
    "kind",
    "path",
    "pointer",
    "severity",
    "expected",
    "observed",
    "consumed_by_merge",
    "message",
}


def _costs_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((DOCUMENTED_BODIES / "openai_org_costs.json").read_text())
    return body


def _write(tmp_path: Path, body: object, name: str = "body.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body))
    return path


def _json_report(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("check", "--format", "json", *args)
    return result.code, json.loads(result.stdout)


def test_documented_costs_body_passes(tmp_path: Path) -> None:
    path = _write(tmp_path, _costs_body())
    code, report = _json_report("--surface", "openai_org_costs", str(path))
    assert code == 0
    assert report["verdict"] == "pass"
    assert report["findings"] == []


def test_amount_value_as_string_is_a_located_tolerated_violation(tmp_path: Path) -> None:
    """The vendor broke its documentation, but the merge reads numeric strings exactly:
    a warning naming the tolerance (the same severity diff and gate give it)."""
    body = _costs_body()
    body["data"][0]["results"][0]["amount"]["value"] = "0.13"
    path = _write(tmp_path, body)
    code, report = _json_report("--surface", "openai_org_costs", str(path))
    assert code == 0
    assert report["verdict"] == "pass"
    [finding] = report["findings"]
    assert finding["severity"] == "warning"
    assert "numeric-string amount exactly" in finding["message"]
    assert finding["kind"] == "schema_violation"
    assert finding["path"] == "data[].results[].amount.value"
    assert finding["pointer"] == "/data/0/results/0/amount/value"
    assert finding["expected"] == "number"
    assert finding["observed"] == 'string "0.13"'
    assert finding["consumed_by_merge"] is True
    assert set(finding) >= FINDING_FIELDS


def test_start_time_as_rfc3339_is_a_located_violation(tmp_path: Path) -> None:
    body = _costs_body()
    body["data"][0]["start_time"] = "2026-05-01T00:00:00Z"
    path = _write(tmp_path, body)
    code, report = _json_report("--surface", "openai_org_costs", str(path))
    assert code == 1
    [finding] = report["findings"]
    assert (finding["path"], finding["pointer"]) == ("data[].start_time", "/data/0/start_time")
    assert "2026-05-01T00:00:00Z" in finding["observed"]


def test_pointer_is_exact_for_later_occurrences(tmp_path: Path) -> None:
    body = _costs_body()
    bucket = body["data"][0]
    result = bucket["results"][0]
    bucket["results"] = [result, json.loads(json.dumps(result)), json.loads(json.dumps(result))]
    bucket["results"][2]["amount"]["value"] = "1.5"
    bucket["results"][1]["amount"]["value"] = "2.5"
    path = _write(tmp_path, body)
    _code, report = _json_report("--surface", "openai_org_costs", str(path))
    [finding] = report["findings"]
    assert finding["pointer"] == "/data/0/results/1/amount/value"
    assert finding["occurrences"] == 2


def test_capture_file_pointers_are_inside_the_capture(tmp_path: Path) -> None:
    capture = json.loads((DOCUMENTED_CAPTURES / "openai_org_costs.json").read_text())
    capture["pages"][0]["body"]["data"][0]["results"][0]["amount"]["value"] = True
    path = _write(tmp_path, capture, "capture.json")
    code, report = _json_report(str(path))
    assert code == 1
    [finding] = report["findings"]
    assert finding["path"] == "data[].results[].amount.value"
    assert finding["pointer"] == "/pages/0/body/data/0/results/0/amount/value"
    assert finding["source"] == str(path)


def test_documented_capture_directory_passes() -> None:
    code, report = _json_report(str(DOCUMENTED_CAPTURES))
    assert code == 0
    assert len(report["sources"]) == 4
    assert report["summary"] == {"breaking": 0, "warning": 0, "info": 0}


def test_non_2xx_page_in_a_capture_is_an_http_status_finding(tmp_path: Path) -> None:
    capture = json.loads((DOCUMENTED_CAPTURES / "openai_org_costs.json").read_text())
    capture["pages"][0]["status"] = 400
    capture["pages"][0]["body"] = {
        "error": {
            "message": "Invalid value for group_by: 'user_id'.",
            "type": "invalid_request_error",
            "param": "group_by",
            "code": None,
        }
    }
    path = _write(tmp_path, capture, "rejected.json")
    code, report = _json_report(str(path))
    assert code == 1
    [finding] = report["findings"]
    assert finding["kind"] == "http_status"
    assert finding["pointer"] == "/pages/0/status"
    assert "HTTP 400" in finding["observed"]
    assert "group_by" in finding["observed"]
    assert finding["kind"] in FINDING_KINDS


def test_unsafe_strings_are_not_echoed(tmp_path: Path) -> None:
    """A violation on a PII field must not print the personal value it found."""
    body = json.loads((DOCUMENTED_BODIES / "chatgpt_enterprise_usage.json").read_text())
    body["data"][0]["user"]["id"] = {"email": "real.person@corp.test"}
    body["data"][1]["user"]["email"] = "not-an-email-but-private"
    path = _write(tmp_path, body)
    result = run_cli("check", "--surface", "chatgpt_enterprise_usage", str(path))
    assert result.code == 1
    assert "real.person@corp.test" not in result.stdout
    assert "not-an-email-but-private" not in result.stdout
    assert "value withheld" in result.stdout


def test_text_report_groups_by_file_and_says_the_verdict(tmp_path: Path) -> None:
    body = _costs_body()
    body["data"][0]["results"][0]["amount"]["value"] = "thirteen cents"
    bad = _write(tmp_path, body, "bad.json")
    good = _write(tmp_path, _costs_body(), "good.json")
    result = run_cli("check", "--surface", "openai_org_costs", str(bad), str(good))
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "openai_org_costs"
    assert lines[1].strip() == str(bad)
    assert "schema_violation data[].results[].amount.value" in lines[2]
    assert f"ok  {good}" in result.stdout
    assert lines[-1].startswith("check: FAIL (2 file(s); 1 breaking")
    assert "\x1b[" not in result.stdout  # not a terminal: no colour
