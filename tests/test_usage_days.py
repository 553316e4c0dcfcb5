"""API usage stored by column (`verifier.merge.usage.UsageDays`, issue 11): a bucket's
results added at once (`add_bucket`, the parser's way) give the pairs that adding them
one by one gives (a count the plan lets be unknown adds 0), and sums beyond 64 bits are
refused, never wrapped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.errors import InputError
from verifier.merge.spill import set_budget
from verifier.merge.usage import Result, UsageDays

_COUNT = st.one_of(st.none(), st.integers(0, 2**40))
_RESULT = st.tuples(
    st.sampled_from([None, "user-a", "user-b", "user-c"]), _COUNT, _COUNT, _COUNT, _COUNT
)
Bucket = tuple[str, bool, list[Result]]
_BUCKET = st.tuples(
    st.sampled_from(["2026-05-01", "2026-05-02", "2026-05-03"]),
    st.booleans(),
    st.lists(_RESULT, max_size=6),
)


def pairs(days: UsageDays) -> dict[str, list[tuple[object, ...]]]:
    return {day: sorted(days.figures(day), key=str) for day in days.days()}


@settings(max_examples=200, deadline=None)
@given(st.lists(_BUCKET, max_size=12), st.booleans())
def test_a_bucket_added_at_once_is_its_results_added_one_by_one(
    buckets: list[Bucket], spill: bool
) -> None:
    at_once, one_by_one = UsageDays(), UsageDays()
    with set_budget(2 if spill else 50_000):
        for day, partial, results in buckets:
            at_once.add_bucket(day, partial, results)
            at_once.spill_if_over()
            for user, *counts in results:
                known = (counts[0] or 0, counts[1] or 0, counts[2] or 0, counts[3] or 0)
                one_by_one.add(day, user, known, partial)
    assert at_once.days() == one_by_one.days()
    assert pairs(at_once) == pairs(one_by_one)
    assert len(at_once) == len(one_by_one)


def test_token_sums_beyond_64_bits_are_refused() -> None:
    days = UsageDays()
    days.add_bucket("2026-05-01", False, [("user-a", 2**62, 0, 0, 1)])
    with pytest.raises(InputError, match="beyond 2\\*\\*63"):
        days.add_bucket("2026-05-01", False, [("user-a", 2**62, 0, 0, 1)])
    with pytest.raises(InputError, match="beyond 2\\*\\*63"):
        days.add_bucket("2026-05-02", False, [("user-b", 2**63, 0, 0, 1)])
