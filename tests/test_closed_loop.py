"""The closed loop, as a new user walks it: a drifted live capture -> gate refuses ->
review -> `verify lock --accept` -> gate passes with warnings -> `verify merge` writes a
table whose credits, dollars and tokens equal sums computed here, independently, from
the capture's raw bodies."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import CliResult, run_cli
from tests.conftest import DOCUMENTED_CAPTURES
from tests.drift_support import edit_captures
from verifier.capture import capture_from_sandbox

KEY = "closed-loop-key-0123456789abcdef0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent
COMMITTED_LOCKS = ROOT / "captures" / "locks"
AMOUNT = "data[].results[].amount.value"


def sandbox(out: Path, scenario: str, days: int = 3) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", KEY)
        capture_from_sandbox(
            out, scenario=scenario, start=date(2026, 5, 1), end=date(2026, 5, days)
        )
    return out


def documented_locks(tmp_path: Path) -> Path:
    """Locks of the documented shapes (what a team had before its first live capture)."""
    locks = tmp_path / "locks"
    shutil.copytree(COMMITTED_LOCKS, locks)
    return locks


def bodies(directory: Path, surface: str) -> Iterator[dict[str, Any]]:
    for path in sorted(directory.glob(f"{surface}*.json")):
        document = json.loads(path.read_text(), parse_float=Decimal)
        for page in document["pages"]:
            if 200 <= page["status"] < 300:
                yield page["body"]


def number(value: Any) -> Decimal:
    return Decimal(str(value))


def raw_totals(
    directory: Path, credits_at: tuple[str, ...] = ("totals", "credits")
) -> dict[str, Decimal]:
    """Credits, dollars and tokens straight from the raw bodies (no tool code involved)."""
    credits = dollars = tokens = Decimal(0)
    for body in bodies(directory, "chatgpt_enterprise_usage"):
        for row in body["data"]:
            node: Any = row
            for key in credits_at:
                node = node[key]
            credits += number(node)
            totals = row.get("totals") or {}
            for key in (
                "uncached_text_input_tokens",
                "cached_text_input_tokens",
                "text_output_tokens",
            ):
                tokens += totals.get(key, 0)
            for key in ("text_input", "cached_input", "output"):
                tokens += (row.get("tokens") or {}).get(key, 0)
    for body in bodies(directory, "openai_org_costs"):
        for bucket in body["data"]:
            for result in bucket["results"]:
                dollars += number(result["amount"]["value"])
    for body in bodies(directory, "openai_org_usage_completions"):
        for bucket in body["data"]:
            for result in bucket["results"]:
                tokens += result["input_tokens"] + result["output_tokens"]
    return {"credits": credits, "dollars": dollars, "tokens": tokens}


def merged_totals(document: dict[str, Any]) -> dict[str, Decimal]:
    credits = dollars = tokens = Decimal(0)
    for row in document["rows"]:
        credits += Decimal(row["codex_credits"] or 0)
        dollars += Decimal(row["api_cost_usd"] or 0)
        for column in (
            "codex_input_tokens",
            "codex_cached_input_tokens",
            "codex_output_tokens",
            "api_input_tokens",
            "api_output_tokens",
        ):
            tokens += row[column] or 0
    return {"credits": credits, "dollars": dollars, "tokens": tokens}


def gate(captures: Path, locks: Path, *extra: str) -> CliResult:
    return run_cli("gate", str(captures), "--locks-dir", str(locks), *extra)


def merge(captures: Path, locks: Path, out: Path) -> CliResult:
    return run_cli(
        "merge", str(captures), "--out", str(out), "--format", "json", "--locks-dir", str(locks)
    )


def accept(captures: Path, locks: Path, *extra: str) -> CliResult:
    return run_cli(
        "lock", str(captures), "--accept", "--locks-dir", str(locks), "--reviewer", "reviewer-a",
        *extra,
    )  # fmt: skip


def close_the_loop(captures: Path, locks: Path, tmp_path: Path) -> dict[str, Any]:
    """gate exit 1 -> lock --accept -> gate exit 0 with warnings -> merge; the table."""
    refused = gate(captures, locks)
    assert refused.code == 1, refused.stdout
    assert "blocking (" in refused.stdout
    assert "verify lock --accept" in refused.stdout.splitlines()[-1]
    reviewed = accept(captures, locks)
    assert reviewed.code == 0, reviewed.stdout + reviewed.stderr
    passed = gate(captures, locks)
    assert passed.code == 0, passed.stdout
    assert "WARNING" in passed.stdout
    out = tmp_path / "spend.json"
    merged = merge(captures, locks, out)
    assert merged.code == 0, merged.stdout + merged.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def test_vendor_docs_capture_closes_the_loop(tmp_path: Path) -> None:
    captures = sandbox(tmp_path / "live", "vendor-docs")
    locks = documented_locks(tmp_path)
    refused = gate(captures, locks)
    for breaking in (
        "chatgpt_enterprise_usage data[].totals.credits (field_moved)",
        "chatgpt_enterprise_usage data[].start_time (timestamp_format_changed)",
    ):
        assert breaking in refused.stdout
    # Money first in the blocking list.
    blocking = refused.stdout.split("blocking (", 1)[1].splitlines()[1]
    assert "credits" in blocking
    document = close_the_loop(captures, locks, tmp_path)
    assert merged_totals(document) == raw_totals(captures)
    assert merged_totals(document)["dollars"] > 0
    # The metadata names the lock and the accepted mapping the merge relied on.
    codex = document["metadata"]["readings"]["chatgpt_enterprise_usage"]
    assert codex["lock"].endswith("chatgpt_enterprise_usage.lock.json")
    assert codex["mapping"]["credits"]["path"] == "data[].totals.credits"
    lock = json.loads((locks / "chatgpt_enterprise_usage.lock.json").read_text())
    moves = {(a["from"], a["to"]) for a in lock["accepted"] if a["kind"] == "move"}
    assert ("data[].credits", "data[].totals.credits") in moves
    assert all(a["by"] == "reviewer-a" for a in lock["accepted"])


def test_offset_codex_edges_are_read_as_the_same_instant(tmp_path: Path) -> None:
    captures = sandbox(tmp_path / "live", "documented")
    locks = documented_locks(tmp_path)

    def offset_edges(body: dict[str, Any]) -> None:
        for row in body["data"]:
            for edge in ("start_time", "end_time"):
                row[edge] = row[edge].replace("Z", "+00:00")

    edit_captures(captures, "chatgpt_enterprise_usage", offset_edges)
    tolerated = gate(captures, locks)
    assert tolerated.code == 0, tolerated.stdout
    assert "timestamp_format_changed data[].start_time" in tolerated.stdout
    out = tmp_path / "spend.json"
    merged = merge(captures, locks, out)
    assert merged.code == 0, merged.stderr
    document = json.loads(out.read_text())
    assert merged_totals(document) == raw_totals(captures, ("credits",))
    # And after review the lock records the offset spelling; the merge still reads it.
    assert accept(captures, locks).code == 0
    assert gate(captures, locks).code == 0
    assert merge(captures, locks, out).code == 0


def test_vendor_docs_capture_with_offset_edges_closes_the_loop(tmp_path: Path) -> None:
    captures = sandbox(tmp_path / "live", "vendor-docs")

    def offset_edges(body: dict[str, Any]) -> None:
        for row in body["data"]:
            for edge in ("start_time", "end_time"):
                moment = datetime.fromtimestamp(row[edge], UTC)
                row[edge] = moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")

    edit_captures(captures, "chatgpt_enterprise_usage", offset_edges)
    document = close_the_loop(captures, documented_locks(tmp_path), tmp_path)
    assert merged_totals(document) == raw_totals(captures)


def test_identity_moved_to_an_unknown_path_merges_once_the_move_is_accepted(
    tmp_path: Path,
) -> None:
    captures = sandbox(tmp_path / "live", "vendor-docs")
    locks = documented_locks(tmp_path)
    assert accept(captures, locks).code == 0
    first = tmp_path / "first.json"
    assert merge(captures, locks, first).code == 0

    def move_email(body: dict[str, Any]) -> None:
        for row in body["data"]:
            row["contact"] = {"email": row["actor"].pop("email")}

    edit_captures(captures, "chatgpt_enterprise_usage", move_email)
    refused = gate(captures, locks)
    assert refused.code == 1
    assert "chatgpt_enterprise_usage data[].contact.email (field_moved)" in refused.stdout
    reviewed = accept(captures, locks)
    assert reviewed.code == 0, reviewed.stdout
    lock = json.loads((locks / "chatgpt_enterprise_usage.lock.json").read_text())
    assert lock["mapping"]["email"] == {"path": "data[].contact.email", "origin": "accepted move"}
    assert gate(captures, locks).code == 0
    out = tmp_path / "spend.json"
    assert merge(captures, locks, out).code == 0
    document = json.loads(out.read_text())
    assert merged_totals(document) == raw_totals(captures)
    # The identities still join through the moved email: same coverage as before.
    before = json.loads(first.read_text())["metadata"]["join_coverage"]
    assert document["metadata"]["join_coverage"] == before
    reading = document["metadata"]["readings"]["chatgpt_enterprise_usage"]
    assert reading["mapping"]["email"]["origin"] == "accepted move"


def test_a_hundredfold_amount_stays_refused_until_the_scale_is_stated(tmp_path: Path) -> None:
    captures = sandbox(tmp_path / "live", "vendor-docs")
    locks = documented_locks(tmp_path)
    assert accept(captures, locks).code == 0
    dollars = raw_totals(captures)["dollars"]

    def cents(body: dict[str, Any]) -> None:
        for bucket in body["data"]:
            for result in bucket["results"]:
                result["amount"]["value"] = str(Decimal(result["amount"]["value"]) * 100)

    edit_captures(captures, "openai_org_costs", cents)
    refused = gate(captures, locks)
    assert refused.code == 1
    assert f"openai_org_costs {AMOUNT} (unit_suspect)" in refused.stdout
    unstated = accept(captures, locks)
    assert unstated.code == 1  # written, but the unit change was not accepted
    assert f"NOT ACCEPTED openai_org_costs {AMOUNT} (unit_suspect)" in unstated.stdout
    assert gate(captures, locks).code == 1
    out = tmp_path / "spend.json"
    assert merge(captures, locks, out).code == 1
    assert not out.exists()
    stated = accept(captures, locks, "--scale", f"{AMOUNT}=0.01")
    assert stated.code == 0, stated.stdout
    passed = gate(captures, locks)
    assert passed.code == 0
    assert "values read times 0.01" in passed.stdout
    assert merge(captures, locks, out).code == 0
    assert merged_totals(json.loads(out.read_text()))["dollars"] == dollars


def test_documented_30_day_capture_passes_the_committed_locks(tmp_path: Path) -> None:
    captures = sandbox(tmp_path / "live", "documented", days=31)
    result = gate(captures, COMMITTED_LOCKS)
    assert result.code == 0, result.stdout
    assert "BREAKING" not in result.stdout


def test_committed_locks_are_the_documented_captures(tmp_path: Path) -> None:
    """`verify lock captures/documented` regenerates captures/locks (profile and mapping)."""
    fresh = tmp_path / "locks"
    assert run_cli("lock", str(DOCUMENTED_CAPTURES), "--locks-dir", str(fresh)).code == 0
    for path in sorted(fresh.glob("*.lock.json")):
        committed = json.loads((COMMITTED_LOCKS / path.name).read_text())
        written = json.loads(path.read_text())
        assert committed["format_version"] == written["format_version"] == 2
        assert committed["mapping"] == written["mapping"]
        assert committed["profile"] == written["profile"]


def test_a_non_usd_currency_passes_check_but_is_breaking_in_the_gate(tmp_path: Path) -> None:
    captures = tmp_path / "live"
    shutil.copytree(DOCUMENTED_CAPTURES, captures)

    def euros(body: dict[str, Any]) -> None:
        for bucket in body["data"]:
            for result in bucket["results"]:
                result["amount"]["currency"] = "eur"

    edit_captures(captures, "openai_org_costs", euros)
    costs = str(next(captures.glob("openai_org_costs*.json")))
    assert run_cli("check", costs).code == 0
    refused = gate(captures, COMMITTED_LOCKS)
    assert refused.code == 1
    assert "assumption currency-usd" in refused.stdout
    assert "openai_org_costs data[].results[].amount.currency" in refused.stdout
