"""End to end: a consumed money field renamed by the vendor is recognised by its values
against the lock of a reviewed capture of the same data."""

from __future__ import annotations

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


def test_gate_recognises_a_renamed_money_field_by_its_values(tmp_path: Path) -> None:
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
