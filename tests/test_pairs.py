"""(date, user) -> slot without a dict per pair (`verifier.merge.pairs.PairIndex`, issue
11): the same answers as a dict of pairs, slots in the order pairs were made, each date's
pairs in the order they came, and a pair taken out is gone (and can come back)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.merge.pairs import PairIndex

Step = tuple[bool, str, str | None]  # (take out?, date, user)
_STEP = st.tuples(
    st.booleans(),
    st.sampled_from(["2026-05-01", "2026-05-02", "2026-05-03"]),
    st.sampled_from([None, "user-a", "user-b", "user-c", "user-d"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_STEP, max_size=40))
def test_pair_index_answers_as_a_dict_of_pairs(steps: list[Step]) -> None:
    index = PairIndex()
    reference: dict[tuple[str, str | None], int] = {}  # insertion-ordered, like the index
    made = 0
    for take_out, day, user in steps:
        key = (day, user)
        if take_out:
            if key in reference:
                assert index.remove(day, user) == reference.pop(key)
            continue
        slot, new = index.locate(day, user)
        assert new == (key not in reference)
        if new:
            assert slot == made
            made += 1
            reference[key] = slot
        assert slot == reference[key]
    assert index.slots == made
    assert len(index) == len(reference)
    assert index.dates() == {day for day, _ in reference}
    for day in index.days():
        came = [(user, slot) for (d, user), slot in reference.items() if d == day]
        assert sorted(index.of(day), key=lambda pair: pair[1]) == came
    for (day, user), slot in reference.items():
        assert index.find(day, user) == slot
    assert index.find("2026-06-01", "user-a") is None
    assert index.find("2026-05-01", "nobody") is None


Bucket = tuple[str, list[str | None], list[str | None]]  # (date, users made, users taken)
_BUCKET = st.tuples(
    st.sampled_from(["2026-05-01", "2026-05-02", "2026-05-03"]),
    st.lists(st.sampled_from([None, "user-a", "user-b", "user-c", "user-d"]), max_size=6),
    st.lists(st.sampled_from([None, "user-a", "user-b"]), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_BUCKET, max_size=12))
def test_a_buckets_users_at_once_are_located_as_one_by_one(buckets: list[Bucket]) -> None:
    """`locate_all` gives the slots `locate` gives user by user (a user twice in a
    bucket: one pair), `columns` is `of` as two lists, and `drop` takes a date out."""
    at_once, one_by_one = PairIndex(), PairIndex()
    for day, users, taken in buckets:
        assert at_once.locate_all(day, users) == [one_by_one.locate(day, u)[0] for u in users]
        for user in taken:
            if at_once.find(day, user) is not None:
                assert at_once.remove(day, user) == one_by_one.remove(day, user)
    assert at_once.slots == one_by_one.slots
    for day in one_by_one.days():
        pairs = list(one_by_one.of(day))
        assert at_once.columns(day) == ([u for u, _ in pairs], [s for _, s in pairs])
        at_once.drop(day)
        assert at_once.columns(day) == ([], [])
        assert all(at_once.find(day, user) is None for user, _ in pairs)
    assert len(at_once) == 0
