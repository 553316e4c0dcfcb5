"""Severity from the typed consumer contract, the same for check, diff and gate.

A finding on a path no parser reads is a `warning` (`info` for a new field). On a
consumed field it is `breaking` only when what arrives is outside what the parser
accepts (type, timestamp format, unit, null, absence) or the field can no longer be
located; a change the parser reads correctly is a `warning` that names the tolerance.
`consumer_findings` adds what only the contract can say: shares of unattributed or
unknown values, broken assumptions (currency, attribution), fields nobody can locate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from verifier.consumer import ABSENCE_MEANING, contract_for, is_consumed
from verifier.consumer.mapping import FieldPlan, ReadingPlan, readable_formats
from verifier.consumer.model import Assumption, ConsumedField
from verifier.findings import Finding, FindingKind, Severity
from verifier.profile import NUMERIC_STRING, PathProfile, Profile

TOLERATED_NUMERIC_STRING = (
    "tolerated: the merge reads a numeric-string amount exactly (Decimal from its text)"
)
TOLERATED_ZONED = "tolerated: every zoned RFC 3339 spelling names the same instant"


@dataclass(frozen=True, slots=True)
class Judgement:
    severity: Severity
    consumed: bool
    note: str = ""  # the tolerance or assumption the severity rests on


def _field_at(surface: str, path: str, mapped: Mapping[str, str]) -> ConsumedField | None:
    contract = contract_for(surface)
    if contract is None:
        return None
    if path in mapped:
        return contract.field(mapped[path])
    found = contract.fields_at(path)
    return found[0] if found else None


def judge(
    surface: str,
    kind: FindingKind,
    path: str,
    *,
    observed_types: frozenset[str] = frozenset(),
    numeric_strings: bool = False,
    expected_formats: frozenset[str] = frozenset(),
    observed_formats: frozenset[str] = frozenset(),
    rule: str = "",
    mapped: Mapping[str, str] | None = None,
    scaled: bool = False,
) -> Judgement:
    """The severity of one finding. `mapped`: paths a lock maps fields to (accepted
    moves) -> field name; `scaled`: a reviewer stated the unit scale of this path."""
    mapped = mapped or {}
    if kind == "field_added":
        return Judgement("info", False)
    consumed = is_consumed(surface, path, frozenset(mapped))
    if not consumed:
        return Judgement("warning", False)
    consumed_field = _field_at(surface, path, mapped)
    if consumed_field is None:  # a container above consumed fields
        return _container(surface, kind, path)
    tolerance = _tolerance(
        consumed_field,
        kind,
        rule,
        observed_types,
        numeric_strings,
        expected_formats,
        observed_formats,
        scaled,
    )
    if tolerance:
        return Judgement("warning", True, tolerance)
    return Judgement("breaking", True, _why_breaking(consumed_field, kind))


def _container(surface: str, kind: FindingKind, path: str) -> Judgement:
    """A container is as required as the most required field beneath it."""
    contract = contract_for(surface)
    beneath = [
        f
        for f in (contract.fields if contract else ())
        if any(p.startswith((path + ".", path + "[]")) for p in f.candidate_paths)
    ]
    absence = kind in ("field_missing", "presence_changed", "nullability_changed")
    if absence and beneath and all(f.absent != "required" for f in beneath):
        names = ", ".join(f.name for f in beneath)
        return Judgement("warning", True, f"tolerated: absent {names} are shown as missing")
    return Judgement("breaking", True)


def _tolerance(
    consumed: ConsumedField,
    kind: FindingKind,
    rule: str,
    observed_types: frozenset[str],
    numeric_strings: bool,
    expected_formats: frozenset[str],
    observed_formats: frozenset[str],
    scaled: bool,
) -> str:
    """The tolerance that makes this finding harmless to the parser, or ""."""
    if kind == "type_changed" or (kind == "schema_violation" and rule == "type"):
        if observed_types and consumed.accepts_types(observed_types, numeric_strings):
            if consumed.role == "timestamp":
                return ""  # a type change of a timestamp is a format change: never silent
            if numeric_strings and "string" in observed_types:
                return TOLERATED_NUMERIC_STRING
            accepted = " or ".join(sorted(consumed.types))
            return f"tolerated: the merge reads {consumed.name} as {accepted}"
        return ""
    if kind == "timestamp_format_changed":
        readable = readable_formats(expected_formats) & consumed.timestamp_formats
        if observed_formats and observed_formats <= readable:
            return TOLERATED_ZONED
        return ""
    if kind == "nullability_changed" and consumed.nullable:
        return f"tolerated: a null {consumed.name} is {_null_meaning(consumed)}"
    if kind in ("presence_changed", "field_missing") or (
        kind == "schema_violation" and rule == "required"
    ):
        if consumed.absent != "required":
            return f"tolerated: an absent {consumed.name} is {ABSENCE_MEANING[consumed.absent]}"
        return ""
    if kind == "unit_suspect" and scaled:
        return "tolerated: the reviewer stated this field's unit scale in the lock"
    return ""


def _unless_fallback(plan: ReadingPlan, consumed: ConsumedField) -> str:
    names = [n for a in plan.contract.assumptions_on(consumed.name) for n in a.fallbacks]
    return f" unless it carries {' or '.join(names)}" if names else ""


def _null_meaning(consumed: ConsumedField) -> str:
    if consumed.role == "identity":
        return "an unattributed row"
    if consumed.role == "email":
        return "a person not joined by email (their id stands alone)"
    return "read as 0" if consumed.absent == "zero" else "shown as missing, never 0"


def _why_breaking(consumed: ConsumedField, kind: FindingKind) -> str:
    if kind == "field_moved":
        return (
            f"the merge reads {consumed.name} at the locked path until a reviewer accepts "
            "the move (`verify lock --accept`)"
        )
    if kind == "unit_suspect":
        return (
            f"a unit change of {consumed.name} is never accepted silently: state the scale "
            "(`verify lock --accept --scale PATH=FACTOR`)"
        )
    if kind in ("field_missing", "presence_changed"):
        return f"the merge cannot run without {consumed.name}"
    return f"outside what the merge reads for {consumed.name}"


def numeric_only(profile: PathProfile) -> bool:
    """Every string seen at this path held a number."""
    strings = profile.types.get("string", 0)
    return strings > 0 and profile.formats.get(NUMERIC_STRING, 0) == strings


# -- What only the consumer contract can say -------------------------------------------------


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.1f}%)" if whole else f"{part}"


def consumer_findings(
    plan: ReadingPlan, observed: Profile, source: str, reported: Iterable[tuple[str, str]] = ()
) -> list[Finding]:
    """Per consumed field of `plan`, what the capture means for the merge: a field no
    path holds, a share of unattributed (null user) or unknown (absent count) values, a
    broken assumption, a stated unit scale. `reported`: (kind, path) already reported
    by check/diff, not repeated."""
    if not any(p.present for p in observed.paths.values()):
        return []  # no data (an error answer, an empty window): nothing to judge
    done = set(reported)
    out: list[Finding] = []
    for name, field_plan in plan.fields.items():
        seen = observed.paths.get(field_plan.path)
        if seen is None or seen.present == 0:
            found = _unlocated(plan, field_plan, observed, source)
        else:
            found = _located(plan, field_plan, seen, source, observed)
        for finding in found:
            if (finding.kind, finding.path) not in done:
                done.add((finding.kind, finding.path))
                out.append(finding)
        del name
    return out


def _finding(
    plan: ReadingPlan,
    source: str,
    kind: FindingKind,
    path: str,
    pointer: str,
    severity: Severity,
    expected: str,
    observed: str,
) -> Finding:
    return Finding(
        surface=plan.contract.surface,
        source=source,
        kind=kind,
        path=path,
        pointer=pointer,
        severity=severity,
        expected=expected,
        observed=observed,
        message=f"{path}: expected {expected} (consumer contract), observed {observed}",
        consumed_by_merge=True,
    )


def _parent_exists(observed: Profile, path: str) -> bool:
    row = path.rsplit("[]", 1)[0] + "[]" if "[]" in path else ""
    seen = observed.paths.get(row) if row else None
    return row == "" or (seen is not None and seen.present > 0)


def _unlocated(
    plan: ReadingPlan, field_plan: FieldPlan, observed: Profile, source: str
) -> list[Finding]:
    consumed = field_plan.field
    if consumed.optional or not _parent_exists(observed, field_plan.path):
        return []  # documented optional, or no rows at all: nothing is missing
    elsewhere = [p for p in consumed.candidate_paths if observed.paths.get(p)]
    assumptions = plan.contract.assumptions_on(consumed.name)
    attributed = [a for a in assumptions if a.attributed]
    fallback = _attributing_fallback(plan, attributed, observed)
    tolerated = consumed.absent != "required" and not attributed
    if fallback:
        severity: Severity = "warning"
        expected = f"{consumed.name} at {field_plan.path}"
        observed_text = f"absent everywhere; tolerated: {fallback}"
    elif tolerated:
        severity = "warning"
        expected = f"{consumed.name} at {field_plan.path}"
        observed_text = f"absent everywhere; tolerated: {ABSENCE_MEANING[consumed.absent]}"
    else:
        severity = "breaking"
        statement = attributed[0].statement if attributed else ABSENCE_MEANING["required"]
        expected = f"{consumed.name} at {field_plan.path}: {statement}"
        where = f" (a documented variant has it at {', '.join(elsewhere)})" if elsewhere else ""
        observed_text = f"absent everywhere{where}"
    return [
        _finding(
            plan,
            source,
            "field_missing",
            field_plan.path,
            observed.first_body,
            severity,
            expected,
            observed_text,
        )
    ]


def _attributing_fallback(
    plan: ReadingPlan, attributed: Sequence[Assumption], observed: Profile
) -> str:
    """The tolerance when a field an attribution assumption names has no value anywhere
    but one of its fallbacks (costs `user_email` for `user_id`) has values, else ""."""
    for assumption in attributed:
        for name in assumption.fallbacks:
            fallback = plan.fields.get(name)
            seen = observed.paths.get(fallback.path) if fallback else None
            if seen is not None and seen.present > seen.nulls:
                return (
                    f"results are attributed by {name} (assumption {assumption.name}); "
                    f"one with neither is unattributed"
                )
    return ""


def _located(
    plan: ReadingPlan, field_plan: FieldPlan, seen: PathProfile, source: str, observed: Profile
) -> list[Finding]:
    consumed = field_plan.field
    out: list[Finding] = _unreadable(plan, field_plan, seen, source)
    path = field_plan.path
    for assumption in plan.contract.assumptions_on(consumed.name):
        if assumption.attributed and seen.nulls == seen.present:
            fallback = _attributing_fallback(plan, (assumption,), observed)
            out.append(
                _finding(
                    plan,
                    source,
                    "nullability_changed",
                    path,
                    seen.type_pointers.get("null", seen.first_pointer),
                    "warning" if fallback else "breaking",
                    f"a {consumed.name} to attribute by (assumption {assumption.name}: "
                    f"{assumption.statement})",
                    f"null in every one of {seen.present} place(s): "
                    + (f"tolerated: {fallback}" if fallback else "nothing can be attributed"),
                )
            )
        if assumption.values is not None:
            values = seen.values
            odd = (
                None
                if values is None
                else [v for v in values if not _allowed(v.value, assumption.values)]
            )
            if values is None or odd:
                shown = (
                    "too many distinct values to confirm"
                    if odd is None
                    else ", ".join(
                        f'"{v.value}"'
                        if isinstance(v.value, str) and len(v.value) <= 8
                        else "another value"
                        for v in odd
                    )
                )
                out.append(
                    _finding(
                        plan,
                        source,
                        "value_changed",
                        path,
                        odd[0].pointer if odd else seen.first_pointer,
                        "breaking",
                        f"{' or '.join(sorted(assumption.values))} (assumption "
                        f"{assumption.name}: {assumption.statement})",
                        shown,
                    )
                )
    if seen.nulls and consumed.nullable and seen.nulls < seen.present:
        out.append(
            _finding(
                plan,
                source,
                "nullability_changed",
                path,
                seen.type_pointers.get("null", seen.first_pointer),
                "warning",
                f"a {consumed.name} on every row",
                f"null in {_share(seen.nulls, seen.present)} place(s); tolerated: "
                f"{_null_meaning(consumed)}{_unless_fallback(plan, consumed)}",
            )
        )
    absent = seen.parents - seen.present
    if absent > 0 and consumed.absent == "required":
        out.append(
            _finding(
                plan,
                source,
                "presence_changed",
                path,
                seen.absent_pointer or seen.first_pointer,
                "breaking",
                f"{consumed.name} on every row ({ABSENCE_MEANING['required']})",
                f"absent from {_share(absent, seen.parents)} row(s)",
            )
        )
    # An absent email is documented ("when the workspace allows it"); counts are not.
    if absent > 0 and consumed.absent == "unknown" and consumed.role in ("count", "identity"):
        out.append(
            _finding(
                plan,
                source,
                "presence_changed",
                path,
                seen.absent_pointer or seen.first_pointer,
                "warning",
                f"{consumed.name} on every row",
                f"absent from {_share(absent, seen.parents)} row(s); tolerated: "
                f"{ABSENCE_MEANING['unknown']}",
            )
        )
    if field_plan.scale is not None:
        out.append(
            _finding(
                plan,
                source,
                "unit_suspect",
                path,
                seen.first_pointer,
                "warning",
                f"{consumed.unit or 'the contract unit'}",
                f"values read times {format(field_plan.scale, 'f')}, as a reviewer stated "
                "in the lock",
            )
        )
    return out


def _unreadable(
    plan: ReadingPlan, field_plan: FieldPlan, seen: PathProfile, source: str
) -> list[Finding]:
    """Values the parser cannot read whatever a lock says: a type it does not accept, a
    timestamp format it does not decode, or both seconds and milliseconds."""
    consumed = field_plan.field
    observed = seen.type_set
    if observed and not consumed.accepts_types(observed, numeric_only(seen)):
        odd = sorted(observed - consumed.types - {"integer"})
        return [
            _finding(
                plan,
                source,
                "type_changed",
                field_plan.path,
                seen.type_pointers.get(odd[0], seen.first_pointer) if odd else seen.first_pointer,
                "breaking",
                f"{' or '.join(sorted(consumed.types))} ({consumed.name} as the merge reads it)",
                " or ".join(sorted(observed)),
            )
        ]
    if consumed.role != "timestamp":
        return []
    formats = {f for f in seen.formats if f != NUMERIC_STRING}
    stamped = sum(n for f, n in seen.formats.items() if f != NUMERIC_STRING)
    unreadable = formats - consumed.timestamp_formats
    if stamped < sum(seen.types.values()):
        unreadable.add("other")
    if "unix-seconds" in formats and "unix-millis" in formats:
        unreadable.add("unix-seconds and unix-millis together")
    if not unreadable:
        return []
    return [
        _finding(
            plan,
            source,
            "timestamp_format_changed",
            field_plan.path,
            seen.first_pointer,
            "breaking",
            "one of " + ", ".join(sorted(consumed.timestamp_formats)) + " (what the merge decodes)",
            ", ".join(sorted(unreadable)),
        )
    ]


def _allowed(value: object, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value.lower() in allowed
