"""The closed loop with what the vendor sends beyond credits and dollars: Codex
`totals.cost_usd`, `models[]` / `clients[]` breakdowns, and costs results that carry
`user_email` but no `user_id`. Every expected figure is computed here, independently,
from the capture's raw bodies (no tool code involved)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.cli_helpers import run_cli
from tests.drift_support import edit_captures
from tests.test_closed_loop import (
    bodies,
    close_the_loop,
    documented_locks,
    merged_totals,
    number,
    raw_totals,
    sandbox,
)
from verifier.merge import merge_paths

CODEX = "chatgpt_enterprise_usage"
COSTS = "openai_org_costs"
DIFFERENCE = "difference to totals"


def _vendor_extras(body: dict[str, Any]) -> None:
    """What a live Codex answer may carry: native dollars on some rows (a string, a
    number, or not at all), parts that do not add up to the totals, no parts, a part
    without its credits."""
    for index, row in enumerate(body["data"]):
        totals = row["totals"]
        credits = number(totals["credits"])
        if index % 3 == 0:
            totals["cost_usd"] = "0.1250"
        elif index % 3 == 1:
            totals["cost_usd"] = 2
        if index % 4 == 0:
            row["models"] = [
                {"model": "gpt-5-codex", "speed": "fast", "credits": int(credits) // 2},
                {"model": "gpt-5.3-codex-mini", "speed": "standard", "credits": 0},
            ]
            row["clients"] = [
                {"client_id": "CODEX_CLI", "threads": 1, "turns": 2, "credits": int(credits) // 3},
                {"client_id": "CODEX_WEB", "threads": 1, "turns": 1, "credits": 1},
            ]
        elif index % 4 == 1:
            row["models"] = None
        elif index % 4 == 3:
            del row["models"][0]["credits"]


def _email_only(body: dict[str, Any]) -> None:
    """Half of the attributed cost results lose their user_id and keep user_email."""
    for bucket in body["data"]:
        for position, result in enumerate(bucket["results"]):
            if result["user_id"] is not None and position % 2 == 0:
                result["user_id"] = None


def _day(start: Any) -> str:
    return datetime.fromtimestamp(int(start), UTC).date().isoformat()


def _codex_person(row: dict[str, Any]) -> str:
    actor = row.get("actor") or {}
    email = actor.get("email") or row.get("email")
    if email:
        return str(email).lower()
    user_id = row.get("user_id") or actor.get("user_id")
    return f"chatgpt:{user_id}" if user_id else "unattributed"


def _raw_codex(captures: Path) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (_day(row["start_time"]), _codex_person(row), row)
        for body in bodies(captures, CODEX)
        for row in body["data"]
    ]


def _raw_dollars(captures: Path) -> dict[tuple[str, str], Decimal]:
    """API dollars per (day, person): user_id through the users list, else user_email."""
    directory = {
        user["id"]: user.get("email")
        for body in bodies(captures, "openai_org_users")
        for user in body["data"]
    }
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for body in bodies(captures, COSTS):
        for bucket in body["data"]:
            day = _day(bucket["start_time"])
            for result in bucket["results"]:
                user_id, email = result.get("user_id"), result.get("user_email")
                if user_id:
                    known = directory.get(user_id)
                    person = known.lower() if known else f"openai:{user_id}"
                elif email:
                    person = email.lower()
                else:
                    person = "unattributed"
                out[(day, person)] += number(result["amount"]["value"])
    return dict(out)


def _merge(captures: Path, locks: Path, out: Path, *extra: str) -> dict[str, Any]:
    result = run_cli(
        "merge", str(captures), "--out", str(out), "--format", "json",
        "--locks-dir", str(locks), *extra,
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def test_native_dollars_breakdowns_and_email_attribution_close_the_loop(tmp_path: Path) -> None:
    captures = sandbox(tmp_path / "live", "vendor-docs")
    edit_captures(captures, CODEX, _vendor_extras)
    edit_captures(captures, COSTS, _email_only)
    locks = documented_locks(tmp_path)
    document = close_the_loop(captures, locks, tmp_path)
    rows = {(row["date"], row["person"]): row for row in document["rows"]}
    raw = _raw_codex(captures)

    # Credits, API dollars and tokens: exactly the raw sums; native dollars are not in
    # the API dollars, nor in the join coverage's dollars.
    assert merged_totals(document) == raw_totals(captures)
    assert Decimal(document["metadata"]["join_coverage"]["dollars_total"]) == sum(
        _raw_dollars(captures).values()
    )

    # Native dollars: exact per person-day where every row sent them, empty where one
    # did not, 0 only for a person with no Codex row on a date the capture covers.
    native = {(day, person): row["totals"].get("cost_usd") for day, person, row in raw}
    assert set(native.values()) >= {"0.1250", 2, None}
    for key, sent in native.items():
        cell = rows[key]["codex_native_cost_usd"]
        assert cell == (None if sent is None else format(number(sent), "f")), key
    for key, row in rows.items():
        if key not in native:
            assert row["codex_native_cost_usd"] == "0", key

    # Costs results without a user_id are attributed by their user_email.
    dollars = _raw_dollars(captures)
    for key, amount in dollars.items():
        assert Decimal(rows[key]["api_cost_usd"]) == amount, key
    emailed = {
        result["user_email"].lower()
        for body in bodies(captures, COSTS)
        for bucket in body["data"]
        for result in bucket["results"]
        if result["user_id"] is None and result.get("user_email")
    }
    assert emailed and all(any(p == e for _d, p in dollars) for e in emailed)
    assert not any(person.startswith("email:") for _day, person in rows)


def _expected_parts(
    raw: list[tuple[str, str, dict[str, Any]]], container: str, labels: tuple[str, ...]
) -> dict[tuple[str, str], dict[tuple[Any, ...], Decimal | None]]:
    out: dict[tuple[str, str], dict[tuple[Any, ...], Decimal | None]] = {}
    for day, person, row in raw:
        parts = out.setdefault((day, person), {})
        listed: Decimal | None = Decimal(0)
        for entry in row.get(container) or ():
            key = tuple(entry.get(label) for label in labels)
            value = number(entry["credits"]) if "credits" in entry else None
            before = parts.get(key, Decimal(0))
            parts[key] = None if before is None or value is None else before + value
            listed = None if listed is None or value is None else listed + value
        rest = None if listed is None else number(row["totals"]["credits"]) - listed
        if rest is None or rest != 0:
            parts[(DIFFERENCE,)] = rest
    return out


def test_breakdowns_by_model_and_client_add_up_to_the_credits(tmp_path: Path) -> None:
    captures = sandbox(tmp_path / "live", "vendor-docs")
    edit_captures(captures, CODEX, _vendor_extras)
    locks = documented_locks(tmp_path)
    table = close_the_loop(captures, locks, tmp_path)
    credits = {(r["date"], r["person"]): r["codex_credits"] for r in table["rows"]}
    raw = _raw_codex(captures)
    for by, container, labels in (
        ("model", "models", ("model", "speed")),
        ("client", "clients", ("client_id",)),
    ):
        document = _merge(captures, locks, tmp_path / f"{by}.json", "--by", by)
        assert document["metadata"]["by"] == by
        assert document["metadata"]["rows"] == len(document["rows"])
        got: dict[tuple[str, str], dict[tuple[Any, ...], Decimal | None]] = {}
        for row in document["rows"]:
            key = (
                (DIFFERENCE,)
                if row["basis"] == DIFFERENCE
                else tuple(
                    row[column] for column in (("model", "speed") if by == "model" else labels)
                )
            )
            value = row["codex_credits"]
            got.setdefault((row["date"], row["person"]), {})[key] = (
                None if value is None else Decimal(value)
            )
        expected = {k: v for k, v in _expected_parts(raw, container, labels).items() if v}
        assert got == expected
        # Where every part is known, the breakdown adds up to the default table.
        for key, parts in got.items():
            if None not in parts.values():
                assert sum(v for v in parts.values() if v is not None) == Decimal(credits[key])
        assert any((DIFFERENCE,) in parts for parts in got.values())
        assert any(None in parts.values() for parts in got.values()) == (by == "model")
    # The default table is unchanged by the breakdowns.
    again = _merge(captures, locks, tmp_path / "again.json")
    assert again["rows"] == table["rows"]
    assert again["metadata"]["by"] == "person"


def test_streamed_and_whole_reads_give_the_same_native_dollars_and_parts(tmp_path: Path) -> None:
    """The merge reads a large capture as a stream (the gate's pass) and a small one
    whole: both give the same table, native dollars and breakdowns."""
    captures = sandbox(tmp_path / "live", "vendor-docs")
    edit_captures(captures, CODEX, _vendor_extras)
    edit_captures(captures, COSTS, _email_only)
    files = sorted(captures.glob("*.json"))
    for by in (None, "model", "client"):
        streamed = merge_paths(files, breakdown=by, stream_min_bytes=0)
        whole = merge_paths(files, breakdown=by, stream_min_bytes=1 << 30)
        assert streamed.rows == whole.rows
        assert streamed.parts == whole.parts
        assert any(row.codex_native_cost_usd for row in whole.rows)
        assert bool(whole.parts) == (by is not None)
