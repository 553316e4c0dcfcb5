"""End to end: a consumed money field renamed by the vendor is recognised by its values
against the lock of a reviewed capture of the same data, accepted in review (`verify lock
--accept`), and the merge reads through the accepted move: its totals equal the sums over
the raw bodies."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from verifier.capture import capture_from_sandbox

from .cli_helpers import run_cli

OLD = "data[].results[].amount.value"
NEW = "data[].results[].amount.billed"


def _capture_of(directory: Path, surface: str) -> Path:
    [path] = [
        p for p in directory.glob("*.json") if json.loads(p.read_text())["surface"] == surface
    ]
    return path


def _rename_amounts(path: Path) -> None:
    """What the vendor did: `amount.value` is now `amount.billed`, digit for digit."""
    text = path.read_text()
    results = sum(len(b["results"]) for p in _raw(path)["pages"] for b in p["body"]["data"])
    assert text.count('"value"') == results > 0  # only the amounts carry a "value"
    path.write_text(text.replace('"value"', '"billed"'))


def _raw(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(), parse_float=Decimal)
    return document


def _sum_billed(path: Path) -> Decimal:
    return sum(
        (
            Decimal(str(result["amount"]["billed"]))
            for page in _raw(path)["pages"]
            for bucket in page["body"]["data"]
            for result in bucket["results"]
        ),
        Decimal(0),
    )


def _sum_credits(path: Path) -> Decimal:
    rows = (row for page in _raw(path)["pages"] for row in page["body"]["data"])
    return sum((Decimal(str(row["credits"])) for row in rows), Decimal(0))


def test_renamed_money_field_is_recognised_accepted_and_merged_through(tmp_path: Path) -> None:
    reviewed = tmp_path / "reviewed"
    capture_from_sandbox(reviewed, start=date(2026, 5, 1), end=date(2026, 5, 4), users=4)
    locks = tmp_path / "locks"
    assert run_cli("lock", str(reviewed), "--locks-dir", str(locks)).code == 0

    live = tmp_path / "live"
    shutil.copytree(reviewed, live)
    costs = _capture_of(live, "openai_org_costs")
    _rename_amounts(costs)
    assert ".billed" not in json.dumps(_raw(_capture_of(reviewed, "openai_org_costs")), default=str)

    # The gate recognises the move by its values and refuses it until it is reviewed.
    gate = run_cli("gate", str(live), "--locks-dir", str(locks), "--format", "json")
    assert gate.code == 1
    report = json.loads(gate.stdout)
    [moved] = [f for f in report["findings"] if f["kind"] == "field_moved"]
    assert (moved["expected"], moved["observed"]) == (f"at {OLD}", f"at {NEW}")
    assert moved["severity"] == "breaking"
    assert "values in the same" in moved["message"]
    assert not [f for f in report["findings"] if f["kind"] in ("field_missing", "field_added")]

    blocked = tmp_path / "blocked.csv"
    refused = run_cli("merge", str(live), "--out", str(blocked), "--locks-dir", str(locks))
    assert refused.code == 1
    assert not blocked.exists()

    # Review: accept. The lock records the move, and the mapping the merge reads through.
    accepted = run_cli(
        "lock", str(live), "--accept", "--reviewer", "reviewer-a", "--locks-dir", str(locks)
    )
    assert accepted.code == 0, accepted.stderr
    lock = json.loads((locks / "openai_org_costs.lock.json").read_text())
    assert NEW in json.dumps(lock["mapping"])
    assert OLD not in json.dumps(lock["mapping"])
    [record] = [a for a in lock["accepted"] if NEW in json.dumps(a)]
    assert OLD in json.dumps(record)

    # The merge reads the dollars through the accepted move: totals equal the raw sums.
    out = tmp_path / "spend.csv"
    merged = run_cli("merge", str(live), "--out", str(out), "--locks-dir", str(locks))
    assert merged.code == 0, merged.stderr
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    dollars = sum((Decimal(r["api_cost_usd"]) for r in rows if r["api_cost_usd"]), Decimal(0))
    credits = sum((Decimal(r["codex_credits"]) for r in rows if r["codex_credits"]), Decimal(0))
    assert dollars == _sum_billed(costs) > 0
    assert credits == _sum_credits(_capture_of(live, "chatgpt_enterprise_usage")) > 0
