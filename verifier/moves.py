"""Moves: pair a leaf that vanished at one path with one that appeared at another.

Evidence, strongest first:

1. **values**: the two leaves' fingerprints (`verifier.profile.Fingerprint`) agree: as
   many values, the same order-independent hash of the values, the same count, range and
   sum of the numbers; best when the (row, value) pairs agree too ("same 20 values in the
   same 20 rows"). Works whatever the names, parents or JSON types (a rename plus a type
   change is still recognised: `12.5` and `"12.50"` hash alike). When several candidates
   agree equally, the vanished leaf is reported as ambiguous, never guessed.
2. **name**: the same leaf name under another parent (`data[].credits` ->
   `data[].totals.credits`), or the same name once its parent is folded in or out
   (`user_id` <-> `user.id`). This is what works against the documented schema, which has
   no values, and against a lock of another period, whose values differ.

Only leaves (never objects or arrays) are paired; the caller turns the pairs into
findings. A match needs both ends: a vanished path of `expected` and an appeared path of
`observed`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from verifier import paths
from verifier.profile import NumberStats, PathProfile, Profile

SAME_ROWS = 2  # same values in the same rows
SAME_VALUES = 1  # same values, in other rows (or rows that cannot be compared)


@dataclass(frozen=True, slots=True)
class Move:
    old: str  # the vanished path (expected side)
    new: str  # the appeared path (observed side)
    evidence: str  # plain words: why these two are the same field


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """A vanished leaf whose values match more than one appeared leaf, or an appeared
    leaf that several vanished leaves match equally well."""

    old: str
    candidates: tuple[str, ...]  # appeared paths holding the same values
    rivals: tuple[str, ...]  # other vanished paths matching the same candidates
    evidence: str


@dataclass(frozen=True, slots=True)
class Matches:
    moves: tuple[Move, ...]
    ambiguous: tuple[Ambiguity, ...]


def match_moves(
    expected: Profile, observed: Profile, vanished: Sequence[str], appeared: Sequence[str]
) -> Matches:
    """Pair vanished leaves of `expected` with appeared leaves of `observed`."""
    olds = [p for p in vanished if p in expected.paths and not expected.paths[p].is_container]
    news = [p for p in appeared if p in observed.paths and not observed.paths[p].is_container]
    by_values, ambiguous = _value_matches(expected, observed, olds, news)
    unsure = {a.old for a in ambiguous}
    taken = {m.new for m in by_values}
    left_old = [p for p in olds if p not in unsure and p not in {m.old for m in by_values}]
    left_new = [p for p in news if p not in taken]
    by_name = _name_matches(left_old, left_new)
    return Matches(tuple(by_values) + tuple(by_name), tuple(ambiguous))


# -- By values --------------------------------------------------------------------------------


def agreement(old: PathProfile, new: PathProfile) -> int:
    """SAME_ROWS, SAME_VALUES or 0: how well two leaves' fingerprints agree."""
    a, b = old.fingerprint, new.fingerprint
    if a is None or b is None or a.sketch is None or b.sketch is None:
        return 0
    if old.values_seen == 0 or old.values_seen != new.values_seen:
        return 0
    if a.sketch.size != b.sketch.size or a.sketch.values != b.sketch.values:
        return 0
    if a.numbers is not None and b.numbers is not None and not _same_numbers(a.numbers, b.numbers):
        return 0
    return SAME_ROWS if a.sketch.pairs == b.sketch.pairs else SAME_VALUES


def _same_numbers(a: NumberStats, b: NumberStats) -> bool:
    if (a.count, a.minimum, a.maximum) != (b.count, b.minimum, b.maximum):
        return False
    if a.total is None or b.total is None:
        return a.total is b.total
    if isinstance(a.total, int) and isinstance(b.total, int):
        return a.total == b.total
    return math.isclose(a.total, b.total, rel_tol=1e-12, abs_tol=1e-12)


