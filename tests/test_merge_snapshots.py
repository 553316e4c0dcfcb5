"""Snapshots of the merge output (syrupy, JSON): any change to what the merge writes is
a reviewed snapshot update (`pytest tests/test_merge*.py --snapshot-update`).

Covered: the documented captures in every output format, and sandbox captures of every
scenario. Scenarios whose payloads the merge cannot read (vendor-docs shapes, the faults
scenario's truncated pages, the 400 to costs grouped by user) are snapshots of the
refusal; rejects-user-grouping is also merged without its refused costs capture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import DOCUMENTED_CAPTURES, assert_no_canary
from verifier.capture import capture_from_sandbox
from verifier.errors import InputError
from verifier.merge import MergeResult, merge_paths
from verifier.merge.formats import WRITERS, write
from verifier.sandbox.scenarios import SCENARIO_NAMES

SNAPSHOT_KEY = "merge-snapshot-key-0123456789abcdef0123456789"
START, END = date(2026, 5, 1), date(2026, 5, 3)


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def rendered(result: MergeResult) -> dict[str, Any]:
    """Every output format of one result, text formats as lists of lines."""
    out: dict[str, Any] = {}
    for fmt in WRITERS:
        data = write(result, fmt)
        assert_no_canary(data)
        out[fmt] = orjson.loads(data) if fmt == "json" else data.decode("utf-8").splitlines()
    return out


def test_documented_captures(snapshot_json: SnapshotAssertion) -> None:
    assert rendered(merge_paths([DOCUMENTED_CAPTURES])) == snapshot_json


def test_documented_captures_with_a_credit_rate(snapshot_json: SnapshotAssertion) -> None:
    result = merge_paths([DOCUMENTED_CAPTURES], credit_usd_rate=Decimal("0.04"))
    assert rendered(result) == snapshot_json


def test_documented_captures_provisional(snapshot_json: SnapshotAssertion) -> None:
    result = merge_paths([DOCUMENTED_CAPTURES], provisional=True)
    assert rendered(result)["csv"] == snapshot_json


@pytest.fixture(scope="module")
def sandbox_captures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One sandbox capture of every scenario, pseudonyms from a fixed key."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERIFY_ANON_KEY", SNAPSHOT_KEY)
        dirs = {}
        for scenario in SCENARIO_NAMES:
            out = tmp_path_factory.mktemp(scenario)
            capture_from_sandbox(out, scenario=scenario, start=START, end=END, users=3)
            dirs[scenario] = out
        yield dirs


def refusal(paths: list[Path]) -> str:
    with pytest.raises(InputError) as caught:
        merge_paths(paths)
    # File names carry the capture time; keep the surface, which is what matters.
    message = caught.value.message
    for path in paths:
        message = message.replace(str(path), path.name.split("__")[0])
    return message


def test_sandbox_documented(
    sandbox_captures: dict[str, Path], snapshot_json: SnapshotAssertion
) -> None:
    result = merge_paths([sandbox_captures["documented"]])
    assert rendered(result)["json"] == snapshot_json


@pytest.mark.parametrize("scenario", ["faults", "rejects-user-grouping"])
def test_sandbox_scenarios_the_merge_cannot_read_are_refused(
    scenario: str, sandbox_captures: dict[str, Path], snapshot_json: SnapshotAssertion
) -> None:
    paths = sorted(sandbox_captures[scenario].glob("*.json"))
    assert {"message": refusal(paths)} == snapshot_json


def test_sandbox_rejects_user_grouping_without_its_costs(
    sandbox_captures: dict[str, Path], snapshot_json: SnapshotAssertion
) -> None:
    paths = sorted(sandbox_captures["rejects-user-grouping"].glob("*.json"))
    kept = [p for p in paths if not p.name.startswith("openai_org_costs")]
    result = merge_paths(kept)
    assert all(row.api_cost_usd is None for row in result.rows)
    assert rendered(result)["json"] == snapshot_json
