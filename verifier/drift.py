"""Drift: an expected profile (documented schema or lock) vs an observed one -> findings.

Each side is projected to one comparable "view" per contract path (allowed types,
nullability, presence, timestamp formats, discriminator values). The observed view keeps
a facet only where it goes *beyond* what is expected (narrowing is not drift), so that
deepdiff's differences are exactly the drift: a removed key is a missing path, an added
key a new path, a changed facet a type/nullability/presence/format/value change. Moves
(a leaf that vanished at one path and appeared under another parent), money magnitudes,
pagination and HTTP status are judged beside it. Severity comes from the consumer
contract: drift on a path the merge reads is `breaking`, elsewhere `warning`, and a new
field the merge does not need is `info`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff

from verifier import paths
from verifier.consumer import consumed_paths, contract_for
from verifier.consumer.judge import Judgement, consumer_findings, judge, numeric_only
from verifier.consumer.mapping import ReadingPlan, plan_from_profile
from verifier.contract import CheckSink, describe_value, http_status_finding
from verifier.errors import UsageError
from verifier.findings import Finding, FindingKind, Report
from verifier.inputs import (
    STREAM_MIN_BYTES,
    Body,
    Input,
    load_inputs,
    load_json_file,
    nesting_guard,
    read_input,
    source_from_document,
)
from verifier.lockfile import Lock, load_surface_lock, lock_from_json, lock_path
from verifier.merge.load import restatements_between
from verifier.moves import Ambiguity, Move, ambiguity_words, match_moves
from verifier.pagination import contradiction_finding
from verifier.profile import (
    NUMERIC_STRING,
    PathProfile,
    Profile,
    ProfileSink,
    SketchKey,
    expected_profile,
    profile_input,
    profile_source,
    sketch_key,
)
from verifier.surfaces import Surface

# A money field whose mean magnitude moves by this factor or more looks like a unit change
# (dollars <-> cents is 100x).
UNIT_JUMP = 50.0
CURSOR_KEYS = ("next_page", "last_id", "next_cursor", "cursor", "after", "next")
_FACETS = ("types", "nullable", "presence", "formats", "values")


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference before it becomes a Finding (severity is decided in one place)."""

    kind: FindingKind
    path: str
    pointer: str
    expected: str
    observed: str
    detail: str = ""
    consumed_path: str | None = None  # the path whose consumption decides severity
    # What the consumer contract needs to judge a type or format change.
    observed_types: frozenset[str] = frozenset()
    numeric_strings: bool = False
    expected_formats: frozenset[str] = frozenset()
    observed_formats: frozenset[str] = frozenset()


# -- Views ------------------------------------------------------------------------------------


def _type_words(types: Iterable[str]) -> str:
    return "|".join(sorted(types))


def _allowed_types(expected: PathProfile) -> set[str]:
    allowed = set(expected.type_set)
    if "number" in allowed:
        allowed.add("integer")  # JSON Schema: every integer is a number
    if not expected.documented and "integer" in allowed:
        allowed.add("number")  # a lock saw whole numbers only: decimals are not drift
    return allowed


def _expected_view(p: PathProfile) -> dict[str, Any]:
    return {
        "types": _type_words(p.type_set),
        "nullable": p.nullable,
        "presence": "always" if p.always_present else "optional",
        "formats": _type_words(p.format_set) if p.is_timestamp else "",
        "values": None if p.value_set is None else _value_words(p.value_set),
    }


def _value_words(values: Iterable[Any]) -> str:
    return "|".join(sorted(repr(v) for v in values))


def _observed_view(expected: PathProfile, observed: PathProfile) -> dict[str, Any]:
    """Observed facets, replaced by the expected one wherever observed stays within it."""
    view = _expected_view(expected)
    if not observed.type_set <= _allowed_types(expected):
        view["types"] = _type_words(observed.type_set)
    if observed.nullable and not expected.nullable:
        view["nullable"] = True
    if expected.always_present and not observed.always_present and observed.present:
        view["presence"] = "optional"
    if expected.is_timestamp:
        seen = _observed_formats(observed)
        if seen and not seen <= expected.format_set:
            view["formats"] = _type_words(seen)
    if expected.value_set is not None:
        seen_values = observed.value_set
        if seen_values is not None and not seen_values <= expected.value_set:
            view["values"] = _value_words(seen_values)
    return view