def value_evidence(level: int, new: PathProfile) -> str:
    """'same 20 values in the same 20 rows' (or what part of it the sketch covers)."""
    count = new.values_seen
    size = new.fingerprint.sketch.size if new.fingerprint and new.fingerprint.sketch else count
    if size < count:
        rows = " in the same rows" if level == SAME_ROWS else ", in other rows"
        return (
            f"same values{rows} for the first {size} of {count} occurrences; "
            "counts and number ranges and sums agree on all"
        )
    rows = f" in the same {count} rows" if level == SAME_ROWS else ", in other rows"
    return f"same {count} values{rows}"


def _value_matches(
    expected: Profile, observed: Profile, olds: list[str], news: list[str]
) -> tuple[list[Move], list[Ambiguity]]:
    best: dict[str, tuple[int, list[str]]] = {}
    for old in olds:
        levels = {new: agreement(expected.paths[old], observed.paths[new]) for new in news}
        top = max(levels.values(), default=0)
        if top:
            best[old] = (top, sorted(n for n, level in levels.items() if level == top))
    # Who claims each appeared leaf, keeping only the strongest claims.
    claims: dict[str, list[tuple[int, str]]] = {}
    for old, (level, candidates) in best.items():
        for new in candidates:
            claims.setdefault(new, []).append((level, old))
    winners = {
        new: sorted(o for level, o in found if level == max(lv for lv, _ in found))
        for new, found in claims.items()
    }
    moves: list[Move] = []
    ambiguous: list[Ambiguity] = []
    for old, (level, candidates) in best.items():
        contested = [n for n in candidates if old in winners[n]]
        if not contested:
            continue  # every candidate went to a vanished leaf that matches it better
        rivals = sorted({o for n in contested for o in winners[n] if o != old})
        evidence = value_evidence(level, observed.paths[contested[0]])
        if len(contested) == 1 and not rivals:
            moves.append(Move(old, contested[0], evidence))
        else:
            ambiguous.append(Ambiguity(old, tuple(contested), tuple(rivals), evidence))
    return moves, ambiguous


def ambiguity_words(ambiguity: Ambiguity) -> str:
    """Plain words for a report: which leaves compete, and that nothing was guessed."""
    where = " and ".join(ambiguity.candidates)
    words = f"absent here; {ambiguity.evidence} at {where}"
    if ambiguity.rivals:
        words += f", which also match {' and '.join(ambiguity.rivals)}"
    return words + " (ambiguous move: not guessed)"


# -- By name ----------------------------------------------------------------------------------


def _array_depth(path: str) -> int:
    return path.count("[]")


def _folded(path: str) -> str:
    """`...results[].user.id` -> `userid`: the leaf with its parent's name folded in."""
    parent = paths.parent(path)
    return _plain(paths.leaf_name(parent) + paths.leaf_name(path)) if parent else ""


def _plain(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def _same_name(old: str, new: str) -> str | None:
    """Why `new` looks like `old` by name, or None."""
    if paths.leaf_name(old) == paths.leaf_name(new):
        return "same name under another parent"
    if _array_depth(old) != _array_depth(new):
        return None
    if paths.parent(paths.parent(new)) == paths.parent(old) and _folded(new) == _plain(
        paths.leaf_name(old)
    ):
        return "same name, nested one level down"
    if paths.parent(paths.parent(old)) == paths.parent(new) and _folded(old) == _plain(
        paths.leaf_name(new)
    ):
        return "same name, nested one level up"
    return None


def _name_matches(olds: list[str], news: list[str]) -> list[Move]:
    """Each vanished leaf with an appeared leaf of the same name: same array depth
    preferred, then the shortest path (`data[].credits` -> `data[].totals.credits`, not
    `data[].clients[].credits`)."""
    taken: set[str] = set()
    out = []
    for old in olds:
        reasons = {p: _same_name(old, p) for p in news if p not in taken}
        matches = [p for p, reason in reasons.items() if reason]
        if not matches:
            continue
        new = min(matches, key=lambda p: (abs(_array_depth(p) - _array_depth(old)), len(p), p))
        taken.add(new)
        out.append(Move(old, new, reasons[new] or ""))
    return out
