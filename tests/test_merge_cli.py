"""`verify merge`: gate first, refuse on drift or missing locks, write atomically."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES, assert_no_canary
from tests.merge_builders import chatgpt_body, chatgpt_row, source
from verifier.capture import capture_from_sandbox
from verifier.cli.merge import summary
from verifier.lock import run_lock
from verifier.merge import merge_sources
from verifier.sandbox.scenarios import SCENARIO_NAMES

SNAPSHOT_KEY = "merge-snapshot-key-0123456789abcdef0123456789"


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def masked_locks(document: dict[str, Any]) -> dict[str, Any]:
    """The merge metadata names the lock files read (temporary paths here): keep the
    file name, so the snapshot still shows which lock each surface was read through."""
    for reading in document["metadata"]["readings"].values():
        reading["lock"] = Path(reading["lock"]).name if reading["lock"] else None
    return document


@pytest.fixture(scope="module")
def documented_locks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Locks of the documented shapes, as `verify lock captures/documented` writes them."""
    locks = tmp_path_factory.mktemp("locks")
    run_lock([DOCUMENTED_CAPTURES], locks_dir=locks)
    return locks


@pytest.fixture(scope="module")
def vendor_docs_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vendor-docs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", SNAPSHOT_KEY)
        capture_from_sandbox(
            out, scenario="vendor-docs", start=date(2026, 5, 1), end=date(2026, 5, 3)
        )
    return out


def test_documented_captures_merge_to_the_expected_table(
    tmp_path: Path,
    documented_locks: Path,
    snapshot_json: SnapshotAssertion,
    canary_env: dict[str, str],
) -> None:
    out = tmp_path / "spend.json"
    result = run_cli(
        "merge", str(DOCUMENTED_CAPTURES), "--out", str(out), "--format", "json",
        "--locks-dir", str(documented_locks),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "join coverage: credits 0.9334 (1234 of 1322), dollars 1.0000" in result.stdout
    written = out.read_bytes()
    for text in (result.stdout, result.stderr, written):
        assert_no_canary(text)
    document = orjson.loads(written)
    assert document["metadata"]["provisional"] is False
    assert document["metadata"]["join_coverage"]["credits_share"] == "0.9334"
    assert masked_locks(document) == snapshot_json


def test_vendor_docs_capture_without_an_updated_lock_is_refused(
    tmp_path: Path,
    documented_locks: Path,
    vendor_docs_capture: Path,
    snapshot_json: SnapshotAssertion,
) -> None:
    out = tmp_path / "spend.csv"
    out.write_text("previous output\n")
    result = run_cli(
        "merge", str(vendor_docs_capture), "--out", str(out),
        "--locks-dir", str(documented_locks),
    )  # fmt: skip
    assert result.code == 1
    assert out.read_text() == "previous output\n"  # nothing written
    (line,) = result.stderr.splitlines()
    assert line.startswith("verify: error: merge refused, nothing written: ")
    for consumed in (
        "chatgpt_enterprise_usage data[].totals.credits (field_moved)",
        "chatgpt_enterprise_usage data[].start_time (timestamp_format_changed)",
        "chatgpt_enterprise_usage data[].user_id (field_moved)",
    ):
        assert consumed in line
    # Money first, nothing hidden, and the next step at the end.
    assert line.index("data[].totals.credits") < line.index("data[].start_time")
    assert "more path(s)" not in line
    assert line.endswith("`verify merge` reads through what the lock accepted")
    assert "gate: FAIL" in result.stdout
    assert {"stderr": line} == snapshot_json


def test_unlocked_surfaces_refuse_unless_allowed_and_then_output_is_provisional(
    tmp_path: Path,
) -> None:
    out = tmp_path / "spend.csv"
    locks = tmp_path / "no-locks"
    refused = run_cli(
        "merge", str(DOCUMENTED_CAPTURES), "--out", str(out), "--locks-dir", str(locks)
    )
    assert refused.code == 1
    assert "no lock for chatgpt_enterprise_usage" in refused.stderr
    assert not out.exists()
    allowed = run_cli(
        "merge", str(DOCUMENTED_CAPTURES), "--out", str(out), "--locks-dir", str(locks),
        "--allow-unlocked",
    )  # fmt: skip
    assert allowed.code == 0, allowed.stderr
    assert "PROVISIONAL" in allowed.stdout
    header, *rows = out.read_text().splitlines()
    assert header.endswith(",partial,covered_by,codex_native_cost_usd,provisional")
    assert rows and all(row.endswith(",true") for row in rows)


def test_credit_rate_adds_dollar_columns(tmp_path: Path, documented_locks: Path) -> None:
    out = tmp_path / "spend.jsonl"
    result = run_cli(
        "merge", str(DOCUMENTED_CAPTURES), "--out", str(out), "--format", "jsonl",
        "--credit-usd-rate", "0.04", "--locks-dir", str(documented_locks),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    joined = [r for r in map(orjson.loads, out.read_bytes().splitlines()) if r["openai_user_id"]]
    assert joined[0]["codex_cost_usd"] == "49.36"
    assert joined[0]["total_cost_usd"] == "49.49080438340307526"


def test_captures_anonymised_with_different_keys_are_refused(
    tmp_path: Path, documented_locks: Path
) -> None:
    inputs = tmp_path / "captures"
    shutil.copytree(DOCUMENTED_CAPTURES, inputs)
    users = inputs / "openai_org_users.json"
    document = orjson.loads(users.read_bytes())
    document["anonymisation"]["key_fingerprint"] = "sha256:" + "0" * 64
    users.write_bytes(orjson.dumps(document))
    out = tmp_path / "spend.csv"
    result = run_cli("merge", str(inputs), "--out", str(out), "--locks-dir", str(documented_locks))
    assert result.code == 1
    assert "anonymised with different keys" in result.stderr
    # Raw responses are never kept, so the hint must not ask for them.
    assert "raw responses are not kept" in result.stderr
    assert "re-capture" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--credit-usd-rate", "lots"], "--credit-usd-rate 'lots' is not a decimal number"),
        (["--credit-usd-rate", "NaN"], "must be a finite, non-negative number"),
        (["--format", "xml"], "Invalid value for '--format'"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "spend.csv"
    result = run_cli("merge", str(DOCUMENTED_CAPTURES), "--out", str(out), *args)
    assert result.code == 2
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"", "file is empty"),
        (b'{"data": [], "has_more": false}', "is not a capture file"),
    ],
)
def test_unreadable_inputs_exit_2_with_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    out = tmp_path / "spend.csv"
    result = run_cli("merge", str(bad), "--out", str(out))
    assert result.code == 2
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A capture of every sandbox scenario (fixed anonymisation key), plus locks made
    from the documented scenario's capture under the key "locks"."""
    dirs: dict[str, Path] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", SNAPSHOT_KEY)
        for scenario in SCENARIO_NAMES:
            dirs[scenario] = tmp_path_factory.mktemp(scenario)
            capture_from_sandbox(
                dirs[scenario], scenario=scenario, start=date(2026, 5, 1), end=date(2026, 5, 3)
            )
    dirs["locks"] = tmp_path_factory.mktemp("sandbox-locks")
    run_lock([dirs["documented"]], locks_dir=dirs["locks"])
    return dirs


