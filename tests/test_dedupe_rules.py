"""The dedupe rules for one surface-day (`verifier.merge.dedupe.plan_day`), by property."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.coverage import normalise
from verifier.merge.dedupe import OverlapError, Piece, covers, intersects, plan_day

HOUR = 3600
DAY = 24 * HOUR


@st.composite
def pieces(draw: st.DrawFn, max_pieces: int = 6) -> list[Piece]:
    """Captures of one day: each covers one or two stretches of whole hours."""
    count = draw(st.integers(1, max_pieces))
    out = []
    for capture in range(count):
        stretches = []
        for _ in range(draw(st.integers(1, 2))):
            start = draw(st.integers(0, 23))
            end = draw(st.integers(start + 1, 24))
            stretches.append((start * HOUR, end * HOUR))
        second = draw(st.integers(0, 3))  # few distinct times: ties happen
        out.append(Piece(capture, f"2026-05-0{second + 1}T00:00:00Z", normalise(stretches)))
    return out


@st.composite
def disjoint_partition(draw: st.DrawFn) -> list[tuple[int, int]]:
    cuts = sorted(set(draw(st.lists(st.integers(1, 23), max_size=5))))
    edges = [0, *cuts, 24]
    return [(a * HOUR, b * HOUR) for a, b in pairwise(edges)]


def union(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return normalise(spans)


@settings(max_examples=200, deadline=None)
@given(pieces())
def test_a_plan_loses_no_time_counts_none_twice_or_refuses_a_real_overlap(
    day: list[Piece],
) -> None:
    by_capture = {p.capture: p for p in day}
    try:
        plan = plan_day(day)
    except OverlapError:
        # Refused only when two pieces that nothing larger contains overlap partially.
        maximal = [
            p for p in day if not any(q.spans != p.spans and covers(q.spans, p.spans) for q in day)
        ]
        assert any(
            a.spans != b.spans and intersects(a.spans, b.spans) for a in maximal for b in maximal
        )
        return
    kept = [by_capture[c] for c in plan.kept]
    for index, one in enumerate(kept):  # nothing counted twice
        for other in kept[index + 1 :]:
            assert not intersects(one.spans, other.spans)
    every = [span for piece in day for span in piece.spans]
    assert union([s for p in kept for s in p.spans]) == union(every)  # no time lost
    assert set(plan.kept) | set(plan.dropped) == set(by_capture)
    assert not set(plan.kept) & set(plan.dropped)
    for dropped in plan.dropped:  # a dropped piece is inside, or a version of, a kept one
        piece = by_capture[dropped]
        assert any(covers(k.spans, piece.spans) for k in kept)
    for piece in kept:  # of identical versions, the newest is kept
        same = [p for p in day if p.spans == piece.spans]
        assert piece.captured_at == max(p.captured_at for p in same)


@settings(max_examples=200, deadline=None)
@given(disjoint_partition(), st.data())
def test_edge_buckets_of_successive_runs_combine_and_repeats_count_once(
    parts: list[tuple[int, int]], data: st.DataObject
) -> None:
    copies = data.draw(st.lists(st.integers(0, len(parts) - 1), min_size=len(parts)))
    chosen = list(range(len(parts))) + copies  # every part at least once, some repeated
    day = [
        Piece(i, f"2026-05-0{1 + i % 9}T00:00:00Z", (parts[part],)) for i, part in enumerate(chosen)
    ]
    plan = plan_day(day)
    assert sorted(day[c].spans[0] for c in plan.kept) == parts  # each part exactly once
    versions = {(a, b) for a, b in plan.versions + plan.ties}
    for a, b in versions:  # only versions of the same bucket are compared
        assert day[a].spans == day[b].spans


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 23), st.integers(0, 2), st.booleans())
def test_a_whole_day_wins_over_an_edge_bucket_inside_it(
    hour: int, order: int, edge_first: bool
) -> None:
    whole = Piece(0, f"2026-05-0{1 + order}T00:00:00Z", ((0, DAY),))
    edge_span = (hour * HOUR, DAY) if edge_first else (0, hour * HOUR)
    edge = Piece(1, "2026-05-02T00:00:00Z", (edge_span,))
    plan = plan_day([whole, edge])
    assert plan.kept == (0,) and plan.dropped == (1,) and not plan.versions


def test_partial_overlap_is_refused_with_both_captures_and_times_named() -> None:
    from verifier.merge.dedupe import DescribePiece

    morning = Piece(0, "2026-05-01T00:00:00Z", ((0, 12 * HOUR),))
    late = Piece(1, "2026-05-02T00:00:00Z", ((6 * HOUR, DAY),))
    try:
        plan_day([morning, late], DescribePiece(["a.json", "b.json"], "openai_org_costs", "D"))
    except OverlapError as refused:
        text = str(refused)
        assert "openai_org_costs D" in text
        assert "a.json covers 00:00-12:00" in text and "b.json covers 06:00-24:00" in text
    else:
        raise AssertionError("an unresolvable overlap was merged")
