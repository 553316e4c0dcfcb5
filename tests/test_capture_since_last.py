"""`verify capture --since-last`: an incremental run asks the vendor only for missing days
(the loopback sandbox's request log proves it), and the directory then merges to the truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import CANARY_CODEX_KEY, CANARY_OPENAI_KEY, assert_no_canary
from verifier.capture import unix
from verifier.merge import merge_paths
from verifier.sandbox import RunningSandbox, running_sandbox
from verifier.sandbox.data import api_day, codex_day, people
from verifier.surfaces import SURFACE_NAMES, get_surface

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
WINDOWED = [name for name in SURFACE_NAMES if get_surface(name).windowed]


@pytest.fixture
def box(canary_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSandbox]:
    monkeypatch.setenv("VERIFY_ANON_KEY", "test-key-for-since-last")
    keys = (CANARY_OPENAI_KEY, CANARY_CODEX_KEY)
    with running_sandbox(users=3, days=200, api_key=keys) as sandbox:
        yield sandbox


def capture(box: RunningSandbox, out: Path, *args: str) -> str:
    urls = [arg for name in SURFACE_NAMES for arg in ("--base-url", f"{name}={box.base_url}")]
    result = run_cli("capture", "--out", str(out), *urls, *args)
    assert result.code == 0, result.stderr
    assert_no_canary(result.stdout + result.stderr)
    return result.stderr


def windows_asked(box: RunningSandbox) -> dict[str, set[tuple[int, int]]]:
    """Per endpoint path, the (start_time, end_time) of every request it received."""
    asked: dict[str, set[tuple[int, int]]] = {}
    for request in box.server.request_log:
        start, end = request.one("start_time"), request.one("end_time")
        if start is not None and end is not None:
            asked.setdefault(request.path, set()).add((int(start), int(end)))
    return asked


def test_since_last_requests_only_the_missing_days_and_merges_to_the_truth(
    box: RunningSandbox, tmp_path: Path
) -> None:
    out = tmp_path / "captures"
    first, last_of_first = YESTERDAY - timedelta(days=9), YESTERDAY - timedelta(days=3)
    capture(box, out, "--start", first.isoformat(), "--end", last_of_first.isoformat())
    box.server.request_log.clear()

    capture(box, out, "--since-last")  # end defaults to yesterday

    missing = (unix(last_of_first + timedelta(days=1)), unix(YESTERDAY + timedelta(days=1)))
    asked = windows_asked(box)
    assert len(asked) == len(WINDOWED)
    assert all(windows == {missing} for windows in asked.values()), asked
    assert len(list(out.glob("*.json"))) == 8

    box.server.request_log.clear()
    again = capture(box, out, "--since-last")  # nothing new: only the users list is read
    assert windows_asked(box) == {}
    assert "already captured up to" in again

    result = merge_paths([out])
    assert not result.restatements and not result.gaps
    dollars: dict[str, Decimal] = {}
    credits: dict[str, Decimal] = {}
    for row in result.rows:
        dollars[row.date] = dollars.get(row.date, Decimal(0)) + (row.api_cost_usd or 0)
        credits[row.date] = credits.get(row.date, Decimal(0)) + (row.codex_credits or 0)
    for offset in range(10):
        day = first + timedelta(days=offset)
        spent = [r.cost_usd for p in (*people(3), None) if (r := api_day(p, day)) is not None]
        used = [c.credits for p in people(3) if (c := codex_day(p, day)) is not None]
        assert dollars[day.isoformat()] == sum(spent, Decimal(0))
        assert credits.get(day.isoformat(), Decimal(0)) == sum(used)


def test_since_last_keeps_the_codex_look_back_and_needs_start_the_first_time(
    box: RunningSandbox, tmp_path: Path
) -> None:
    out = tmp_path / "captures"
    result = run_cli("capture", "--since-last", "--out", str(out))
    assert result.code == 2
    assert "give --start for the first run" in result.stderr.splitlines()[-1]
    start = YESTERDAY - timedelta(days=119)
    capture(box, out, "--since-last", "--start", start.isoformat())
    asked = windows_asked(box)
    codex = next(w for path, w in asked.items() if "codex" in path)
    earliest_served = datetime.now(UTC).date() - timedelta(days=89)
    assert min(s for s, _ in codex) == unix(earliest_served)
    usage = next(w for path, w in asked.items() if "usage/completions" in path)
    assert min(s for s, _ in usage) == unix(start)


def test_a_day_covered_only_in_part_is_asked_for_again() -> None:
    """Only whole covered days count as captured (a clamped last bucket does not)."""
    from verifier.coverage import SourceIndex
    from verifier.incremental import last_whole_days

    day = date(2026, 5, 1)
    whole = SourceIndex(
        "a", "openai_org_costs", "t", {day.isoformat(): ((unix(day), unix(day) + 86_400),)}
    )
    half = SourceIndex(
        "b", "openai_org_costs", "t", {"2026-05-02": ((unix(day) + 86_400, unix(day) + 129_600),)}
    )
    assert last_whole_days([whole, half]) == {"openai_org_costs": day}
