"""JSON Schema contract validation -> `schema_violation` findings.

python-jsonschema is the reference for semantics and messages. Formats are enforced
(`FORMAT_CHECKER`; `date-time` needs rfc3339-validator, a declared dependency), so an
RFC 3339 field holding anything else is a violation, not silently skipped.
Violations are aggregated per (path, rule) as they arrive (`Tallies`): one finding with
the first pointer and an occurrence count, never a whole-document dump.

Fast path: a compiled jsonschema-rs validator (formats enforced) answers "valid?" first;
python-jsonschema runs only on documents (or streamed rows) it rejects, to produce the
reference messages; a failing row's failing nested items are explained alone, and a unit
whose compiled errors repeat an earlier one's reuses its explanation (`RowExplainer`).
Formats where jsonschema-rs is more lenient than the reference
(`date-time`: leap seconds) are checked by the reference's own function, so both
validators reject exactly the same documents (tests/test_fastpath.py proves it over the
corpus). Large files (raw bodies and capture files) are validated row slice by row slice
while they stream (inputs.StreamedSource, `CheckSink`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jsonschema_rs

from verifier import paths
from verifier.consumer.judge import judge
from verifier.errors import UsageError
from verifier.findings import Finding, Report, finding_from_json
from verifier.inputs import (
    ROWS_KEY,
    STREAM_MIN_BYTES,
    Body,
    Input,
    Source,
    feed_source,
    json_problem,
    json_type,
    load_inputs,
    read_input,
    row_weight,
)
from verifier.pagination import Contradiction, contradiction, contradiction_finding
from verifier.profile import NUMERIC_STRING, classify_string
from verifier.redact import describe_string, mask_prose, show_string
from verifier.schemas import surface_schema
from verifier.store import Capture
from verifier.surfaces import Surface

if TYPE_CHECKING:  # imported when first used: a tenth of a second that valid files skip
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_REQUIRED = re.compile(r"^(.*) is a required property$")


@cache
def validator_for(surface: Surface) -> Draft202012Validator:
    """The reference validator: run only on what the compiled one rejects."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        surface_schema(surface), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@dataclass(frozen=True, slots=True)
class Violation:
    """One schema error, located and described without echoing personal data."""

    parts: tuple[str | int, ...]
    rule: str
    expected: str
    observed: str
    instance: str = ""  # JSON type of the offending value, `numeric-string` for "12.50"


