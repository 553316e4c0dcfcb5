"""Findings and reports: the data every stage returns and every renderer reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

FindingKind = Literal[
    "schema_violation",
    "field_added",
    "field_missing",
    "field_moved",
    "type_changed",
    "nullability_changed",
    "presence_changed",
    "timestamp_format_changed",
    "value_changed",
    "unit_suspect",
    "http_status",
    "pagination_changed",
    "pii_leak",
    "secret_leak",
    "value_restated",
    "coverage_gap",
]
Severity = Literal["breaking", "warning", "info"]
Verdict = Literal["pass", "fail"]

FINDING_KINDS: tuple[str, ...] = get_args(FindingKind)
SEVERITIES: tuple[str, ...] = get_args(Severity)
SEVERITY_RANK = {"breaking": 0, "warning": 1, "info": 2}


def severities_from(threshold: Severity) -> tuple[Severity, ...]:
    """`threshold` and every severity above it: what `--fail-on threshold` fails on."""
    return tuple(s for s in get_args(Severity) if SEVERITY_RANK[s] <= SEVERITY_RANK[threshold])


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation about one source. `expected`/`observed` are plain words."""

    surface: str
    source: str
    kind: FindingKind
    path: str
    pointer: str
    severity: Severity
    expected: str
    observed: str
    message: str
    consumed_by_merge: bool = False
    occurrences: int = 1  # how many places share this finding; `pointer` is the first
    # Structured facts of kinds that have them (value_restated: day, person, old and new
    # totals; coverage_gap: the missing days); absent from the JSON when None.
    details: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.details is None:
            del out["details"]
        return out

    def with_severity(self, severity: Severity, consumed: bool) -> Finding:
        return replace(self, severity=severity, consumed_by_merge=consumed)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Stable report order: surface, breaking first, then source and path."""
    return sorted(
        findings,
        key=lambda f: (f.surface, SEVERITY_RANK[f.severity], f.source, f.path, f.kind),
    )


@dataclass(frozen=True, slots=True)
class Report:
    """What a command produced. `extra` carries command-specific JSON fields."""

    command: str
    findings: tuple[Finding, ...]
    sources: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    fail_on: tuple[Severity, ...] = ("breaking",)

    @property
    def verdict(self) -> Verdict:
        failing = any(f.severity in self.fail_on for f in self.findings)
        return "fail" if failing else "pass"

    def to_json(self) -> dict[str, Any]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return {
            "verdict": self.verdict,
            "command": self.command,
            "sources": list(self.sources),
            "summary": counts,
            "findings": [f.to_json() for f in sort_findings(self.findings)],
            **self.extra,
        }
