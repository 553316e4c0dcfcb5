"""Findings and reports: the data every stage returns and every renderer reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from verifier.redact import NAME_WITHHELD, mask, mask_path, unsafe_segments

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
_MASKED_FIELDS = ("surface", "source", "path", "pointer", "expected", "observed", "message")


def mask_json(value: Any) -> Any:
    """A JSON value with every string masked, and every member name too (names that are
    paths keep their field names and lose those that are data)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {mask_path(mask(str(k))): mask_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_json(v) for v in value]
    return value


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

    def __post_init__(self) -> None:
        # The one place every finding passes: whatever built it, no email or secret in
        # use reaches a renderer (verifier.redact).
        unsafe = sorted(unsafe_segments(self.path, self.pointer), key=len, reverse=True)
        for name in _MASKED_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str):
                for segment in unsafe:  # member names that are data (a phone as a key)
                    value = value.replace(segment, NAME_WITHHELD)
                object.__setattr__(self, name, mask(value))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.details is None:
            del out["details"]
        return out

    def with_severity(self, severity: Severity, consumed: bool) -> Finding:
        return replace(self, severity=severity, consumed_by_merge=consumed)


_TEXT_FIELDS = ("surface", "path", "pointer", "expected", "observed", "message")


def finding_from_json(raw: Mapping[str, Any], source: str) -> Finding:
    """A finding recorded in a capture file, checked member by member (a file is input:
    a bad recorded finding is an input error, never a crash)."""
    from verifier.errors import InputError  # errors imports nothing of ours; kept local

    def bad(what: str) -> InputError:
        return InputError(source, f"malformed capture file (a recorded finding has {what})")

    texts = {name: raw.get(name, "") for name in _TEXT_FIELDS}
    if not all(isinstance(v, str) for v in texts.values()):
        raise bad("a member that is not a string")
    kind, severity = raw.get("kind"), raw.get("severity", "breaking")
    if kind not in FINDING_KINDS or severity not in SEVERITIES:
        raise bad("an unknown kind or severity")
    consumed, occurrences = raw.get("consumed_by_merge", False), raw.get("occurrences", 1)
    if not isinstance(consumed, bool) or type(occurrences) is not int or occurrences < 1:
        raise bad("a bad consumed_by_merge or occurrences")
    return Finding(
        source=source,
        kind=kind,
        severity=severity,
        consumed_by_merge=consumed,
        occurrences=occurrences,
        **texts,
    )


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
    # The run itself failed (network, disk): the verdict is `fail` whatever was found,
    # so no report ever says PASS for a run that exits 3.
    run_failed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(mask(s) for s in self.sources))
        object.__setattr__(self, "extra", mask_json(dict(self.extra)))

    @property
    def verdict(self) -> Verdict:
        failing = self.run_failed or any(f.severity in self.fail_on for f in self.findings)
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