def describe_value(
    value: Any, safe: bool, allowed: Iterable[object] = (), shape: str | None = None
) -> str:
    """Plain words for a value. A string is quoted only where the schema marks it safe and
    it is what is allowed there (`verifier.redact.show_string`); otherwise described."""
    kind = json_type(value)
    if isinstance(value, dict):
        return f"an object with {len(value)} member(s)"
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, str):
        return show_string(value, allowed, shape) if safe else describe_string(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return f"{kind} {value}" if safe else f"{kind} (value withheld)"


def _allowed_here(schema: object) -> tuple[tuple[object, ...], str | None]:
    """What a safe schema node allows: its enum/const values and the value shape."""
    if not isinstance(schema, Mapping):
        return (), None
    values = tuple(schema.get("enum") or ()) + ((schema["const"],) if "const" in schema else ())
    types = schema.get("type")
    typed = set(types) if isinstance(types, list) else {types}
    if "x-timestamp-format" in schema:
        return values, "timestamp"
    return values, "number" if typed & {"number", "integer"} else None


def _safe_schema(schema: object) -> bool:
    if not isinstance(schema, Mapping):
        return False
    return (
        schema.get("x-pii") == "none"
        or "x-timestamp-format" in schema
        or "const" in schema
        or "enum" in schema
    )


def violation_of(error: ValidationError) -> Violation:
    parts = tuple(error.absolute_path)
    keyword = str(error.validator)
    value: Any = error.validator_value
    safe = _safe_schema(error.schema)
    if keyword == "required":
        match = _REQUIRED.match(error.message)
        name = ast.literal_eval(match.group(1)) if match else "?"
        return Violation((*parts, str(name)), keyword, "a required member", "absent")
    observed = describe_value(error.instance, safe, *_allowed_here(error.schema))
    instance = json_type(error.instance)
    if isinstance(error.instance, str) and classify_string(error.instance) == NUMERIC_STRING:
        instance = NUMERIC_STRING
    if keyword == "type":
        allowed = value if isinstance(value, list) else [value]
        expected = " or ".join(str(t) for t in allowed)
    elif keyword == "format":
        expected = f"a string in format {value}"
    elif keyword == "const":
        expected = f"the constant {describe_value(value, True)}"
    elif keyword == "enum":
        expected = "one of " + ", ".join(describe_value(v, True) for v in value)
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        expected = f"{keyword} {value}"
    elif keyword in ("anyOf", "oneOf"):
        expected = "one of the documented shapes"
    else:
        expected = f"{keyword} {describe_value(value, True)}"
    return Violation(parts, keyword, expected, observed, instance)


# Formats jsonschema-rs checks at least as strictly as the reference (whatever it accepts,
# python-jsonschema accepts too); every other format runs the reference's own check.
# `date-time` is one of them once leap seconds, which jsonschema-rs accepts and the
# reference (rfc3339-validator) refuses, are refused by an added pattern.
_RS_STRICTER_FORMATS = frozenset({"email", "date-time"})
_LEAP_SECOND = {"not": {"type": "string", "pattern": "[Tt ][0-9]{2}:[0-9]{2}:60"}}


def _schema_formats(schema: Any) -> set[str]:
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("format"), str):
                found.add(node["format"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _refuse_leap_seconds(node: Any) -> Any:
    """A copy of the schema where every `date-time` subschema also refuses second 60."""
    if isinstance(node, list):
        return [_refuse_leap_seconds(v) for v in node]
    if not isinstance(node, dict):
        return node
    copied = {k: _refuse_leap_seconds(v) for k, v in node.items()}
    if copied.get("format") == "date-time":
        return {"allOf": [copied, _LEAP_SECOND]}
    return copied


def _reference_format(name: str) -> Any:
    from jsonschema import Draft202012Validator

    checker = Draft202012Validator.FORMAT_CHECKER
    memo: dict[str, bool] = {}

    def conforms(value: str) -> bool:
        known = memo.get(value)
        if known is None:
            if len(memo) > 100_000:
                memo.clear()
            known = memo[value] = checker.conforms(value, name)
        return known

    return conforms


def compiled_validator(schema: dict[str, Any]) -> Any:
    """A jsonschema-rs validator that rejects whatever the reference rejects."""
    formats = {
        name: _reference_format(name)
        for name in _schema_formats(schema)
        if name not in _RS_STRICTER_FORMATS
    }
    return jsonschema_rs.Draft202012Validator(
        _refuse_leap_seconds(schema), formats=formats, validate_formats=True
    )


@cache
def fast_validator_for(surface: Surface) -> Any:
    return compiled_validator(surface_schema(surface))


def rows_schema(surface: Surface) -> Mapping[str, Any] | None:
    """The schema of one `data` item, when `data` has no array-wide constraint (so that
    validating items one by one is exactly validating the array); else None."""
    data = surface_schema(surface).get("properties", {}).get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("items"), Mapping):
        return None
    annotations = {"type", "items", "description", "title"}
    extra = {k for k in data if k not in annotations and not k.startswith("x-")}
    if extra or data.get("type") != "array":
        return None
    items: Mapping[str, Any] = data["items"]
    return items


def _rows_wrapper(surface: Surface, items: Mapping[str, Any]) -> dict[str, Any]:
    root = surface_schema(surface)
    # Keep the definitions the item schema refers to (`#/$defs/...`).
    return {"$schema": root.get("$schema"), "$defs": root.get("$defs", {}), **items}


@cache
def fast_row_validator_for(surface: Surface) -> Any:
    items = rows_schema(surface)
    if items is None:
        raise UsageError(f"{surface.name}: rows cannot be validated one by one")
    return compiled_validator(_rows_wrapper(surface, items))


@cache
def fast_batch_validator_for(surface: Surface) -> Any:
    """Validates a list of rows in one call (the per-call overhead dominates per row)."""
    items = rows_schema(surface)
    if items is None:
        raise UsageError(f"{surface.name}: rows cannot be validated one by one")
    wrapper = _rows_wrapper(surface, {"type": "array", "items": dict(items)})
    return compiled_validator(wrapper)


def violations(surface: Surface, document: Any) -> Iterator[Violation]:
    if fast_validator_for(surface).is_valid(document):
        return
    for error in validator_for(surface).iter_errors(document):
        yield violation_of(error)


def row_violations(surface: Surface, index: int, row: Any) -> Iterator[Violation]:
    """Violations of one `data` item, located as if the whole document was validated."""
    if fast_row_validator_for(surface).is_valid(row):
        return
    items = rows_schema(surface)
    for error in validator_for(surface).descend(row, items or {}, path=index):
        violation = violation_of(error)
        yield Violation(("data", *violation.parts), *_rest(violation))


def _rest(v: Violation) -> tuple[str, str, str, str]:
    return v.rule, v.expected, v.observed, v.instance


class Tally:
    """One (path, rule, expected) group: its first occurrence, a count and the JSON types
    seen. Memory does not grow with the number of occurrences."""

    __slots__ = ("count", "instances", "observed", "pointer")

    def __init__(self, pointer: str, observed: str, instance: str) -> None:
        self.pointer = pointer
        self.observed = observed
        self.count = 1
        self.instances = {instance}


GroupKey = tuple[str, str, str]  # (contract path, rule, expected)


def group_key(v: Violation) -> GroupKey:
    return paths.path_of(v.parts), v.rule, v.expected


class Tallies:
    """Violations grouped as they arrive, in the order of their first occurrence."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, Tally] = {}

    def add(self, prefix: str, v: Violation) -> None:
        self.add_keyed(group_key(v), prefix, v)

    def add_keyed(self, key: GroupKey, prefix: str, v: Violation) -> None:
        tally = self.groups.get(key)
        if tally is None:
            self.groups[key] = Tally(prefix + paths.pointer(v.parts), v.observed, v.instance)
        else:
            tally.count += 1
            tally.instances.add(v.instance)

    def bump(self, key: GroupKey, instance: str) -> bool:
        """One more occurrence of an open group (False when the group is not open)."""
        tally = self.groups.get(key)
        if tally is None:
            return False
        tally.count += 1
        tally.instances.add(instance)
        return True

    def extend(self, prefix: str, found: Iterable[Violation]) -> None:
        for v in found:
            self.add(prefix, v)

    def absorb(self, later: Tallies) -> None:
        """Append `later`'s occurrences, as if they had been added after this one's."""
        for key, tally in later.groups.items():
            mine = self.groups.get(key)
            if mine is None:
                self.groups[key] = tally
            else:
                mine.count += tally.count
                mine.instances |= tally.instances
        later.groups = {}


def findings_from_violations(
    surface: Surface, source: str, located: Iterable[tuple[str, Violation]]
) -> list[Finding]:
    """Aggregate (pointer prefix, violation) pairs into one finding per path and rule."""
    tallies = Tallies()
    for prefix, v in located:
        tallies.add(prefix, v)
    return findings_from_tallies(surface, source, tallies)


def findings_from_tallies(surface: Surface, source: str, tallies: Tallies) -> list[Finding]:
    """One finding per path and rule (`observed` describes the first occurrence); the
    consumer contract says how severe each is (`verifier.consumer.judge`)."""
    findings = []
    for (path, rule, expected), tally in tallies.groups.items():
        shown = path or "(document)"
        count, instances = tally.count, tally.instances
        times = f" in {count} places" if count > 1 else ""
        types = frozenset("string" if t == NUMERIC_STRING else t for t in instances if t)
        verdict = judge(
            surface.name,
            "schema_violation",
            path,
            observed_types=types,
            numeric_strings=NUMERIC_STRING in instances and "string" not in instances,
            rule=rule,
        )
        note = f"; {verdict.note}" if verdict.note else ""
        findings.append(
            Finding(
                surface=surface.name,
                source=source,
                kind="schema_violation",
                path=path,
                pointer=tally.pointer,
                severity=verdict.severity,
                expected=expected,
                observed=tally.observed,
                message=f"{shown}: expected {expected}, observed {tally.observed}{times}{note}",
                consumed_by_merge=verdict.consumed,
                occurrences=count,
            )
        )
    return findings


def vendor_message(body: Any, body_text: str | None = None) -> str:
    """The vendor's own error message from an OpenAI envelope, a bare string or FastAPI."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        detail = body.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return str(detail[0].get("msg", "validation error"))
        if isinstance(detail, str):
            return detail
    if body_text:
        return " ".join(body_text.split())[:200]
    return "no error message in the body"


def http_status_finding(surface: Surface, source: str, body: Body) -> Finding:
    message = mask_prose(vendor_message(body.value, body.body_text))
    return Finding(
        surface=surface.name,
        source=source,
        kind="http_status",
        path="",
        pointer=body.pointer_prefix.rsplit("/body", 1)[0] + "/status",
        severity="breaking",
        expected="HTTP 2xx",
        observed=f"HTTP {body.status}: {message}",
        message=f"the API answered HTTP {body.status}: {message}",
        consumed_by_merge=True,
    )


def unreadable_body_finding(surface: Surface, source: str, body: Body) -> Finding:
    """A 2xx answer the capture kept as text because it is not JSON (`1e400`, a cut-off
    body, an HTML page): its rows were never read, so a merge would miss them."""
    why = json_problem(body.body_text or "") or "unreadable"
    return Finding(
        surface=surface.name,
        source=source,
        kind="schema_violation",
        path="",
        pointer=body.pointer_prefix or "/",
        severity="breaking",
        expected="a JSON body",
        observed=f"HTTP {body.status}, not JSON: {why}",
        message=f"the API answered HTTP {body.status} with a body that is not JSON ({why}); "
        "its rows could not be read",
        consumed_by_merge=True,
    )


def check_source(source: Source) -> list[Finding]:
    """Validate every 2xx body of a source; non-2xx answers become `http_status`."""
    sink = CheckSink(source.surface, source.name)
    return sink.findings(feed_source(source, sink))


def capture_findings(source: str, capture: Capture | None) -> list[Finding]:
    """Findings the capture recorded at capture time (e.g. `pagination_changed`)."""
    if capture is None:
        return []
    out = []
    for raw in capture.findings:
        if raw.get("kind") == "http_status":
            continue  # re-derived from the recorded pages
        out.append(finding_from_json(raw, source))
    return out


# jsonschema-rs error kinds whose python-jsonschema counterpart is one error at the same
# place, whatever the value: a unit (row or nested item) failing with the same kinds at the
# same places is explained alike. Others (anyOf, oneOf, not, ...) are always explained, and
# so are formats jsonschema-rs checks itself (stricter than the reference, see below);
# the other formats run the reference's own function (`_reference_format`).
_MEMO_KINDS = frozenset(
    {
        "type",
        "required",
        "enum",
        "const",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }
)
_MEMO_MAX = 4096
_ANNOTATIONS = frozenset({"type", "items", "description", "title"})

Signature = tuple[tuple[object, ...], ...]


def _instance_class(value: Any) -> str:
    """What `Violation.instance` says of a value (the JSON type, `numeric-string`)."""
    if isinstance(value, str) and classify_string(value) == NUMERIC_STRING:
        return NUMERIC_STRING
    return json_type(value)


def _signature(errors: list[Any], skip: int) -> Signature | None:
    """The compiled validator's errors of a unit, without its index; None when one of them
    is of a kind the memo does not trust."""
    out = []
    for error in errors:
        kind = error.kind.name
        if kind not in _MEMO_KINDS:
            return None
        if kind == "format" and error.kind.format in _RS_STRICTER_FORMATS:
            # jsonschema-rs refuses some values the reference accepts ("a@b" is an email
            # to python-jsonschema): the same compiled error is not the same violation.
            return None
        where = tuple(error.instance_path)[skip:]
        what = error.kind.property if kind == "required" else _instance_class(error.instance)
        out.append((where, tuple(error.schema_path), kind, what))
    return tuple(out)


def _local(root: Mapping[str, Any], node: Any) -> Any:
    """`node`, or the `$defs` entry a bare local `$ref` names."""
    if isinstance(node, Mapping) and set(node) == {"$ref"}:
        ref = node["$ref"]
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
    return node


@cache
def nested_arrays(surface: Surface) -> dict[str, tuple[int, Mapping[str, Any]]]:
    """A row's members that are plain arrays (no array-wide constraint), by name: their
    rank among the row schema's properties and their item schema. An item of one is
    explained on its own, exactly as when its row is (python-jsonschema walks
    `properties` in schema order and `items` in index order)."""
    root = surface_schema(surface)
    row = _local(root, rows_schema(surface))
    if not isinstance(row, Mapping) or not isinstance(row.get("properties"), Mapping):
        return {}
    found: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for rank, (name, sub) in enumerate(row["properties"].items()):
        if not isinstance(sub, Mapping) or sub.get("type") != "array":
            continue
        extra = {k for k in sub if k not in _ANNOTATIONS and not k.startswith("x-")}
        if not extra and isinstance(sub.get("items"), Mapping):
            found[name] = (rank, sub["items"])
    return found


@dataclass(frozen=True, slots=True)
class _Memo:
    """A unit's violations as python-jsonschema gave them, located relative to the unit."""

    key: GroupKey
    parts: tuple[str | int, ...]
    violation: Violation


class _Unit(NamedTuple):
    """What one reference explanation covers: a row, or one item of a row's nested array
    (`name`), at `position`, its violations located under `prefix` + `base`."""

    prefix: str
    base: tuple[str | int, ...]
    name: str | None
    value: Any
    schema: Mapping[str, Any]
    position: int


class RowExplainer:
    """The violations of failing rows, exactly as `row_violations` gives them, without
    running python-jsonschema on every one: a failing row is split into its failing nested
    items (a cost bucket's `results`) when only they fail, and a unit whose compiled errors
    (places, kinds, JSON types) were seen before reuses the reference's explanation of the
    first one. Reused occurrences only add to groups that the first one opened, so the
    first pointer and `observed` stay those of the first occurrence."""

    def __init__(self, surface: Surface, tallies: Tallies) -> None:
        self.surface = surface
        self.tallies = tallies
        self._fast = fast_row_validator_for(surface)
        self._items: Mapping[str, Any] = rows_schema(surface) or {}
        self._nested = nested_arrays(surface)
        self._memo: dict[tuple[str | None, Signature], tuple[_Memo, ...]] = {}
        self.reused = 0  # units explained from the memo (the tests check it is used)

    def row(self, prefix: str, index: int, row: Any) -> None:
        if self._fast.is_valid(row):
            return
        whole = _Unit(prefix, ("data",), None, row, self._items, index)
        try:
            errors = list(self._fast.iter_errors(row))
        except ValueError:  # e.g. "Recursion limit reached" on a very deep row
            self._explain(whole, None)
            return
        items = self._failing_items(errors)
        if items is None:
            self._unit(whole, errors, 0)
            return
        for (name, position), found in items:
            base = ("data", index, name)
            item = _Unit(prefix, base, name, row[name][position], self._nested[name][1], position)
            self._unit(item, found, 2)

    def _failing_items(self, errors: list[Any]) -> list[tuple[tuple[str, int], list[Any]]] | None:
        """The failing nested items in the reference's order, or None when some error lies
        outside them (the row is then explained whole)."""
        if not self._nested or not errors:
            return None
        groups: dict[tuple[str, int], list[Any]] = {}
        for error in errors:
            where = error.instance_path
            if len(where) < 2 or where[0] not in self._nested or not isinstance(where[1], int):
                return None
            groups.setdefault((where[0], where[1]), []).append(error)
        return sorted(groups.items(), key=lambda kv: (self._nested[kv[0][0]][0], kv[0][1]))

    def _unit(self, unit: _Unit, errors: list[Any], skip: int) -> None:
        signature = _signature(errors, skip)
        memo = self._memo.get((unit.name, signature)) if signature is not None else None
        if memo is None:
            self._explain(unit, signature)
            return
        self.reused += 1
        for entry in memo:
            if not self.tallies.bump(entry.key, entry.violation.instance):
                # The group was opened in tallies since handed on (`Tallies.absorb`):
                # this one is never the first occurrence there, it only counts.
                parts = (*unit.base, unit.position, *entry.parts)
                located = Violation(parts, *_rest(entry.violation))
                self.tallies.add_keyed(entry.key, unit.prefix, located)

    def _explain(self, unit: _Unit, signature: Signature | None) -> None:
        memo = []
        reference = validator_for(self.surface)
        for error in reference.descend(unit.value, unit.schema, path=unit.position):
            found = violation_of(error)
            located = Violation((*unit.base, *found.parts), *_rest(found))
            key = group_key(located)
            self.tallies.add_keyed(key, unit.prefix, located)
            memo.append(_Memo(key, found.parts[1:], found))
        if signature is not None:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[(unit.name, signature)] = tuple(memo)


_BATCH = 1000


class RowChecker:
    """Collects row violations in batches: one compiled call per batch of valid rows."""

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        self.tallies = Tallies()
        self._explainer = RowExplainer(surface, self.tallies)
        self._batch: list[Any] = []
        self._first = 0
        self._prefix = ""
        self._room = 1
        self._all_valid = fast_batch_validator_for(surface).is_valid

    def add(self, index: int, row: Any) -> None:
        self.add_rows("", index, [row])

    def add_rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        """A slice of `data` items of the body at `prefix`, `rows[0]` at index `first`."""
        if self._batch and (prefix != self._prefix or first != self._first + len(self._batch)):
            self.flush()
        if not self._batch:
            self._first, self._prefix = first, prefix
            # Rows of one body are alike: the first one sizes the batch.
            self._room = max(1, _BATCH // row_weight(rows[0])) if rows else 1
            if len(rows) >= self._room:
                self._check(prefix, first, rows)  # a whole slice: no copy into the batch
                return
        self._batch.extend(rows)
        if len(self._batch) >= self._room:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            self._check(self._prefix, self._first, self._batch)
        self._batch = []

    def _check(self, prefix: str, first: int, rows: list[Any]) -> None:
        if self._all_valid(rows):
            return
        for offset, row in enumerate(rows):
            self._explainer.row(prefix, first + offset, row)


class CheckSink:
    """Contract check of one source's bodies, streamed or whole (the same findings)."""

    def __init__(self, surface: Surface, name: str) -> None:
        self.surface = surface
        self.name = name
        self.statuses: list[Finding] = []
        self.tallies = Tallies()
        # Rows are validated one by one when the schema allows it, else held until
        # their body arrives and validated with it.
        self._checker = RowChecker(surface) if rows_schema(surface) is not None else None
        self._held: list[Any] = []
        self.contradictions: list[Contradiction] = []

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        if self._checker is not None:
            self._checker.add_rows(prefix, first, rows)
        else:
            self._held.extend(rows)

    def body(self, body: Body) -> None:
        if not body.ok:
            self.statuses.append(http_status_finding(self.surface, self.name, body))
            return
        if body.value is None and body.body_text is not None:
            self.statuses.append(unreadable_body_finding(self.surface, self.name, body))
            return
        value = body.value
        found = contradiction(self.surface, value, body.pointer_prefix)
        if found is not None:
            self.contradictions.append(found)
        if body.rows_streamed:
            if self._checker is not None:
                self._checker.flush()
                self.tallies.absorb(self._checker.tallies)
            else:
                value = {**value, ROWS_KEY: self._held}
                self._held = []
        self.tallies.extend(body.pointer_prefix, violations(self.surface, value))

    def findings(self, capture: Capture | None) -> list[Finding]:
        out = list(self.statuses)
        out.extend(findings_from_tallies(self.surface, self.name, self.tallies))
        recorded = capture_findings(self.name, capture)
        out.extend(recorded)
        # A body that says has_more with no cursor, unless capture already recorded it.
        known = {f.pointer for f in recorded if f.kind == "pagination_changed"}
        name = self.surface.name
        found = (contradiction_finding(name, self.name, c) for c in self.contradictions)
        out.extend(f for f in found if f.pointer not in known)
        return out


def check_input(item: Input) -> list[Finding]:
    """Contract findings of one input, streamed page by page when it is large."""
    sink, capture = read_input(item, lambda: CheckSink(item.surface, item.name))
    return sink.findings(capture)


def run_check(
    paths_in: Iterable[str | Path],
    surface: str | None = None,
    *,
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> Report:
    """`verify check` as a library call: load every file, validate, collect findings."""
    inputs = load_inputs(list(paths_in), surface, stream_min_bytes=stream_min_bytes)
    findings = [f for item in inputs for f in check_input(item)]
    return Report(command="check", findings=tuple(findings), sources=tuple(i.name for i in inputs))
