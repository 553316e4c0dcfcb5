"""Merging captures taken over time: overlaps, edge buckets, restatements, coverage."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from tests.merge_builders import (
    DAY_SECONDS,
    bucket,
    chatgpt_body,
    chatgpt_row,
    cost_result,
    openai_body,
    source,
    unix,
)
from verifier import capture as capture_module
from verifier.capture import capture_from_sandbox
from verifier.drift import run_diff
from verifier.errors import InputError
from verifier.exactjson import JsonNumber
from verifier.lock import run_lock
from verifier.merge import merge_paths, merge_sources
from verifier.merge.core import MergeResult
from verifier.merge.focus import focus_records
from verifier.sandbox.data import api_day, codex_day, people
from verifier.store import Capture, Page, RequestInfo, save_capture
from verifier.surfaces import SURFACES

COSTS = "openai_org_costs"
CHATGPT = "chatgpt_enterprise_usage"
KEY = "verify-test-key-over-time"
USERS = ("user-aaa", "user-bbb")


def dollars(result: MergeResult) -> dict[tuple[str, str], Decimal]:
    return {
        (row.date, row.person): row.api_cost_usd
        for row in result.rows
        if row.api_cost_usd is not None
    }


def credits(result: MergeResult) -> dict[tuple[str, str], Decimal]:
    return {
        (row.date, row.person): row.codex_credits
        for row in result.rows
        if row.codex_credits is not None
    }


# -- the rules end to end, by property -------------------------------------------------------

BASE = date(2026, 5, 1)
amounts = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False)


@st.composite
def two_captures(draw: st.DrawFn) -> dict[str, Any]:
    days = draw(st.integers(2, 6))
    old = {(d, u): draw(amounts) for d in range(days) for u in range(2)}
    new = dict(old)
    for key in draw(st.sets(st.sampled_from(sorted(old)), max_size=4)):
        new[key] = draw(amounts)  # the vendor revised these cells
    a0 = draw(st.integers(0, days - 1))
    a1 = draw(st.integers(a0 + 1, days))
    b0 = draw(st.integers(0, days - 1))
    b1 = draw(st.integers(b0 + 1, days))
    return {
        "old": old,
        "new": new,
        "a": (a0, a1),
        "b": (b0, b1),
        "b_first": draw(st.booleans()),
        "repeat_a": draw(st.booleans()),
        "surface": draw(st.sampled_from([COSTS, CHATGPT])),
    }


def _capture_of(
    surface: str, values: Mapping[tuple[int, int], Decimal], span: tuple[int, int], when: str
) -> Any:
    first, stop = span
    query = {"start_time": unix(BASE + timedelta(first)), "end_time": unix(BASE + timedelta(stop))}
    if surface == COSTS:
        buckets = [
            bucket(
                [cost_result(USERS[u], str(values[d, u])) for u in range(2)],
                day=BASE + timedelta(d),
            )
            for d in range(first, stop)
        ]
        return source(COSTS, openai_body(buckets), query=query, captured_at=when, name=when)
    rows = [
        chatgpt_row(USERS[u], day=BASE + timedelta(d), credits=str(values[d, u]))
        for d in range(first, stop)
        for u in range(2)
    ]
    return source(CHATGPT, chatgpt_body(rows), query=query, captured_at=when, name=when)


@settings(max_examples=120, deadline=None)
@given(two_captures())
def test_newest_capture_wins_every_bucket_counts_once_and_restatements_are_named(
    case: dict[str, Any],
) -> None:
    surface = case["surface"]
    older = _capture_of(surface, case["old"], case["a"], "2026-05-10T00:00:00Z")
    newer = _capture_of(surface, case["new"], case["b"], "2026-05-11T00:00:00Z")
    inputs = [older, newer] if not case["b_first"] else [newer, older]
    if case["repeat_a"]:
        inputs.append(older)  # the same file given twice counts once
    result = merge_sources(inputs)
    a_days, b_days = set(range(*case["a"])), set(range(*case["b"]))
    expected = {}
    for d in a_days | b_days:
        truth = case["new"] if d in b_days else case["old"]
        for u in range(2):
            person = f"openai:{USERS[u]}" if surface == COSTS else f"chatgpt:{USERS[u]}"
            expected[(BASE + timedelta(d)).isoformat(), person] = truth[d, u]
    got = dollars(result) if surface == COSTS else credits(result)
    assert got == expected
    restated = {(f.details["day"], f.details["person"]) for f in result.restatements if f.details}
    assert restated == {
        ((BASE + timedelta(d)).isoformat(), USERS[u])
        for d in a_days & b_days
        for u in range(2)
        if case["old"][d, u] != case["new"][d, u]
    }
    for finding in result.restatements:
        assert finding.details is not None
        d = (date.fromisoformat(finding.details["day"]) - BASE).days
        u = USERS.index(finding.details["person"])
        field = "cost_usd" if surface == COSTS else "credits"
        assert Decimal(finding.details["old"][field]) == case["old"][d, u]
        assert Decimal(finding.details["new"][field]) == case["new"][d, u]


def test_runs_within_one_second_are_ordered_by_their_fraction() -> None:
    old, new = {(0, 0): Decimal(1), (0, 1): Decimal(2)}, {(0, 0): Decimal(1), (0, 1): Decimal(5)}
    for first, second in [
        ("2026-05-10T00:00:00.100000Z", "2026-05-10T00:00:00.200000Z"),
        ("2026-05-10T00:00:00Z", "2026-05-10T00:00:00.5Z"),  # an older file's whole second
        ("2026-05-10T00:00:00.900000Z", "2026-05-10T00:00:01Z"),
    ]:
        older = _capture_of(COSTS, old, (0, 1), first)
        newer = _capture_of(COSTS, new, (0, 1), second)
        for inputs in ([older, newer], [newer, older]):
            result = merge_sources(inputs)
            assert dollars(result)[BASE.isoformat(), f"openai:{USERS[1]}"] == Decimal(5)
            (restated,) = result.restatements
            assert restated.details is not None and restated.details["new"] == {"cost_usd": "5"}
            classes = {r["x_OpenAIUserId"]: r["ChargeClass"] for r in focus_records(result)}
            assert classes == {USERS[0]: None, USERS[1]: "Correction"}  # FOCUS: restated


def test_captured_at_has_microseconds() -> None:
    stamp = capture_module.captured_at_now()
    assert len(stamp) == len("2026-05-10T00:00:00.000000Z") and stamp.endswith("Z")


def test_versions_captured_in_the_same_second_must_agree() -> None:
    one = _capture_of(
        COSTS, {(0, 0): Decimal(1), (0, 1): Decimal(2)}, (0, 1), "2026-05-10T00:00:00Z"
    )
    two = _capture_of(
        COSTS, {(0, 0): Decimal(1), (0, 1): Decimal(3)}, (0, 1), "2026-05-10T00:00:00Z"
    )
    with pytest.raises(InputError, match="captured at the same time"):
        merge_sources([one, two])
    assert len(merge_sources([one, one]).rows) == 2  # equal versions: one counts


# -- partial edge buckets: merge A A and A B (20 days of overlap) give the truth --------------

HALF = DAY_SECONDS // 2


def _half_value(day: int, half: int, user: int) -> Decimal:
    """The truth: each user's cost in each half of each day (distinct, many digits)."""
    return Decimal(f"{1 + day}.{half}{user}0000000000000000000{(day * 7 + half * 3 + user) % 10}")