def test_sandbox_documented_capture_merges_against_its_locks(
    tmp_path: Path, sandbox: dict[str, Path], snapshot_json: SnapshotAssertion
) -> None:
    out = tmp_path / "spend.json"
    result = run_cli(
        "merge", str(sandbox["documented"]), "--out", str(out), "--format", "json",
        "--locks-dir", str(sandbox["locks"]),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert masked_locks(orjson.loads(out.read_bytes())) == snapshot_json


@pytest.mark.parametrize("scenario", ["vendor-docs", "faults", "rejects-user-grouping"])
def test_sandbox_scenarios_with_breaking_drift_are_refused(
    tmp_path: Path, sandbox: dict[str, Path], scenario: str, snapshot_json: SnapshotAssertion
) -> None:
    out = tmp_path / "spend.csv"
    result = run_cli(
        "merge", str(sandbox[scenario]), "--out", str(out), "--locks-dir", str(sandbox["locks"])
    )
    assert result.code == 1
    assert not out.exists()
    (line,) = result.stderr.splitlines()
    assert {"stderr": line} == snapshot_json


def test_summary_names_partial_rows_provisional_output_and_focus_without_a_rate() -> None:
    partial_row = chatgpt_row("wsu", start="2026-05-01T17:00:00Z", credits=3)
    result = merge_sources(
        [source("chatgpt_enterprise_usage", chatgpt_body([partial_row]))], provisional=True
    )
    lines = summary(result, Path("spend.csv"), "focus").splitlines()
    assert lines[0] == (
        "merged 1 row(s) over 1 UTC day(s) from chatgpt_enterprise_usage into spend.csv (focus)"
    )
    assert lines[1].startswith("join coverage: credits 0.0000 (0 of 3), dollars n/a (none)")
    assert "1 row(s) flagged partial" in lines[2]
    assert lines[3] == "coverage:"
    assert lines[4].split() == [
        "chatgpt_enterprise_usage", "2026-05-01..2026-05-01", "(1", "day(s));", "no", "gaps"
    ]  # fmt: skip
    assert lines[5].startswith("PROVISIONAL")
    assert lines[6].startswith("focus: Codex rows carry credits only")