def _observed_formats(observed: PathProfile) -> set[str]:
    """Formats of a would-be timestamp column; values of no format count as `other`."""
    formats = set(observed.format_set)
    unformatted = sum(observed.types.values()) - sum(observed.formats.values())
    if unformatted > 0:
        formats.add("other")
    return formats


# -- The diff -----------------------------------------------------------------------------


def diff_profiles(expected: Profile, observed: Profile, surface: Surface) -> list[Drift]:
    """Every drift of `observed` against `expected` (documented or lock)."""
    vanished = [p for p in expected.paths if p not in observed.paths and not p.endswith("[]")]
    missing = [p for p in vanished if _missable(p, expected, observed)]
    shared = [p for p in expected.paths if p in observed.paths]
    left = {p: _expected_view(expected.paths[p]) for p in (*shared, *missing)}
    right = {p: _observed_view(expected.paths[p], observed.paths[p]) for p in shared}
    right.update(
        {p: _expected_view(observed.paths[p]) for p in observed.paths if p not in expected.paths}
    )
    # threshold 0: always compare key by key, never "the whole mapping changed".
    changes = DeepDiff(left, right, view="tree", threshold_to_diff_deeper=0)
    removed = sorted(_changed_keys(changes, "dictionary_item_removed"))
    added = sorted(_changed_keys(changes, "dictionary_item_added"))
    facets = _changed_facets(changes)

    drifts: list[Drift] = []
    removed, added = _pagination(expected, observed, surface, removed, added, drifts)
    # Optional leaves whose whole parent vanished may have moved too (`user.email`).
    orphans = [p for p in vanished if p not in missing and paths.parent(p) not in observed.paths]
    matches = match_moves(expected, observed, [*removed, *orphans], added)
    moves = [_moved(observed, m) for m in matches.moves]
    drifts.extend(moves)
    for move in matches.moves:
        drifts.extend(_moved_facets(expected.paths[move.old], observed.paths[move.new]))
    unsure = [_ambiguous(observed, a) for a in matches.ambiguous]
    drifts.extend(unsure)
    moved_from = {m.consumed_path for m in moves} | {d.path for d in unsure}
    moved_to = {m.path for m in moves}
    # Required members of a container that vanished while some of its content moved.
    required_orphans = [
        p
        for p in orphans
        if _required(expected.paths[p])
        and (not paths.parent(p) or _required(expected.paths[paths.parent(p)]))
    ]
    gone = [p for p in (*removed, *required_orphans) if p not in moved_from]
    drifts.extend(_missing(expected, observed, sorted(gone), moves))
    drifts.extend(_added(observed, [p for p in added if p not in moved_to], moved_to))
    for path, facet_names in sorted(facets.items()):
        drifts.extend(_facet_drifts(expected.paths[path], observed.paths[path], facet_names))
    drifts.extend(_unit_drifts(expected, observed))
    return drifts


def _required(exp: PathProfile) -> bool:
    """Expected every time its parent is there: documented as required, or locked."""
    return exp.always_present or not exp.documented


def _missable(path: str, expected: Profile, observed: Profile) -> bool:
    """Absent from the observed payload *and* it should have been there."""
    if path.endswith("[]"):
        return False  # empty arrays: nothing to see, nothing missing
    if not _required(expected.paths[path]):
        return False  # documented as optional
    parent = paths.parent(path)
    if not parent:
        return observed.bodies > 0
    seen_parent = observed.paths.get(parent)
    if seen_parent is None:
        return False  # the parent is reported instead
    return seen_parent.types.get("object", 0) > 0


def _changed_keys(changes: Any, kind: str) -> set[str]:
    out = set()
    for level in changes.get(kind, []):
        route = level.path(output_format="list")
        if len(route) == 1:
            out.add(str(route[0]))
    return out


