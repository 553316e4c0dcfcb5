"""Row violations explained with the memo (`contract.RowExplainer`: failing nested items
explained alone, repeated compiled signatures reusing the reference's explanation) and
aggregated as they arrive (`contract.Tallies`) give exactly the findings of the reference
path: python-jsonschema on every failing row (`row_violations`), every occurrence kept."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier.contract import (
    RowChecker,
    Tallies,
    findings_from_tallies,
    findings_from_violations,
    nested_arrays,
    row_violations,
    rows_schema,
)
from verifier.findings import Finding
from verifier.surfaces import SURFACES, Surface

from .conftest import ROOT
from .test_fastpath import ODD_VALUES, _slots, documents

Bodies = list[list[Any]]


def reference_findings(surface: Surface, bodies: Bodies) -> list[Finding]:
    """The old path: python-jsonschema explains every failing row, every pointer kept."""
    located = [
        (f"/pages/{b}/body", v)
        for b, rows in enumerate(bodies)
        for index, row in enumerate(rows)
        for v in row_violations(surface, index, row)
    ]
    return findings_from_violations(surface, "generated", located)


def memo_findings(
    surface: Surface, bodies: Bodies, slice_size: int = 7
) -> tuple[list[Finding], int]:
    """The new path, as `CheckSink` drives it: slices of rows per body, the checker's
    tallies handed on at the end of each body. Also says how many units the memo served."""
    checker = RowChecker(surface)
    tallies = Tallies()
    for b, rows in enumerate(bodies):
        for first in range(0, len(rows), slice_size):
            checker.add_rows(f"/pages/{b}/body", first, rows[first : first + slice_size])
        checker.flush()
        tallies.absorb(checker.tallies)
    return findings_from_tallies(surface, "generated", tallies), checker._explainer.reused


def base_rows(surface: Surface) -> list[Any]:
    body = json.loads((ROOT / "tests/data/documented" / f"{surface.name}.json").read_text())
    rows: list[Any] = body["data"]
    assert rows
    return rows


DELETE = object()
VALUES: list[Any] = [*ODD_VALUES, "1.5e3", "-0.25", "abc", DELETE, DELETE]


def plant(node: Any, where: float, value: Any) -> None:
    """Replace (or delete) the value at a slot chosen by `where` in [0, 1)."""
    slots = list(_slots(node))
    if not slots:
        return
    container, key = slots[int(where * len(slots))]
    if value is DELETE:
        if isinstance(container, dict):
            del container[key]
        return
    container[key] = copy.deepcopy(value)


def mutated_bodies(surface: Surface, rng: random.Random) -> Bodies:
    """Bodies of rows (and nested items) broken by a few mutations drawn from a small
    pool, so that the same breakage repeats, as it does in a live capture."""
    pool = [(rng.random(), rng.choice(VALUES)) for _ in range(rng.randint(1, 4))]
    nested = nested_arrays(surface)
    bodies = []
    for _ in range(rng.randint(1, 3)):
        rows = []
        for _ in range(rng.randint(1, 9)):
            row = copy.deepcopy(rng.choice(base_rows(surface)))
            for name in nested:
                items = row.get(name)
                if isinstance(items, list) and items:
                    row[name] = [
                        copy.deepcopy(rng.choice(items)) for _ in range(rng.randint(0, 25))
                    ]
                    for item in row[name]:
                        for where, value in rng.sample(pool, rng.randint(0, len(pool))):
                            plant(item, where, value)
            if not nested or rng.random() < 0.3:
                for where, value in rng.sample(pool, rng.randint(0, len(pool))):
                    plant(row, where, value)
            rows.append(row)
        bodies.append(rows)
    return bodies


@given(
    surface=st.sampled_from(sorted(SURFACES)),
    seed=st.integers(0, 2**32 - 1),
    slice_size=st.integers(1, 40),
)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_memo_findings_equal_the_reference_on_mutated_rows(
    surface: str, seed: int, slice_size: int
) -> None:
    chosen = SURFACES[surface]
    bodies = mutated_bodies(chosen, random.Random(seed))
    found, _reused = memo_findings(chosen, bodies, slice_size)
    assert found == reference_findings(chosen, bodies)


def test_memo_findings_equal_the_reference_over_the_corpus() -> None:
    """Every corpus document and its mutations (tests/test_fastpath.py), for every surface
    whose rows are checked one by one."""
    compared = 0
    for surface in SURFACES.values():
        assert rows_schema(surface) is not None
        for name, document in documents():
            rows = document.get("data") if isinstance(document, dict) else None
            if not isinstance(rows, list) or not rows:
                continue
            found, _reused = memo_findings(surface, [rows])
            assert found == reference_findings(surface, [rows]), (surface.name, name)
            compared += 1
    assert compared > 500


def costs_with_string_amounts(buckets: int, results: int) -> Bodies:
    """Live-like costs: `amount.value` as a numeric string in every other result."""
    bucket = base_rows(SURFACES["openai_org_costs"])[0]
    result = bucket["results"][0]
    rows = []
    for b in range(buckets):
        items = []
        for r in range(results):
            item = copy.deepcopy(result)
            item["amount"]["value"] = f"{b}.{r:02d}" if r % 2 else b + r / 100
            items.append(item)
        rows.append({**bucket, "results": items})
    return [rows[: buckets // 2], rows[buckets // 2 :]]


def test_repeated_string_amounts_are_explained_once_and_counted_exactly() -> None:
    surface = SURFACES["openai_org_costs"]
    bodies = costs_with_string_amounts(buckets=8, results=60)
    found, reused = memo_findings(surface, bodies)
    assert found == reference_findings(surface, bodies)
    [finding] = found
    assert (finding.path, finding.occurrences) == ("data[].results[].amount.value", 8 * 30)
    assert finding.pointer == "/pages/0/body/data/0/results/1/amount/value"
    # One python explanation; every other failing result came from the memo.
    assert reused == 8 * 30 - 1


def test_tallies_keep_one_entry_per_group_whatever_the_occurrences() -> None:
    surface = SURFACES["openai_org_costs"]
    checker = RowChecker(surface)
    for b, rows in enumerate(costs_with_string_amounts(buckets=40, results=100)):
        checker.add_rows(f"/{b}", 0, rows)
        checker.flush()
    [(key, tally)] = checker.tallies.groups.items()
    assert key == ("data[].results[].amount.value", "type", "number")
    assert tally.count == 40 * 50
    assert tally.pointer == "/0/data/0/results/1/amount/value"
    assert tally.instances == {"numeric-string"}


def test_items_failing_next_to_their_row_are_explained_with_the_row() -> None:
    """An error outside the nested items (here the bucket's `start_time`) makes the whole
    row go to the reference, in its own order."""
    surface = SURFACES["openai_org_costs"]
    [rows, more] = costs_with_string_amounts(buckets=4, results=6)
    rows[1]["start_time"] = "yesterday"
    del more[0]["results"][2]["object"]
    bodies = [rows, more]
    found, _reused = memo_findings(surface, bodies)
    assert found == reference_findings(surface, bodies)
    assert [f.path for f in found] == [
        "data[].results[].amount.value",
        "data[].start_time",
        "data[].results[].object",
    ]