def _edge_capture(path: Path, first_half: int, last_half: int, when: str) -> Path:
    """A costs capture from half-day `first_half` to `last_half` (exclusive) of BASE, as
    the vendor answers a window that starts and ends at noon: clamped edge buckets."""
    start, end = unix(BASE) + first_half * HALF, unix(BASE) + last_half * HALF
    buckets = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor - cursor % DAY_SECONDS + DAY_SECONDS)
        day = (cursor - unix(BASE)) // DAY_SECONDS
        halves = range((cursor % DAY_SECONDS) // HALF, (stop - 1) % DAY_SECONDS // HALF + 1)
        results = [
            # A JSON number with all its digits (written back as its text by the store).
            cost_result(USERS[u], JsonNumber(str(sum(_half_value(day, h, u) for h in halves))))
            for u in range(2)
        ]
        buckets.append(bucket(results, start=cursor, end=stop))
        cursor = stop
    spec = SURFACES[COSTS]
    capture = Capture(
        surface=COSTS,
        request=RequestInfo("GET", spec.url_template, {**dict(spec.query), "start_time": start}),
        pages=(Page(200, spec.url_template, {}, openai_body(buckets)),),
        captured_at=when,
        key_fingerprint=None,
        source="test",
    )
    return save_capture(capture, path)


def _truth(first_half: int, last_half: int) -> dict[str, Decimal]:
    per_day: dict[str, Decimal] = {}
    for half in range(first_half, last_half):
        day = (BASE + timedelta(half // 2)).isoformat()
        for u in range(2):
            per_day[day] = per_day.get(day, Decimal(0)) + _half_value(half // 2, half % 2, u)
    return per_day


def _merged_per_day(out: Path) -> dict[str, Decimal]:
    document = orjson.loads(out.read_bytes())
    per_day: dict[str, Decimal] = {}
    for row in document["rows"]:
        if row["api_cost_usd"] is not None:
            per_day[row["date"]] = per_day.get(row["date"], Decimal(0)) + Decimal(
                row["api_cost_usd"]
            )
    return per_day


def _merge_cli(tmp_path: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> tuple[Any, Path]:
    out = tmp_path / "spend.json"
    locks = tmp_path / "no-locks"
    result = run_cli(
        "merge", *map(str, inputs), "--out", str(out), "--format", "json",
        "--allow-unlocked", "--locks-dir", str(locks), *extra,
    )  # fmt: skip
    return result, out


def test_merge_a_a_counts_every_bucket_once_including_edge_buckets(tmp_path: Path) -> None:
    a = _edge_capture(tmp_path / "a.json", 1, 81, "2026-07-01T00:00:00Z")  # noon .. noon
    result, out = _merge_cli(tmp_path, a, a)
    assert result.code == 0, result.stderr
    assert _merged_per_day(out) == _truth(1, 81)


def test_merge_a_b_overlapping_20_days_gives_the_truth(tmp_path: Path) -> None:
    a = _edge_capture(tmp_path / "a.json", 1, 81, "2026-07-01T00:00:00Z")  # days 0.5 .. 40.5
    b = _edge_capture(tmp_path / "b.json", 41, 121, "2026-07-02T00:00:00Z")  # 20.5 .. 60.5
    for order in ((a, b), (b, a)):
        result, out = _merge_cli(tmp_path, *order)
        assert result.code == 0, result.stderr
        assert _merged_per_day(out) == _truth(1, 121)
        assert "value_restated" not in result.stdout


def test_edge_buckets_of_successive_runs_make_one_day(tmp_path: Path) -> None:
    a = _edge_capture(tmp_path / "a.json", 0, 21, "2026-07-01T00:00:00Z")  # ends day 10 noon
    b = _edge_capture(tmp_path / "b.json", 21, 40, "2026-07-02T00:00:00Z")  # from day 10 noon
    result, out = _merge_cli(tmp_path, a, b)
    assert result.code == 0, result.stderr
    merged = _merged_per_day(out)
    assert merged == _truth(0, 40)
    assert (
        merged[(BASE + timedelta(10)).isoformat()]
        == _truth(20, 22)[(BASE + timedelta(10)).isoformat()]
    )


def test_an_overlap_no_rule_resolves_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    a = _edge_capture(tmp_path / "a.json", 0, 21, "2026-07-01T00:00:00Z")  # day 10: 00-12
    b = _edge_capture(tmp_path / "b.json", 20, 30, "2026-07-02T00:00:00Z")  # day 10: whole
    c = _edge_capture(tmp_path / "c.json", 21, 23, "2026-07-03T00:00:00Z")  # 10 noon-11 noon
    result, out = _merge_cli(tmp_path, a, c)
    assert result.code == 0, result.stderr  # day 10 halves, day 11 partial: fine
    result, out = _merge_cli(tmp_path, b, c)
    assert result.code == 0, result.stderr  # b's whole days contain c's pieces
    odd = _edge_capture(tmp_path / "odd.json", 1, 3, "2026-07-04T00:00:00Z")  # 0 noon-1 noon
    morning = _edge_capture(tmp_path / "m.json", 2, 4, "2026-07-05T00:00:00Z")  # day 1 whole
    early = _edge_capture(tmp_path / "e.json", 0, 1, "2026-07-05T00:00:00Z")  # day 0 00-12
    result, out = _merge_cli(tmp_path, odd, morning, early)
    assert result.code == 0, result.stderr
    # Day 1: 00-12 (odd) inside 00-24 (morning): fine. Now a true partial overlap:
    clash = tmp_path / "clash.json"
    shutil.copy(morning, clash)
    document = orjson.loads(clash.read_bytes())
    document["pages"][0]["body"]["data"][0]["start_time"] += HALF // 2  # 06:00-24:00
    document["captured_at"] = "2026-07-06T00:00:00Z"
    clash.write_bytes(orjson.dumps(document))
    out.unlink()
    result, out = _merge_cli(tmp_path, odd, clash)
    assert result.code == 2
    (line,) = result.stderr.splitlines()
    assert "overlap without one containing the other" in line
    assert "00:00-12:00" in line and "06:00-24:00" in line
    assert not out.exists()


# -- sandbox captures: restatements, coverage, concurrent runs ---------------------------------


def _sandbox_capture(out: Path, start: date, end: date, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("VERIFY_ANON_KEY", KEY)
    return capture_from_sandbox(out, start=start, end=end)


def _restate(path: Path, days: list[str], when: str) -> Path:
    """The same capture as the vendor would answer it later, with these days revised."""
    document = orjson.loads(path.read_bytes())
    document["captured_at"] = when
    for page in document["pages"]:
        for day_bucket in page["body"]["data"]:
            day = date.fromtimestamp(day_bucket["start_time"]).isoformat()
            if day in days:
                for result in day_bucket["results"]:
                    result["amount"]["value"] = round(result["amount"]["value"] + 1.25, 6)
    target = path.with_name("restated__" + path.name)
    target.write_bytes(orjson.dumps(document))
    return target


def test_costs_restated_for_3_days_use_the_newer_values_or_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captures = tmp_path / "captures"
    start, end = date(2026, 5, 1), date(2026, 5, 10)
    _sandbox_capture(captures, start, end, monkeypatch)
    (costs_file,) = captures.glob(f"{COSTS}__*.json")
    changed = ["2026-05-03", "2026-05-04", "2026-05-07"]
    _restate(costs_file, changed, "2030-01-01T00:00:00Z")
    locks = tmp_path / "locks"
    run_lock([costs_file], locks_dir=locks)
    out = tmp_path / "spend.json"
    args = ("merge", str(captures), "--out", str(out), "--format", "json")
    result = run_cli(*args, "--locks-dir", str(locks), "--allow-unlocked")
    assert result.code == 0, result.stderr
    rows = orjson.loads(out.read_bytes())["rows"]
    per_day: dict[str, Decimal] = {}
    for row in rows:
        if row["api_cost_usd"] is not None:
            per_day[row["date"]] = per_day.get(row["date"], Decimal(0)) + Decimal(
                row["api_cost_usd"]
            )
    for offset in range((end - start).days + 1):
        day = start + timedelta(offset)
        charged = [r for p in (*people(3), None) if (r := api_day(p, day)) is not None]
        truth = sum((r.cost_usd for r in charged), Decimal(0))
        if day.isoformat() in changed:
            truth += Decimal("1.25") * len(charged)
        assert per_day[day.isoformat()] == truth, day
    lines = [line for line in result.stdout.splitlines() if line.startswith("value_restated")]
    assert {line.split()[2] for line in lines} == set(changed)
    assert len(lines) == sum(
        1 for d in changed for p in (*people(3), None) if api_day(p, date.fromisoformat(d))
    )
    assert "cost_usd" in lines[0] and "as cost_usd" in lines[0]
    out.unlink()
    refused = run_cli(*args, "--locks-dir", str(locks), "--allow-unlocked",
                      "--on-restatement", "fail")  # fmt: skip
    assert refused.code == 1
    assert "value(s) restated" in refused.stderr.splitlines()[-1]
    assert not out.exists()
    report = run_cli("gate", str(captures), "--locks-dir", str(locks), "--allow-unlocked")
    assert "coverage_gap" not in report.stdout
    restated_file = costs_file.with_name("restated__" + costs_file.name)
    diff = run_cli("diff", str(costs_file), str(restated_file), "--format", "json")
    found = [f for f in orjson.loads(diff.stdout)["findings"] if f["kind"] == "value_restated"]
    assert {f["details"]["day"] for f in found} == set(changed)
    assert len(found) == len(lines)
    first = found[0]["details"]
    assert Decimal(first["new"]["cost_usd"]) - Decimal(first["old"]["cost_usd"]) == Decimal("1.25")
    assert first["new_capture"] == str(restated_file)
    streamed = run_diff([costs_file, restated_file], stream_min_bytes=1)  # files streamed
    assert sorted(f.message for f in streamed.findings if f.kind == "value_restated") == sorted(
        f["message"] for f in found
    )


def test_a_120_day_capture_leaves_codex_cells_empty_before_the_look_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    end = date(2026, 8, 31)
    start = end - timedelta(days=119)
    _sandbox_capture(tmp_path / "c", start, end, monkeypatch)
    (codex_file,) = (tmp_path / "c").glob(f"{CHATGPT}__*.json")
    coverage = orjson.loads(codex_file.read_bytes())["coverage"]
    cut = [w for w in coverage["windows"] if w["state"] == "cut"]
    assert cut and cut[0]["start"] == f"{start.isoformat()}T00:00:00Z"
    first_served = end - timedelta(days=89)
    assert cut[0]["end"] == f"{first_served.isoformat()}T00:00:00Z"
    result = merge_paths([tmp_path / "c"])
    per_day: dict[str, Decimal] = {}
    for row in result.rows:
        if row.date < first_served.isoformat():
            assert row.codex_credits is None and row.codex_turns is None
            assert "chatgpt_enterprise_usage" not in row.covered_by
            assert row.api_cost_usd is not None  # the other surfaces do cover these days
        else:
            assert row.codex_credits is not None
            per_day[row.date] = per_day.get(row.date, Decimal(0)) + row.codex_credits
    for offset in range(90):
        day = first_served + timedelta(offset)
        truth = sum(
            (Decimal(r.credits) for p in people(3) if (r := codex_day(p, day)) is not None),
            Decimal(0),
        )
        assert per_day.get(day.isoformat(), Decimal(0)) == truth
    (gap,) = result.gaps
    assert (gap.surface, gap.first, gap.days) == (CHATGPT, start.isoformat(), 30)
    gate = run_cli("gate", str(tmp_path / "c"), "--allow-unlocked", "--format", "json",
                   "--locks-dir", str(tmp_path / "none"))  # fmt: skip
    findings = [f for f in orjson.loads(gate.stdout)["findings"] if f["kind"] == "coverage_gap"]
    assert [(f["surface"], f["severity"]) for f in findings] == [(CHATGPT, "warning")]
    assert "look-back" in findings[0]["message"]
    out = tmp_path / "spend.csv"
    merged = run_cli("merge", str(tmp_path / "c"), "--out", str(out), "--allow-unlocked",
                     "--locks-dir", str(tmp_path / "none"))  # fmt: skip
    assert merged.code == 0, merged.stderr
    assert "look-back" in merged.stdout and "cells left empty" in merged.stdout
    first_row = out.read_text().splitlines()[1].split(",")
    assert first_row[0] == start.isoformat() and first_row[5] == ""  # codex_credits empty


def test_two_runs_into_one_directory_started_together_merge_to_the_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIFY_ANON_KEY", KEY)
    monkeypatch.setattr(capture_module, "captured_at_now", lambda: "2026-05-08T02:00:00Z")
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    start, end = date(2026, 5, 1), date(2026, 5, 7)
    threads = [
        threading.Thread(
            target=capture_from_sandbox, args=(shared,), kwargs={"start": start, "end": end}
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(shared.glob("*.json"))) == 8
    capture_from_sandbox(alone, start=start, end=end)
    both, one = merge_paths([shared]), merge_paths([alone])
    assert both.rows == one.rows
    assert not both.restatements


def test_the_same_partial_edge_bucket_in_two_captures_counts_once() -> None:
    """The issue's example: a 12:00-24:00 edge bucket given twice was summed (7.5 -> 15.0
    dollars, 10.5 -> 21.0 credits)."""
    noon = unix(BASE) + HALF
    costs = openai_body(
        [bucket([cost_result("user-aaa", 7.5)], start=noon, end=unix(BASE) + DAY_SECONDS)]
    )
    row = chatgpt_row(
        "wsu_a", credits=10.5, start=f"{BASE.isoformat()}T12:00:00Z",
        end=f"{(BASE + timedelta(1)).isoformat()}T00:00:00Z",
    )  # fmt: skip
    for captured in (
        ("2026-05-02T00:00:00Z",) * 2,
        ("2026-05-02T00:00:00Z", "2026-05-03T00:00:00Z"),
    ):
        inputs = [
            source(COSTS, costs, captured_at=when, name=f"costs-{i}")
            for i, when in enumerate(captured)
        ] + [
            source(CHATGPT, chatgpt_body([row]), captured_at=when, name=f"codex-{i}")
            for i, when in enumerate(captured)
        ]
        result = merge_sources(inputs)
        assert dollars(result)[BASE.isoformat(), "openai:user-aaa"] == Decimal("7.5")
        assert sum(dollars(result).values()) == Decimal("7.5")
        assert credits(result)[BASE.isoformat(), "chatgpt:wsu_a"] == Decimal("10.5")
        assert sum(credits(result).values()) == Decimal("10.5")
        assert all(r.partial for r in result.rows) and not result.restatements
