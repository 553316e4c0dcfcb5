"""The gate: check + diff against locks for all four surfaces, refusing on drift."""

from __future__ import annotations

import json
from pathlib import Path

from verifier.consumers import consumed_paths
from verifier.gate import evaluate, run_gate
from verifier.inputs import load_sources
from verifier.lock import run_lock

from .cli_helpers import run_cli
from .conftest import DOCUMENTED_CAPTURES
from .drift_support import SURFACE_NAMES, mutated, write_capture

CAPTURES = sorted(DOCUMENTED_CAPTURES.glob("*.json"))


def _locks(tmp_path: Path) -> Path:
    locks = tmp_path / "locks"
    run_lock(CAPTURES, locks_dir=locks)
    return locks


def test_gate_passes_documented_captures_against_their_locks(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    report = evaluate(load_sources(CAPTURES), locks_dir=locks)
    assert report.verdict == "pass"
    assert report.extra["unlocked"] == []
    contract = report.extra["consumer_contract"]
    assert set(contract) == set(SURFACE_NAMES)
    assert contract["openai_org_costs"] == sorted(consumed_paths("openai_org_costs"))


def test_gate_fails_on_a_surface_without_a_lock(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    (locks / "openai_org_users.lock.json").unlink()
    report = run_gate(CAPTURES, locks_dir=locks)
    assert report.verdict == "fail"
    assert report.extra["unlocked"] == ["openai_org_users"]
    allowed = run_gate(CAPTURES, locks_dir=locks, allow_unlocked=True)
    assert allowed.verdict == "pass"
    assert allowed.extra["unlocked"] == ["openai_org_users"]


def test_gate_fails_on_breaking_drift(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    body = mutated("chatgpt_enterprise_usage")
    for row in body["data"]:
        row["totals"] = {"credits": row.pop("credits")}
    capture = write_capture(tmp_path, "chatgpt_enterprise_usage", [body])
    report = run_gate([capture], locks_dir=locks)
    assert report.verdict == "fail"
    kinds = {(f.kind, f.severity) for f in report.findings}
    assert ("field_moved", "breaking") in kinds
    assert ("schema_violation", "breaking") in kinds  # check ran too
    assert report.extra["uncaptured"] == [
        s for s in SURFACE_NAMES if s != "chatgpt_enterprise_usage"
    ]


def test_gate_cli_exit_codes_and_json(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    ok = run_cli("gate", *map(str, CAPTURES), "--locks-dir", str(locks), "--format", "json")
    assert ok.code == 0
    assert json.loads(ok.stdout)["verdict"] == "pass"
    empty = tmp_path / "no-locks"
    refused = run_cli("gate", *map(str, CAPTURES), "--locks-dir", str(empty))
    assert refused.code == 1
    assert "FAIL: no lock yet for" in refused.stdout
    warned = run_cli("gate", *map(str, CAPTURES), "--locks-dir", str(empty), "--allow-unlocked")
    assert warned.code == 0
    assert "warning: no lock yet" in warned.stdout
