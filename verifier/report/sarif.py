"""`--format sarif`: SARIF 2.1.0 for code-scanning tools (GitHub code scanning and others).

One rule per finding kind; severities map to levels (`breaking` -> `error`, `warning` ->
`warning`, `info` -> `note`); each result is located at its file and at the line and
column of its JSON pointer (`verifier.locate`), with the contract path as a logical
location. Surfaces without a lock fail a gate without being findings: they are tool
execution notifications of the run's invocation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from verifier import __version__
from verifier.findings import FINDING_KINDS, Finding, Report, sort_findings
from verifier.locate import Position, locate_findings

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"breaking": "error", "warning": "warning", "info": "note"}

# What each kind means, for the rule's description (DESIGN.md is the source of truth).
_DESCRIPTIONS = {
    "schema_violation": "The payload breaks the vendor's documented JSON Schema.",
    "field_added": "A path appeared that the contract or lock does not have.",
    "field_missing": "A required or locked path is absent everywhere its parent is present.",
    "field_moved": "A leaf vanished at one path and appeared at another.",
    "type_changed": "A JSON type outside the allowed ones (e.g. number -> numeric string).",
    "nullability_changed": "Null where null was not allowed.",
    "presence_changed": "A field that was always present is sometimes absent.",
    "timestamp_format_changed": "A timestamp arrives in another format class.",
    "value_changed": "A const/enum value (discriminator, currency) changed.",
    "unit_suspect": "A money field's magnitude suggests another unit.",
    "http_status": "The API answered with a non-2xx status.",
    "pagination_changed": "The pagination members changed or contradict each other.",
    "pii_leak": "Personal data (e.g. an email) where only pseudonyms may be.",
    "secret_leak": "A key, bearer token or JWT in the file.",
    "value_restated": "The same bucket carries different values in two captures.",
    "coverage_gap": "A surface did not cover part of the range being merged.",
}


def _rule(kind: str) -> dict[str, Any]:
    name = "".join(part.capitalize() for part in kind.split("_"))
    text = _DESCRIPTIONS.get(kind, f"verify finding of kind {kind}.")
    return {
        "id": kind,
        "name": name,
        "shortDescription": {"text": text},
        "fullDescription": {
            "text": text + " Severity is breaking (error) when the cost merge reads the "
            "path, warning elsewhere, info (note) for a new optional field."
        },
        "defaultConfiguration": {"level": "warning"},
    }


def artifact_uri(source: str) -> str:
    """A URI reference for a source path: relative paths stay relative (code scanning
    resolves them against the repository), absolute ones become `file://` URIs."""
    path = Path(source)
    if path.is_absolute():
        return path.as_uri()
    return quote(PurePosixPath(*path.parts).as_posix())


def _location(finding: Finding, position: Position | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(finding.source)}}
    if position is not None:
        physical["region"] = {"startLine": position.line, "startColumn": position.column}
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.path:
        location["logicalLocations"] = [
            {"fullyQualifiedName": f"{finding.surface}:{finding.path}", "kind": "member"}
        ]
    return location


def _fingerprint(finding: Finding) -> str:
    key = "\0".join((finding.surface, finding.source, finding.kind, finding.path))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _result(finding: Finding, rule_index: int, position: Position | None) -> dict[str, Any]:
    return {
        "ruleId": finding.kind,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [_location(finding, position)],
        "partialFingerprints": {"verifyFinding/v1": _fingerprint(finding)},
        "occurrenceCount": finding.occurrences,
        "properties": {
            "surface": finding.surface,
            "severity": finding.severity,
            "path": finding.path,
            "pointer": finding.pointer,
            "expected": finding.expected,
            "observed": finding.observed,
            "consumedByMerge": finding.consumed_by_merge,
        },
    }


def _invocation(report: Report, data: dict[str, Any]) -> dict[str, Any]:
    unlocked = data.get("unlocked") or []
    level = "error" if report.verdict == "fail" else "warning"
    notes = [
        {"level": level, "message": {"text": f"{surface} has no lock yet (see verify lock)"}}
        for surface in unlocked
    ]
    notes += [
        {"level": "note", "message": {"text": f"{surface} was not checked: no capture given"}}
        for surface in data.get("uncaptured") or []
    ]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation


def render(report: Report) -> str:
    data = report.to_json()
    kinds = list(FINDING_KINDS) + sorted({f.kind for f in report.findings} - set(FINDING_KINDS))
    index = {kind: i for i, kind in enumerate(kinds)}
    ordered = sort_findings(report.findings)
    positions = locate_findings(ordered)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "verify",
                "fullName": "verify (codex-analytics-verifier)",
                "version": __version__,
                "rules": [_rule(kind) for kind in kinds],
            }
        },
        "invocations": [_invocation(report, data)],
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index[f.kind], positions.get(f)) for f in ordered],
        "properties": {
            "command": report.command,
            "verdict": report.verdict,
            "summary": data["summary"],
            **{k: data[k] for k in ("unlocked", "uncaptured") if k in data},
        },
    }
    document = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
