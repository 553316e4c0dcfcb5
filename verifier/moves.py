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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from verifier import paths
from verifier.profile import PathProfile, Profile

SAME_ROWS = 2  # same values in the same rows
SAME_VALUES = 1  # same values, in other rows (or rows that cannot be compared)
MAX_NAMED = 5  # paths named in one ambiguity message


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
    rivals: tuple[str, ...]  # other vanished paths matching them (the first few)
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


def value_class(leaf: PathProfile) -> tuple[object, ...] | None:
    """Leaves of one class hold the same values: as many, with the same hashes, and (when
    the sketch covers only the first values) the same number count, range and sum."""
    fingerprint = leaf.fingerprint
    sketch = fingerprint.sketch if fingerprint else None
    if fingerprint is None or sketch is None or leaf.values_seen == 0:
        return None
    # Sketches compare only under one key (unkeyed, or keyed with one anonymisation key).
    key: tuple[object, ...] = (leaf.values_seen, sketch.size, sketch.values, sketch.key)
    if sketch.size < leaf.values_seen:
        numbers = fingerprint.numbers
        key += (None,) if numbers is None else (numbers.count, numbers.minimum, numbers.maximum)
        key += (sketch.numbers if numbers is None else numbers.total,)
    return key


def row_class(leaf: PathProfile) -> tuple[object, ...] | None:
    """Leaves of one row class also hold each value in the same row."""
    values = value_class(leaf)
    sketch = leaf.fingerprint.sketch if leaf.fingerprint else None
    return None if values is None or sketch is None else (*values, sketch.pairs)


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
    """Same values in the same rows first; then same values in other rows, among the
    leaves no same-rows match took. A class with one leaf on each side is a move; any
    other class is ambiguous for each of its vanished leaves (found by classes, so equal
    fingerprints on thousands of leaves stay linear)."""
    old_rows = _classes(expected, olds, row_class)
    new_rows = _classes(observed, news, row_class)
    moves: list[Move] = []
    ambiguous: list[Ambiguity] = []
    matched: set[str] = set()
    for key, group in old_rows.items():
        found = new_rows.get(key)
        if found:
            matched.update(group, found)
            _settle(observed, group, found, SAME_ROWS, moves, ambiguous)
    old_values = _classes(expected, [p for p in olds if p not in matched], value_class)
    new_values = _classes(observed, [p for p in news if p not in matched], value_class)
    for key, group in old_values.items():
        found = new_values.get(key)
        if found:
            _settle(observed, group, found, SAME_VALUES, moves, ambiguous)
    return moves, ambiguous


def _classes(
    profile: Profile,
    leaves: list[str],
    classify: Callable[[PathProfile], tuple[object, ...] | None],
) -> dict[tuple[object, ...], list[str]]:
    out: dict[tuple[object, ...], list[str]] = {}
    for path in leaves:
        key = classify(profile.paths[path])
        if key is not None:
            out.setdefault(key, []).append(path)
    return out


def _settle(
    observed: Profile,
    olds: list[str],
    news: list[str],
    level: int,
    moves: list[Move],
    ambiguous: list[Ambiguity],
) -> None:
    evidence = value_evidence(level, observed.paths[news[0]])
    if len(olds) == 1 and len(news) == 1:
        moves.append(Move(olds[0], news[0], evidence))
        return
    candidates = tuple(news)
    for old in olds:
        rivals = _first_unique(o for o in olds if o != old)
        ambiguous.append(Ambiguity(old, candidates, rivals, evidence))


def _first_unique(names: Iterator[str], limit: int = MAX_NAMED + 1) -> tuple[str, ...]:
    """Up to `limit` distinct names, in order, without walking the rest."""
    seen: dict[str, None] = {}
    for name in names:
        seen[name] = None
        if len(seen) >= limit:
            break
    return tuple(seen)


def ambiguity_words(ambiguity: Ambiguity) -> str:
    """Plain words for a report: which leaves compete, and that nothing was guessed."""
    words = f"absent here; {ambiguity.evidence} at {_names(ambiguity.candidates)}"
    if ambiguity.rivals:
        words += f", which also match {_names(ambiguity.rivals)}"
    return words + " (ambiguous move: not guessed)"


def _names(paths_: Sequence[str]) -> str:
    shown = " and ".join(paths_[:MAX_NAMED])
    return shown + (" and others" if len(paths_) > MAX_NAMED else "")


# -- By name ----------------------------------------------------------------------------------


def _array_depth(path: str) -> int:
    return path.count("[]")


def _folded(path: str) -> str:
    """`...results[].user.id` -> `userid`: the leaf with its parent's name folded in."""
    parent = paths.parent(path)
    return _plain(paths.leaf_name(parent) + paths.leaf_name(path)) if parent else ""


def _plain_leaf(path: str) -> str:
    return _plain(paths.leaf_name(path))


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
    index: dict[str, list[str]] = {}  # by leaf name, by folded name, by plain leaf name
    for new in news:
        for key in ("=" + paths.leaf_name(new), "~" + _folded(new), "~" + _plain_leaf(new)):
            index.setdefault(key, []).append(new)
    taken: set[str] = set()
    out = []
    for old in olds:
        keys = ("=" + paths.leaf_name(old), "~" + _plain_leaf(old), "~" + _folded(old))
        nearby = dict.fromkeys(p for key in keys for p in index.get(key, ()))
        reasons = {p: _same_name(old, p) for p in nearby if p not in taken}
        matches = [p for p, reason in reasons.items() if reason]
        if not matches:
            continue
        new = min(matches, key=lambda p: (abs(_array_depth(p) - _array_depth(old)), len(p), p))
        taken.add(new)
        out.append(Move(old, new, reasons[new] or ""))
    return out
