"""Every sandbox scenario captured end to end over real loopback HTTP, with the real
anonymiser and leak gate in the path."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from verifier.capture import CaptureRun, capture_from_sandbox
from verifier.contract import run_check
from verifier.surfaces import SURFACE_NAMES

START, END = date(2026, 5, 1), date(2026, 5, 6)
ANON_KEY = "test-anonymisation-key-for-capture-e2e-0123456789"


@pytest.fixture(autouse=True)
def fixed_anonymisation_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """One key for every run here, so captures of different scenarios compare."""
    monkeypatch.setenv("VERIFY_ANON_KEY", ANON_KEY)


def capture(tmp_path: Path, scenario: str) -> CaptureRun:
    return capture_from_sandbox(tmp_path / scenario, scenario=scenario, start=START, end=END)


def document(run: CaptureRun, surface: str) -> dict[str, Any]:
    (path,) = [p for p in run.paths if p.name.startswith(surface + "__")]
    loaded: dict[str, Any] = orjson.loads(path.read_bytes())
    return loaded


def rows(doc: dict[str, Any]) -> list[Any]:
    """Every data row of every 2xx page, in order (pages are an artefact of page sizes)."""
    return [row for page in doc["pages"] if page["status"] == 200 for row in page["body"]["data"]]


def test_documented_capture_is_clean_and_passes_check(tmp_path: Path) -> None:
    run = capture(tmp_path, "documented")
    assert run.findings == () and run.failures == () and run.exit_code == 0
    assert sorted(p.name.split("__")[0] for p in run.paths) == sorted(SURFACE_NAMES)
    report = run_check([str(p) for p in run.paths])
    assert report.findings == ()
    for surface in SURFACE_NAMES:
        doc = document(run, surface)
        assert doc["source"] == "sandbox:documented"
        assert doc["anonymisation"]["key_fingerprint"].startswith("sha256:")
        assert rows(doc), f"{surface} captured no rows"


def test_capture_is_anonymised_but_still_joins(tmp_path: Path) -> None:
    run = capture(tmp_path, "documented")
    raw = b"".join(p.read_bytes() for p in run.paths)
    assert b"sandbox.example" not in raw
    assert b"Sandbox Developer" not in raw
    users = rows(document(run, "openai_org_users"))
    ids = {u["id"] for u in users}
    costs = document(run, "openai_org_costs")
    cost_ids = {r["user_id"] for b in rows(costs) for r in b["results"]} - {None}
    assert cost_ids and cost_ids <= ids


def test_vendor_docs_capture_differs_from_the_documented_schema(tmp_path: Path) -> None:
    run = capture(tmp_path, "vendor-docs")
    assert run.findings == ()
    codex = rows(document(run, "chatgpt_enterprise_usage"))
    assert all(isinstance(r["start_time"], int) and "totals" in r for r in codex)
    costs = rows(document(run, "openai_org_costs"))
    assert all(isinstance(r["amount"]["value"], str) for b in costs for r in b["results"])
    violations = run_check([str(p) for p in run.paths]).findings
    # Codex rows are the vendor's documented row; live string amounts break the spec's
    # `number`, which the merge tolerates (a warning naming the tolerance).
    assert {f.surface for f in violations} == {"openai_org_costs"}
    assert {(f.path, f.severity) for f in violations} == {
        ("data[].results[].amount.value", "warning")
    }


def test_rejects_user_grouping_records_the_400(tmp_path: Path) -> None:
    run = capture(tmp_path, "rejects-user-grouping")
    (finding,) = run.findings
    assert finding.surface == "openai_org_costs" and finding.kind == "http_status"
    assert "HTTP 400" in finding.observed and "group_by" in finding.observed
    doc = document(run, "openai_org_costs")
    assert [p["status"] for p in doc["pages"]] == [400]
    assert doc["findings"][0]["kind"] == "http_status"
    assert run.exit_code == 1


def test_faults_complete_with_correct_data_where_retries_can_succeed(tmp_path: Path) -> None:
    clean = capture(tmp_path, "documented")
    faulty = capture(tmp_path, "faults")
    assert faulty.failures == ()
    for surface in ("openai_org_usage_completions", "chatgpt_enterprise_usage", "openai_org_users"):
        got, want = document(faulty, surface), document(clean, surface)
        assert all(p["status"] == 200 for p in got["pages"]), surface
        assert rows(got) == rows(want), f"{surface} data differs after retries"


def test_faults_that_cannot_be_retried_are_clear_findings(tmp_path: Path) -> None:
    run = capture(tmp_path, "faults")
    kinds = sorted((f.surface, f.kind) for f in run.findings)
    assert kinds == [
        ("chatgpt_enterprise_usage", "pagination_changed"),
        ("openai_org_costs", "http_status"),
        ("openai_org_users", "pagination_changed"),
    ]
    by_surface = {f.surface: f for f in run.findings}
    assert "HTTP 500" in by_surface["openai_org_costs"].observed
    assert "server had an error" in by_surface["openai_org_costs"].message
    assert "loop" in by_surface["openai_org_users"].observed
    assert "has_more" in by_surface["chatgpt_enterprise_usage"].observed
    costs = document(run, "openai_org_costs")
    assert [p["status"] for p in costs["pages"]] == [200, 500]
    recorded = [f["kind"] for f in document(run, "openai_org_users")["findings"]]
    assert recorded == ["pagination_changed"]


def test_capture_time_findings_survive_verify_check(tmp_path: Path) -> None:
    run = capture(tmp_path, "faults")
    kinds = {(f.surface, f.kind) for f in run_check([str(p) for p in run.paths]).findings}
    assert ("openai_org_users", "pagination_changed") in kinds
    assert ("openai_org_costs", "http_status") in kinds


def test_only_requested_surfaces_are_captured(tmp_path: Path) -> None:
    run = capture_from_sandbox(
        tmp_path, start=START, end=END, surfaces=["openai_org_users"], users=5
    )
    assert [p.name.split("__")[0] for p in run.paths] == ["openai_org_users"]
    assert len(rows(document(run, "openai_org_users"))) == 5


def test_sandbox_run_without_a_configured_key_uses_the_public_sandbox_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERIFY_ANON_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runs = [
        capture_from_sandbox(tmp_path / "out", start=START, end=END, surfaces=["openai_org_users"])
        for _ in range(2)
    ]
    assert all(run.paths for run in runs)
    assert not (tmp_path / "config").exists(), "a sandbox run must not create a key file"
    prints = {document(run, "openai_org_users")["anonymisation"]["key_fingerprint"] for run in runs}
    assert len(prints) == 1, "sandbox runs share one key, so their captures merge"
