"""Codex totals stored by column (`verifier.merge.chatgpt.CodexDays`, issue 11): every
pair reads back as the CodexDay that adding the same rows one by one gives (credits and
native dollars exact, with their digits; a count unknown once a row lacked it), pairs
taken out (`figures(day, take=True)`) are gone, a date spilled to disk reads back the
same, and sums beyond 64 bits are refused, never wrapped."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.errors import InputError
from verifier.merge.chatgpt import Cells, CodexDay, CodexDays, _Overlap
from verifier.merge.spill import set_budget

Row = tuple[str, str | None, Decimal, list[int | None], Decimal | None, bool]
_COUNT = st.one_of(st.none(), st.integers(0, 2**40))
_ROW = st.tuples(
    st.sampled_from(["2026-05-01", "2026-05-02", "2026-05-03"]),
    st.sampled_from([None, "wsu_a", "wsu_b", "wsu_c"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=0, max_value=10**6),
    st.lists(_COUNT, min_size=5, max_size=5),
    st.one_of(st.none(), st.sampled_from([Decimal("0.10"), Decimal("2"), Decimal("1E+1")])),
    st.booleans(),
)


def fields(totals: CodexDay) -> dict[str, object]:
    return {name: getattr(totals, name) for name in CodexDay.__slots__}


@settings(max_examples=200, deadline=None)
@given(st.lists(_ROW, max_size=30))
def test_pairs_read_back_as_codex_days_added_row_by_row(rows: list[Row]) -> None:
    days = CodexDays()
    expected: dict[tuple[str, str | None], CodexDay] = {}
    for day, user, credits, counts, native, partial in rows:
        slot = days.slot(day, user)
        if slot is None:
            slot = days.new(day, user, partial)
        days.mark_partial(slot, partial)
        days.add(slot, credits, counts, native)
        reference = expected.setdefault((day, user), CodexDay())
        reference.partial = reference.partial or partial
        reference.add(credits, counts, native)
    assert set(days) == set(expected)
    assert len(days) == len(expected)
    assert days.dates() == {day for day, _ in expected}
    for key, reference in expected.items():
        got = fields(days[key])
        assert got == fields(reference)
        # The same digits, not only the same value (the output writes them).
        assert str(got["credits"]) == str(reference.credits)
        assert str(got["cost_usd"]) == str(reference.cost_usd)
    for day in sorted({day for day, _ in expected}):
        untaken = list(days.figures(day))
        taken = list(days.figures(day, take=True))
        assert taken == untaken
        assert {(day, user): (cells, partial) for user, cells, partial in taken} == {
            key: (cells_of(totals), totals.partial)
            for key, totals in expected.items()
            if key[0] == day
        }
        assert not any(key in days for key in expected if key[0] == day)
    assert len(days) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(_ROW, max_size=30))
def test_a_spilled_date_reads_back_as_held(rows: list[Row]) -> None:
    """`figures` of a date on disk: the same cells, with the same digits."""
    held, spilled = CodexDays(), CodexDays()
    for days in (held, spilled):
        for day, user, credits, counts, native, partial in rows:
            slot = days.slot(day, user)
            if slot is None:
                slot = days.new(day, user, partial)
            days.mark_partial(slot, partial)
            days.add(slot, credits, counts, native)
    with set_budget(0):
        spilled.spill_if_over()
    for day in sorted({row[0] for row in rows}):
        expected = list(held.figures(day, take=True))
        got = list(spilled.figures(day, take=True))
        assert got == expected
        assert [str(cells[0]) for _, cells, _ in got] == [str(c[0]) for _, c, _ in expected]
        assert [str(cells[6]) for _, cells, _ in got] == [str(c[6]) for _, c, _ in expected]
    assert len(held) == len(spilled) == 0


def cells_of(totals: CodexDay) -> Cells:
    return (
        totals.credits,
        totals.threads,
        totals.turns,
        totals.input,
        totals.cached_input,
        totals.output,
        totals.cost_usd,
    )


def test_counts_beyond_64_bits_are_refused() -> None:
    days = CodexDays()
    slot = days.new("2026-05-01", "wsu_a", False)
    days.add(slot, Decimal(1), [2**62, 0, 0, 0, 0])
    with pytest.raises(InputError, match="beyond 2\\*\\*63"):
        days.add(slot, Decimal(1), [2**62, 0, 0, 0, 0])


@settings(max_examples=200, deadline=None)
@given(st.lists(_ROW, max_size=30))
def test_add_row_is_slot_new_and_add_with_the_second_row_rule(rows: list[Row]) -> None:
    """`add_row` (the parser's way) gives what `slot`, `new`, `mark_partial` and `add`
    give, and refuses a second row for a named user and date unless both are partial
    edge pieces (the row refused adds nothing)."""
    at_once, step_by_step = CodexDays(), CodexDays()
    for day, user, credits, counts, native, partial in rows:
        slot = step_by_step.slot(day, user)
        second = slot is not None and user is not None
        refused = second and not (partial and step_by_step.partial(slot or 0))
        if refused:
            with pytest.raises(_Overlap):
                at_once.add_row(day, user, partial, credits, counts, native)
            continue
        at_once.add_row(day, user, partial, credits, counts, native)
        if slot is None:
            slot = step_by_step.new(day, user, partial)
        step_by_step.mark_partial(slot, partial)
        step_by_step.add(slot, credits, counts, native)
    for day in sorted({row[0] for row in rows}):
        got = list(at_once.figures(day))
        assert got == list(step_by_step.figures(day))
        assert [str(c[0]) + str(c[6]) for _, c, _ in got] == [
            str(c[0]) + str(c[6]) for _, c, _ in step_by_step.figures(day)
        ]


def test_a_new_pair_beyond_64_bits_is_refused_and_leaves_the_columns_whole() -> None:
    days = CodexDays()
    with pytest.raises(InputError, match="beyond 2\\*\\*63"):
        days.add_row("2026-05-01", "wsu_a", False, Decimal(1), [1, 2, 2**63, 0, 0], None)
    assert len(days) == 0
    days.add_row("2026-05-01", "wsu_b", False, Decimal(1), [1, 2, 3, 4, 5], None)
    assert list(days.figures("2026-05-01")) == [("wsu_b", (Decimal(1), 1, 2, 3, 4, 5, None), False)]
