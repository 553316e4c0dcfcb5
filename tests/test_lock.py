"""Lock files: written only after check passes (or --accept), versioned, atomic."""

from __future__ import annotations

import getpass
import hashlib
import json
from pathlib import Path

import pytest

from verifier.drift import run_diff
from verifier.errors import FormatVersionError, RefusedError, UsageError
from verifier.lock import read_lock, run_lock

from .cli_helpers import run_cli
from .conftest import DOCUMENTED_CAPTURES, ROOT
from .drift_support import (
    SURFACE_NAMES,
    diff_costs_against_lock,
    documented_capture,
    mutated,
    write_capture,
)


def _lock_documented(locks: Path) -> list[Path]:
    _report, written = run_lock(sorted(DOCUMENTED_CAPTURES.glob("*.json")), locks_dir=locks)
    return written


def test_lock_documented_captures_then_no_drift(tmp_path: Path) -> None:
    written = _lock_documented(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{s}.lock.json" for s in SURFACE_NAMES)
    report = run_diff(
        sorted(DOCUMENTED_CAPTURES.glob("*.json")), against="lock", locks_dir=tmp_path
    )
    assert report.findings == ()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_lock_provenance(tmp_path: Path) -> None:
    _lock_documented(tmp_path)
    capture = documented_capture("openai_org_costs")
    lock = read_lock(tmp_path / "openai_org_costs.lock.json")
    [provenance] = lock.captures
    assert provenance.sha256 == "sha256:" + hashlib.sha256(capture.read_bytes()).hexdigest()
    assert provenance.captured_at == "2026-05-02T00:00:00Z"
    assert lock.tool_version
    assert lock.locked_at.endswith("Z")
    raw = json.loads((tmp_path / "openai_org_costs.lock.json").read_text())
    assert raw["format"] == "verify-lock"
    assert raw["format_version"] == 2
    assert raw["mapping"]["amount"] == {
        "path": "data[].results[].amount.value",
        "origin": "variant:vendor",
    }
    assert "anonymisation_key_fingerprints" in raw["provenance"]


def test_capture_with_one_field_removed_gives_exactly_one_field_missing(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    _lock_documented(locks)
    body = mutated("openai_org_usage_completions")
    for bucket in body["data"]:
        for result in bucket["results"]:
            del result["num_model_requests"]
    capture = write_capture(tmp_path, "openai_org_usage_completions", [body])
    report = run_diff([capture], against="lock", locks_dir=locks)
    [missing] = report.findings
    assert (missing.kind, missing.path, missing.severity) == (
        "field_missing",
        "data[].results[].num_model_requests",
        "breaking",
    )


def test_lock_of_a_profile_without_a_field_sees_it_added(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    _lock_documented(locks)
    path = locks / "openai_org_users.lock.json"
    raw = json.loads(path.read_text())
    del raw["profile"]["paths"]["data[].role"]
    path.write_text(json.dumps(raw))
    report = run_diff([documented_capture("openai_org_users")], against="lock", locks_dir=locks)
    [added] = report.findings
    assert (added.kind, added.path, added.severity) == ("field_added", "data[].role", "info")


def test_failing_capture_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    body = mutated("chatgpt_enterprise_usage")
    for row in body["data"]:
        row["start_time"] = 1777593600
    capture = write_capture(tmp_path, "chatgpt_enterprise_usage", [body])
    locks = tmp_path / "locks"
    with pytest.raises(RefusedError, match="--accept"):
        run_lock([capture], locks_dir=locks)
    assert not locks.exists() or not list(locks.iterdir())
    result = run_cli("lock", str(capture), "--locks-dir", str(locks))
    assert result.code == 1
    assert "not locking chatgpt_enterprise_usage" in result.stderr


def test_accept_records_the_reviewed_findings(tmp_path: Path) -> None:
    body = mutated("chatgpt_enterprise_usage")
    for row in body["data"]:
        row["start_time"] = 1777593600
    capture = write_capture(tmp_path, "chatgpt_enterprise_usage", [body])
    locks = tmp_path / "locks"
    result = run_cli(
        "lock", str(capture), "--accept", "--reviewer", "reviewer-a", "--locks-dir", str(locks)
    )
    assert result.code == 0
    lock = read_lock(locks / "chatgpt_enterprise_usage.lock.json")
    assert {f["kind"] for f in lock.accepted} == {"tolerated"}
    changes = {f["change"] for f in lock.accepted}
    assert "schema_violation" in changes  # a seed row with a Unix-second start
    assert all(f["by"] == "reviewer-a" and f["at"].endswith("Z") for f in lock.accepted)
    # The lock now records both formats: the merge reads each edge in its recorded one.
    assert lock.mapping["start_time"]["formats"] == ["unix-seconds"]
    assert lock.mapping["end_time"]["formats"] == ["rfc3339-z"]
    # The accepted shape is now the reference: the same capture has no drift against it.
    assert run_diff([capture], against="lock", locks_dir=locks).findings == ()


def _edge_drifted_capture(tmp_path: Path) -> Path:
    body = mutated("chatgpt_enterprise_usage")
    for row in body["data"]:
        row["start_time"] = 1777593600
    return write_capture(tmp_path, "chatgpt_enterprise_usage", [body])


def test_accept_without_a_named_reviewer_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An acceptance nobody names is not a review, and the login name is personal data
    the committed lock would carry: --accept without --reviewer/$VERIFY_REVIEWER is a
    usage error (exit 2, one line) and writes nothing."""
    monkeypatch.delenv("VERIFY_REVIEWER", raising=False)
    capture = _edge_drifted_capture(tmp_path)
    locks = tmp_path / "locks"
    for extra in ([], ["--reviewer", "  "]):
        result = run_cli("lock", str(capture), "--accept", *extra, "--locks-dir", str(locks))
        assert result.code == 2
        [line] = result.stderr.splitlines()
        assert "--reviewer" in line and "VERIFY_REVIEWER" in line
        assert "Traceback" not in result.stderr
        assert not locks.exists() or not list(locks.iterdir())
    with pytest.raises(UsageError, match="--reviewer NAME or set VERIFY_REVIEWER"):
        run_lock([capture], locks_dir=locks, accept=True)


def test_reviewer_comes_from_the_option_else_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = _edge_drifted_capture(tmp_path)
    locks = tmp_path / "locks"
    monkeypatch.setenv("VERIFY_REVIEWER", "reviewer-env")
    assert run_cli("lock", str(capture), "--accept", "--locks-dir", str(locks)).code == 0
    lock = read_lock(locks / "chatgpt_enterprise_usage.lock.json")
    assert lock.accepted and {f["by"] for f in lock.accepted} == {"reviewer-env"}
    # The option wins over the environment.
    result = run_cli(
        "lock", str(capture), "--accept", "--reviewer", "reviewer-opt", "--locks-dir", str(locks)
    )
    assert result.code == 0
    lock = read_lock(locks / "chatgpt_enterprise_usage.lock.json")
    assert {f["by"] for f in lock.accepted if f["kind"] == "tolerated"} == {"reviewer-opt"}
    # The login name is never recorded.
    login = getpass.getuser()
    text = (locks / "chatgpt_enterprise_usage.lock.json").read_text()
    assert f'"by": "{login}"' not in text and f'"by":"{login}"' not in text


def test_lock_without_accept_needs_no_reviewer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERIFY_REVIEWER", raising=False)
    result = run_cli(
        "lock", str(documented_capture("openai_org_users")), "--locks-dir", str(tmp_path)
    )
    assert result.code == 0, result.stderr
    assert read_lock(tmp_path / "openai_org_users.lock.json").accepted == ()


def test_unknown_lock_version_is_refused_loudly(tmp_path: Path) -> None:
    _lock_documented(tmp_path)
    path = tmp_path / "openai_org_costs.lock.json"
    raw = json.loads(path.read_text())
    raw["format_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(FormatVersionError, match="lock format version 99 is not supported"):
        read_lock(path)
    result = diff_costs_against_lock(tmp_path)
    assert result.code == 2
    assert "lock format version 99" in result.stderr


def test_committed_locks_match_the_documented_captures() -> None:
    for surface in SURFACE_NAMES:
        lock = read_lock(ROOT / "captures" / "locks" / f"{surface}.lock.json")
        [provenance] = lock.captures
        capture = documented_capture(surface)
        digest = "sha256:" + hashlib.sha256(capture.read_bytes()).hexdigest()
        assert provenance.sha256 == digest, "re-run `verify lock captures/documented/*.json`"
        assert provenance.file == f"captures/documented/{surface}.json"


def test_a_file_that_is_not_a_lock_is_refused(tmp_path: Path) -> None:
    result = diff_costs_against_lock(tmp_path)
    assert result.code == 2
    (tmp_path / "openai_org_costs.lock.json").write_text('{"format": "something-else"}')
    result = diff_costs_against_lock(tmp_path)
    assert result.code == 2
    assert "is not a lock file" in result.stderr