def _changed_facets(changes: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind in ("values_changed", "type_changes"):
        for level in changes.get(kind, []):
            route = level.path(output_format="list")
            if len(route) == 2 and route[1] in _FACETS:
                out.setdefault(str(route[0]), set()).add(str(route[1]))
    return out


# -- Moves, missing and added -------------------------------------------------------------


def _moved(observed: Profile, move: Move) -> Drift:
    return Drift(
        kind="field_moved",
        path=move.new,
        pointer=observed.paths[move.new].first_pointer,
        expected=f"at {move.old}",
        observed=f"at {move.new}",
        detail=f"{move.old} -> {move.new} ({move.evidence})",
        consumed_path=move.old,
    )


def _moved_facets(old: PathProfile, new: PathProfile) -> list[Drift]:
    """What else changed on the way (a rename plus a type change is both)."""
    left, right = _expected_view(old), _observed_view(old, new)
    facets = {name for name in _FACETS if left[name] != right[name]}
    if not facets:
        return []
    return [
        replace(d, path=new.path, consumed_path=old.path, detail=f"{old.path} -> {new.path}")
        for d in _facet_drifts(old, new, facets)
    ]


def _ambiguous(observed: Profile, ambiguity: Ambiguity) -> Drift:
    """A vanished field that cannot be located: its values sit in several places."""
    return Drift(
        kind="field_missing",
        path=ambiguity.old,
        pointer=_would_be_pointer(ambiguity.old, observed),
        expected=f"present at {ambiguity.old}",
        observed=ambiguity_words(ambiguity),
    )


def _top_level(candidates: list[str], keep_whole: set[str]) -> list[str]:
    """Drop paths whose ancestor is also listed, unless that ancestor is in `keep_whole`
    (a container some of whose content moved: its other paths are listed one by one)."""
    listed = set(candidates)
    out = []
    for path in candidates:
        ancestor = paths.parent(path)
        covered = False
        while ancestor:
            if ancestor in listed and ancestor not in keep_whole:
                covered = True
                break
            ancestor = paths.parent(ancestor)
        if not covered and path not in keep_whole:
            out.append(path)
    return out


def _ancestors(path: str) -> set[str]:
    out = set()
    ancestor = paths.parent(path)
    while ancestor:
        out.add(ancestor)
        ancestor = paths.parent(ancestor)
    return out


def _missing(
    expected: Profile, observed: Profile, removed: list[str], moves: list[Drift]
) -> list[Drift]:
    split = set().union(*(_ancestors(m.consumed_path or "") for m in moves)) if moves else set()
    out = []
    for path in _top_level(removed, split):
        exp = expected.paths[path]
        out.append(
            Drift(
                kind="field_missing",
                path=path,
                pointer=_would_be_pointer(path, observed),
                expected=f"present ({_type_words(exp.type_set) or 'any type'})",
                observed="absent everywhere",
            )
        )
    return out


def _would_be_pointer(path: str, observed: Profile) -> str:
    """Where a missing path should have been: the first occurrence of its nearest observed
    ancestor, continued with the missing member names (array items as index 0)."""
    ancestor = paths.parent(path)
    while ancestor and ancestor not in observed.paths:
        ancestor = paths.parent(ancestor)
    base = observed.paths[ancestor].first_pointer if ancestor else observed.first_body
    rest = path[len(ancestor) :].lstrip(".").replace("[]", ".0")
    return base + "".join(f"/{paths.escape_token(t)}" for t in rest.split(".") if t)


def _added(observed: Profile, added: list[str], moved_to: set[str]) -> list[Drift]:
    split = set().union(*(_ancestors(p) for p in moved_to)) if moved_to else set()
    out = []
    for path in _top_level(added, split):
        seen = observed.paths[path]
        out.append(
            Drift(
                kind="field_added",
                path=path,
                pointer=seen.first_pointer,
                expected="absent (not in the contract)",
                observed=f"present ({_type_words(seen.type_set) or 'null'}) in "
                f"{seen.present} place(s)",
            )
        )
    return out


def _pagination(
    expected: Profile,
    observed: Profile,
    surface: Surface,
    removed: list[str],
    added: list[str],
    drifts: list[Drift],
) -> tuple[list[str], list[str]]:
    """A cursor member that vanished while another appeared: the paging scheme changed."""
    old = next((k for k in CURSOR_KEYS if k in removed), None)
    new = next((k for k in CURSOR_KEYS if k in added), None)
    if old is None or new is None:
        return removed, added
    seen = observed.paths[new]
    drifts.append(
        Drift(
            kind="pagination_changed",
            path=old,
            pointer=seen.first_pointer,
            expected=f"the cursor in `{old}` ({surface.pagination} pagination)",
            observed=f"the cursor in `{new}`",
            # A cursor the capture cannot follow truncates `data`, which the merge reads.
            consumed_path="data",
        )
    )
    return [p for p in removed if p != old], [p for p in added if p != new]


# -- Facets ---------------------------------------------------------------------------------


def _facet_drifts(exp: PathProfile, obs: PathProfile, facets: set[str]) -> list[Drift]:
    out = []
    stamped = "formats" in facets
    if stamped:
        seen = sorted(_observed_formats(obs) - exp.format_set)
        pointer = obs.format_pointers.get(seen[0]) if seen and seen[0] != "other" else None
        out.append(
            Drift(
                kind="timestamp_format_changed",
                path=exp.path,
                pointer=pointer or obs.first_pointer,
                expected=_type_words(exp.format_set),
                observed=_type_words(_observed_formats(obs)),
                expected_formats=exp.format_set,
                observed_formats=frozenset(_observed_formats(obs)),
            )
        )
    if "types" in facets and not stamped:
        out.append(_type_drift(exp, obs))
    if "nullable" in facets:
        out.append(
            Drift(
                kind="nullability_changed",
                path=exp.path,
                pointer=obs.type_pointers.get("null", obs.first_pointer),
                expected="never null",
                observed=f"null in {obs.nulls} of {obs.present} place(s)",
            )
        )
    if "presence" in facets:
        out.append(
            Drift(
                kind="presence_changed",
                path=exp.path,
                pointer=obs.absent_pointer or obs.first_pointer,
                expected="always present",
                observed=f"present in {obs.present} of {obs.parents} parent object(s)",
            )
        )
    if "values" in facets:
        allowed = exp.value_set or frozenset()
        odd = [v for v in obs.values or () if v.value not in allowed]
        out.append(
            Drift(
                kind="value_changed",
                path=exp.path,
                pointer=odd[0].pointer if odd else obs.first_pointer,
                expected="one of "
                + ", ".join(describe_value(v, True, allowed) for v in sorted(allowed, key=repr)),
                observed=", ".join(describe_value(v.value, True) for v in odd) or "other values",
            )
        )
    return out


def _type_words_observed(obs: PathProfile, types: Iterable[str]) -> str:
    words = []
    for t in sorted(types):
        if t == "string" and obs.formats.get(NUMERIC_STRING, 0) == obs.types.get("string", 0):
            words.append("numeric string")
        else:
            words.append(t)
    return " or ".join(words)


def _type_drift(exp: PathProfile, obs: PathProfile) -> Drift:
    odd = sorted(obs.type_set - _allowed_types(exp))
    return Drift(
        kind="type_changed",
        path=exp.path,
        pointer=obs.type_pointers.get(odd[0], obs.first_pointer) if odd else obs.first_pointer,
        expected=" or ".join(sorted(exp.type_set)),
        observed=_type_words_observed(obs, obs.type_set),
        observed_types=obs.type_set,
        numeric_strings=numeric_only(obs),
    )


# -- Money ----------------------------------------------------------------------------------


def _unit_drifts(expected: Profile, observed: Profile) -> list[Drift]:
    out = []
    for path, exp in expected.paths.items():
        obs = observed.paths.get(path)
        if obs is None or obs.money is None or obs.money.count == 0:
            continue
        reason = _unit_reason(exp, obs)
        if reason:
            out.append(
                Drift(
                    kind="unit_suspect",
                    path=path,
                    pointer=obs.first_pointer,
                    expected=reason[0],
                    observed=reason[1],
                )
            )
    return out


def _unit_reason(exp: PathProfile, obs: PathProfile) -> tuple[str, str] | None:
    money = obs.money
    assert money is not None
    unit = exp.unit or obs.unit or "money"
    if exp.money is not None and exp.money.count and exp.money.mean > 0 and money.mean > 0:
        ratio = money.mean / exp.money.mean
        if ratio >= UNIT_JUMP or ratio <= 1 / UNIT_JUMP:
            return (
                f"{unit} amounts averaging {exp.money.mean:.6g} (as locked)",
                f"amounts averaging {money.mean:.6g}, {ratio:.3g}x the locked magnitude",
            )
    decimals_expected = (exp.documented and exp.unit == "usd") or (
        exp.money is not None and not exp.money.integral
    )
    if decimals_expected and money.integral and money.count >= 2 and money.mean >= 1:
        return (
            f"{unit} amounts with decimals (dollars, not cents)",
            f"whole numbers only in {money.count} value(s), averaging {money.mean:.6g}",
        )
    return None


# -- Findings -------------------------------------------------------------------------------


def severity_of(
    surface: Surface, drift: Drift, mapped: Mapping[str, str] | None = None, scaled: bool = False
) -> Judgement:
    """The consumer contract's judgement (`verifier.consumer.judge`)."""
    return judge(
        surface.name,
        drift.kind,
        drift.consumed_path or drift.path,
        observed_types=drift.observed_types,
        numeric_strings=drift.numeric_strings,
        expected_formats=drift.expected_formats,
        observed_formats=drift.observed_formats,
        mapped=mapped,
        scaled=scaled,
    )


def to_finding(
    surface: Surface,
    source: str,
    drift: Drift,
    against: str,
    plan: ReadingPlan | None = None,
) -> Finding:
    mapped = mapped_paths(plan)
    scaled = plan is not None and any(
        p.path == drift.path and p.scale is not None for p in plan.fields.values()
    )
    verdict = severity_of(surface, drift, mapped, scaled)
    where = drift.detail or drift.path or "(document)"
    note = f"; {verdict.note}" if verdict.note else ""
    return Finding(
        surface=surface.name,
        source=source,
        kind=drift.kind,
        path=drift.path,
        pointer=drift.pointer,
        severity=verdict.severity,
        expected=drift.expected,
        observed=drift.observed,
        message=f"{where}: expected {drift.expected} ({against}), observed {drift.observed}{note}",
        consumed_by_merge=verdict.consumed,
    )


def mapped_paths(plan: ReadingPlan | None) -> dict[str, str]:
    """Paths a lock maps fields to that no built-in variant knows (accepted moves)."""
    if plan is None:
        return {}
    return {p.path: name for name, p in plan.fields.items() if not p.field.variants_at(p.path)}


def status_findings(surface: Surface, source: str, bodies: Iterable[Body]) -> list[Finding]:
    return [http_status_finding(surface, source, body) for body in bodies if not body.ok]


@dataclass(frozen=True, slots=True)
class Reference:
    """What a capture is compared with: a profile (a lock widened by what the vendor
    documents, or the documented schema), its label, and the lock's reading plan (None:
    the plan is resolved from the capture itself)."""

    profile: Profile
    label: str
    plan: ReadingPlan | None = None


def widened(locked: Profile, documented: Profile) -> Profile:
    """A lock as an expectation: what a small sample saw, widened by what the vendor
    contract allows (null, an absent optional member, any value of a field it does not
    enumerate, any type it documents), so a lock never turns those into drift. A path
    the merge reads may still go missing or move: the consumer contract judges it."""
    consumed = consumed_paths(locked.surface)
    out = {}
    for path, seen in locked.paths.items():
        doc = documented.paths.get(path)
        if doc is None:
            out[path] = seen
            continue
        values = seen.values
        if doc.values is None:
            values = None
        elif values is not None:
            known = {v.value for v in values}
            values = (*values, *(v for v in doc.values if v.value not in known))
        out[path] = replace(
            seen,
            types={**dict.fromkeys(doc.types, 0), **seen.types},
            nullable=seen.nullable or doc.nullable,
            always_present=seen.always_present and doc.always_present,
            values=values,
            # Documented optional: its absence is what the vendor allows, never drift.
            documented=not doc.always_present and path not in consumed,
        )
    return replace(locked, paths=out)


def lock_reference(surface: Surface, lock: Lock, label: str = "lock") -> Reference:
    return Reference(widened(lock.profile, expected_profile(surface)), label, lock.plan())


def documented_reference(surface: Surface) -> Reference:
    return Reference(expected_profile(surface), "documented")


def judge_capture(
    surface: Surface,
    source: str,
    observed: Profile,
    reference: Reference,
    checked: Sequence[Finding] = (),
) -> tuple[list[Finding], ReadingPlan | None]:
    """`checked` (the capture's schema violations, judged again where a reviewed lock
    records what they complain about), drift against the reference and what the
    consumer contract says about the capture; with the reading plan the merge would use."""
    contract = contract_for(surface)
    plan = reference.plan
    if plan is None and contract is not None:
        plan = plan_from_profile(contract, observed)
    drifted = [
        to_finding(surface, source, d, reference.label, plan)
        for d in diff_profiles(reference.profile, observed, surface)
    ]
    if plan is None:
        return drifted, None
    earlier = [*checked, *drifted]
    moved = {f.expected.removeprefix("at ") for f in drifted if f.kind == "field_moved"}
    consumer = [
        f
        for f in consumer_findings(plan, observed, source, ())
        if not (f.kind == "field_missing" and f.path in moved)  # the move says it
    ]
    combined = _combined(earlier, consumer, len(checked))
    if reference.plan is not None:  # a lock: what its review recorded is no longer news
        checked = reviewed_formats(checked, reference.plan, combined)
    return [*checked, *combined], plan


def reviewed_formats(
    checked: Sequence[Finding], plan: ReadingPlan, judged: Sequence[Finding]
) -> list[Finding]:
    """A timestamp the vendor documents in another type (the vendor's Unix seconds sent
    as RFC 3339 strings) breaks the vendor contract; once a reviewed lock records the
    format and the merge reads it, the violation is a warning naming that review."""
    changed = {f.path for f in judged if f.kind == "timestamp_format_changed"}
    out = []
    for finding in checked:
        field_plan = next((p for p in plan.fields.values() if p.path == finding.path), None)
        if (
            finding.kind == "schema_violation"
            and finding.severity == "breaking"
            and field_plan is not None
            and field_plan.field.role == "timestamp"
            and field_plan.formats
            and field_plan.formats <= field_plan.field.timestamp_formats
            and finding.path not in changed
        ):
            recorded = ", ".join(sorted(field_plan.formats))
            finding = replace(
                finding,
                severity="warning",
                message=f"{finding.message}; tolerated: the reviewed lock records {recorded}, "
                "which the merge reads",
            )
        out.append(finding)
    return out


def _combined(earlier: list[Finding], consumer: list[Finding], skip: int) -> list[Finding]:
    """Drift findings plus consumer findings; one finding per (kind, path), the more
    severe one winning (the drift finding on a tie: it carries the evidence)."""
    rank = {"breaking": 0, "warning": 1, "info": 2}
    out = list(earlier[skip:])
    where = {(f.kind, f.path): i for i, f in enumerate(out)}
    checked = {(f.kind, f.path) for f in earlier[:skip]}
    for finding in consumer:
        key = (finding.kind, finding.path)
        if key in checked:
            continue
        index = where.get(key)
        if index is None:
            where[key] = len(out)
            out.append(finding)
        elif rank[finding.severity] < rank[out[index].severity]:
            # The drift engine located it better (a would-be pointer for a missing path).
            out[index] = replace(finding, pointer=out[index].pointer or finding.pointer)
    return out


def diff_input(item: Input, reference: Reference) -> tuple[list[Finding], Profile]:
    """Profile one input and compare it with `reference`; returns findings and the profile."""
    observed, failed = profile_input(item)
    surface = item.surface
    findings = status_findings(surface, item.name, failed)
    findings.extend(contradiction_findings(item.name, observed))
    judged, _plan = judge_capture(surface, item.name, observed, reference)
    findings.extend(judged)
    return findings, observed


def contradiction_findings(source: str, observed: Profile) -> list[Finding]:
    """`pagination_changed` for the bodies the profile saw say has_more with no cursor."""
    return [contradiction_finding(observed.surface, source, c) for c in observed.contradictions]


class CheckAndProfile:
    """Contract check and observed profile of one source in a single pass over its rows."""

    def __init__(self, surface: Surface, name: str, key: SketchKey | None) -> None:
        self.check = CheckSink(surface, name)
        self.profile = ProfileSink(surface, key)

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        self.check.rows(prefix, first, rows)
        self.profile.rows(prefix, first, rows)

    def body(self, body: Body) -> None:
        self.check.body(body)
        self.profile.body(body)


def check_and_profile(item: Input) -> tuple[list[Finding], Profile]:
    """Contract check and observed profile of one input in a single pass over its rows
    (a large file streams page by page)."""
    key = sketch_key([item])
    with nesting_guard(item.name):
        sink, capture = read_input(item, lambda: CheckAndProfile(item.surface, item.name, key))
        return sink.check.findings(capture), sink.profile.profiler.result()


def consumer_contract(surfaces: Iterable[str]) -> dict[str, list[str]]:
    return {name: sorted(consumed_paths(name)) for name in sorted(set(surfaces))}


# -- `verify diff` --------------------------------------------------------------------------


def reference_for(against: str, surface: Surface, locks_dir: Path) -> Reference:
    """The reference to compare with: `documented`, `lock`, a lock file or a payload file."""
    if against == "documented":
        return documented_reference(surface)
    if against == "lock":
        lock = load_surface_lock(surface, locks_dir)
        if lock is None:
            raise UsageError(
                f"no lock for {surface.name} at {lock_path(surface, locks_dir)}; "
                "create one with `verify lock CAPTURE...`"
            )
        return lock_reference(surface, lock)
    path = Path(against)
    if not path.is_file():
        raise UsageError(
            f"--against expects documented, lock or a lock/payload FILE; {against!r} is not a file"
        )
    document = load_json_file(path)
    if isinstance(document, dict) and document.get("format") == "verify-lock":
        lock = lock_from_json(document, against)
        if lock.surface != surface.name:
            raise UsageError(f"{against} is a lock for {lock.surface}, not {surface.name}")
        return lock_reference(surface, lock, f"lock {against}")
    reference = source_from_document(document, against, surface)
    if reference.surface.name != surface.name:
        raise UsageError(f"{against} is a {reference.surface.name} payload, not {surface.name}")
    return Reference(profile_source(reference), against)


def run_diff(
    paths_in: Sequence[str | Path],
    surface: str | None = None,
    *,
    against: str = "documented",
    locks_dir: Path = Path("captures/locks"),
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> Report:
    """`verify diff` as a library call: profile each input and compare it."""
    inputs = load_inputs(list(paths_in), surface, stream_min_bytes=stream_min_bytes)
    findings: list[Finding] = []
    references: dict[str, Reference] = {}
    for item in inputs:
        name = item.surface.name
        if name not in references:
            references[name] = reference_for(against, item.surface, locks_dir)
        found, _observed = diff_input(item, references[name])
        findings.extend(found)
    # Two captures of one surface (`verify diff OLD NEW`): also the values the vendor revised.
    findings.extend(restatements_between(inputs))
    return Report(
        command="diff",
        findings=tuple(findings),
        sources=tuple(item.name for item in inputs),
        extra={
            "against": against,
            "consumer_contract": consumer_contract(references),
        },
    )
