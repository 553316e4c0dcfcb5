"""JSON Schema contract validation -> `schema_violation` findings.

python-jsonschema is the reference for semantics and messages. Formats are enforced
(`FORMAT_CHECKER`; `date-time` needs rfc3339-validator, a declared dependency), so an
RFC 3339 field holding anything else is a violation, not silently skipped.
Violations are aggregated per (path, rule): one finding with the first pointer and an
occurrence count, never a whole-document dump.

Fast path: a compiled jsonschema-rs validator (formats enforced) answers "valid?" first;
python-jsonschema runs only on documents (or streamed rows) it rejects, to produce the
reference messages. Formats where jsonschema-rs is more lenient than the reference
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
from typing import TYPE_CHECKING, Any

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


def findings_from_violations(
    surface: Surface, source: str, located: Iterable[tuple[str, Violation]]
) -> list[Finding]:
    """Aggregate (pointer prefix, violation) pairs into one finding per path and rule;
    the consumer contract says how severe each is (`verifier.consumer.judge`)."""
    # Grouped by path and rule; `observed` describes the first occurrence.
    grouped: dict[tuple[str, str, str], tuple[str, list[str], set[str]]] = {}
    for prefix, v in located:
        key = (paths.path_of(v.parts), v.rule, v.expected)
        entry = grouped.setdefault(key, (v.observed, [], set()))
        entry[1].append(prefix + paths.pointer(v.parts))
        entry[2].add(v.instance)
    findings = []
    for (path, rule, expected), (observed, pointers, instances) in grouped.items():
        shown = path or "(document)"
        times = f" in {len(pointers)} places" if len(pointers) > 1 else ""
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
                pointer=pointers[0],
                severity=verdict.severity,
                expected=expected,
                observed=observed,
                message=f"{shown}: expected {expected}, observed {observed}{times}{note}",
                consumed_by_merge=verdict.consumed,
                occurrences=len(pointers),
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


_BATCH = 1000


class RowChecker:
    """Collects row violations in batches: one compiled call per batch of valid rows."""

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        self.located: list[tuple[str, Violation]] = []
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
            found = row_violations(self.surface, first + offset, row)
            self.located.extend((prefix, v) for v in found)


class CheckSink:
    """Contract check of one source's bodies, streamed or whole (the same findings)."""

    def __init__(self, surface: Surface, name: str) -> None:
        self.surface = surface
        self.name = name
        self.statuses: list[Finding] = []
        self.located: list[tuple[str, Violation]] = []
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
                self.located.extend(self._checker.located)
                self._checker.located = []
            else:
                value = {**value, ROWS_KEY: self._held}
                self._held = []
        self.located.extend((body.pointer_prefix, v) for v in violations(self.surface, value))

    def findings(self, capture: Capture | None) -> list[Finding]:
        out = list(self.statuses)
        out.extend(findings_from_violations(self.surface, self.name, self.located))
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
