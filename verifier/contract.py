"""JSON Schema contract validation -> `schema_violation` findings.

python-jsonschema is the reference for semantics and messages. Formats are enforced
(`FORMAT_CHECKER`; `date-time` needs rfc3339-validator, a declared dependency), so an
RFC 3339 field holding anything else is a violation, not silently skipped.
Violations are aggregated per (path, rule): one finding with the first pointer and an
occurrence count, never a whole-document dump."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from verifier import paths
from verifier.consumers import is_consumed
from verifier.findings import Finding, Report
from verifier.inputs import Body, Source, json_type, load_sources
from verifier.schemas import surface_schema
from verifier.surfaces import Surface

_REQUIRED = re.compile(r"^(.*) is a required property$")
_MAX_SHOWN = 60


@cache
def validator_for(surface: Surface) -> Draft202012Validator:
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


def describe_value(value: Any, safe: bool) -> str:
    """Plain words for a value; strings are quoted only where the schema marks them safe."""
    kind = json_type(value)
    if isinstance(value, dict):
        return f"an object with {len(value)} member(s)"
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, str):
        if not safe:
            return f"a string of {len(value)} character(s) (value withheld)"
        shown = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."
        return f'string "{shown}"'
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return f"{kind} {value}"


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
    observed = describe_value(error.instance, safe)
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
    return Violation(parts, keyword, expected, observed)


def violations(surface: Surface, document: Any) -> Iterator[Violation]:
    for error in validator_for(surface).iter_errors(document):
        yield violation_of(error)


def findings_from_violations(
    surface: Surface, source: str, located: Iterable[tuple[str, Violation]]
) -> list[Finding]:
    """Aggregate (pointer prefix, violation) pairs into one finding per path and rule."""
    # Grouped by path and rule; `observed` describes the first occurrence.
    grouped: dict[tuple[str, str, str], tuple[str, list[str]]] = {}
    for prefix, v in located:
        key = (paths.path_of(v.parts), v.rule, v.expected)
        entry = grouped.setdefault(key, (v.observed, []))
        entry[1].append(prefix + paths.pointer(v.parts))
    findings = []
    for (path, _rule, expected), (observed, pointers) in grouped.items():
        shown = path or "(document)"
        times = f" in {len(pointers)} places" if len(pointers) > 1 else ""
        findings.append(
            Finding(
                surface=surface.name,
                source=source,
                kind="schema_violation",
                path=path,
                pointer=pointers[0],
                severity="breaking",
                expected=expected,
                observed=observed,
                message=f"{shown}: expected {expected}, observed {observed}{times}",
                consumed_by_merge=is_consumed(surface, path),
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
    message = vendor_message(body.value, body.body_text)
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


def check_source(source: Source) -> list[Finding]:
    """Validate every 2xx body of a source; non-2xx answers become `http_status`."""
    located: list[tuple[str, Violation]] = []
    findings: list[Finding] = []
    for body in source.bodies:
        if not body.ok:
            findings.append(http_status_finding(source.surface, source.name, body))
            continue
        located.extend((body.pointer_prefix, v) for v in violations(source.surface, body.value))
    findings.extend(findings_from_violations(source.surface, source.name, located))
    findings.extend(capture_findings(source))
    return findings


def capture_findings(source: Source) -> list[Finding]:
    """Findings the capture recorded at capture time (e.g. `pagination_changed`)."""
    if source.capture is None:
        return []
    out = []
    for raw in source.capture.findings:
        if raw.get("kind") == "http_status":
            continue  # re-derived from the recorded pages above
        out.append(Finding(**{**raw, "source": source.name}))
    return out


def run_check(paths_in: Iterable[str], surface: str | None = None) -> Report:
    """`verify check` as a library call: load every file, validate, collect findings."""
    sources = load_sources(list(paths_in), surface)
    findings = [f for source in sources for f in check_source(source)]
    return Report(command="check", findings=tuple(findings), sources=tuple(s.name for s in sources))
