"""External consumers: parsers that live outside this tool (another team's, another
language's: the original cost-merge parsers are Go) declare what they read in a file,
and drift on those paths is judged exactly as drift on what the built-in merge reads.

The file is TOML (or JSON, by its `.json` suffix), one table per surface; each consumed
path maps to what the parser accepts there (both optional):

    [openai_org_costs]
    "data[].results[].line_item" = {}
    "data[].results[].amount.value" = { types = ["number"] }

    [chatgpt_enterprise_usage]
    "data[].start_time" = { formats = ["rfc3339-z"] }

A list of paths is the short form: `openai_org_users = ["data[].email", "data[].id"]`.
`verify diff|gate --consumers FILE`, or `consumers = "FILE"` under `[tool.verify]` in
pyproject.toml. Every problem with the file is one line, exit 2."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from verifier import profile
from verifier.consumer import NUMERIC_STRING_TYPE, ConsumedField
from verifier.errors import InputError
from verifier.findings import Finding, Report
from verifier.surfaces import SURFACE_NAMES

# JSON types, and the consumer contract's `numeric-string` (a string holding a number).
JSON_TYPES = (
    "array",
    "boolean",
    "integer",
    "null",
    "number",
    "object",
    "string",
    NUMERIC_STRING_TYPE,
)
# Every timestamp format name the profile can observe, plus a number sent as a string.
TIMESTAMP_FORMATS = (*profile.TIMESTAMP_FORMATS, profile.NUMERIC_STRING)


@dataclass(frozen=True, slots=True)
class ExternalConsumers:
    """What the external parsers read, per surface: path -> accepted types and formats
    (empty: whatever the documentation says)."""

    file: str
    accepts: Mapping[str, Mapping[str, Mapping[str, tuple[str, ...]]]]

    def field(self, surface: str, path: str) -> ConsumedField:
        """The entry as a field of the typed consumer contract (`verifier.consumer`), so
        what it accepts is decided by the same rules as for the built-in parsers."""
        forms = self.accepts[surface][path]
        formats = frozenset(forms.get("formats", ()))
        return ConsumedField(
            name=path,
            paths=(("external", path),),
            types=frozenset(forms.get("types", ())),
            role="timestamp" if formats else "count",
            timestamp_formats=formats,
            description=f"read by the external consumers in {self.file}",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "surfaces": {
                surface: {path: dict(forms) for path, forms in sorted(paths.items())}
                for surface, paths in sorted(self.accepts.items())
            },
        }


def load_consumers(path: Path) -> ExternalConsumers:
    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(name, "no such consumers file") from None
    except OSError as exc:
        raise InputError(name, f"unreadable ({exc.__class__.__name__})") from None
    try:
        text = data.decode("utf-8")
        document = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except UnicodeDecodeError:
        raise InputError(name, "not UTF-8 text") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise InputError(name, f"invalid {kind}: {str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict) or not document:
        raise InputError(name, "expected one table per surface")
    accepts = {surface: _surface(name, surface, value) for surface, value in document.items()}
    return ExternalConsumers(name, accepts)


def _surface(file: str, surface: str, value: Any) -> dict[str, dict[str, tuple[str, ...]]]:
    if surface not in SURFACE_NAMES:
        raise InputError(file, f"unknown surface {surface!r}; known: {', '.join(SURFACE_NAMES)}")
    if isinstance(value, list):
        value = {_path(file, surface, path): {} for path in value}
    if not isinstance(value, dict) or not value:
        raise InputError(file, f"{surface}: expected a table of consumed paths (or a list)")
    return {
        _path(file, surface, path): _forms(file, surface, path, forms)
        for path, forms in value.items()
    }


def _path(file: str, surface: str, path: Any) -> str:
    valid = (
        isinstance(path, str)
        and path
        and not path.startswith(("$", ".", "/"))
        and all(part for part in path.replace("[]", "").split("."))
    )
    if not valid:
        example = "data[].results[].amount.value"
        raise InputError(file, f"{surface}: a key is not a contract path (like {example})")
    return str(path)


def _forms(file: str, surface: str, path: str, forms: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(forms, dict):
        raise InputError(file, f"{surface} {path}: expected a table with types and/or formats")
    unknown = sorted(set(forms) - {"types", "formats"})
    if unknown:
        raise InputError(file, f"{surface} {path}: unknown key {unknown[0]!r} (types, formats)")
    out: dict[str, tuple[str, ...]] = {}
    for key, known in (("types", JSON_TYPES), ("formats", TIMESTAMP_FORMATS)):
        if key not in forms:
            continue
        values = forms[key]
        if not isinstance(values, list) or not values or any(v not in known for v in values):
            raise InputError(file, f"{surface} {path}: {key} must be a list of {', '.join(known)}")
        out[key] = tuple(sorted(set(values)))
    return out


def _consumes(paths: frozenset[str], path: str) -> bool:
    """The built-in rule (`verifier.consumers.is_consumed`): the path or anything beneath."""
    return path in paths or any(p.startswith((path + ".", path + "[]")) for p in paths)


def _left_path(finding: Finding) -> str:
    """A move is judged by the path it left (`expected` is `at <old path>`)."""
    if finding.kind == "field_moved" and finding.expected.startswith("at "):
        return finding.expected[3:]
    return finding.path


def _observed_forms(finding: Finding) -> tuple[frozenset[str], bool]:
    """The types or formats a drift finding names (its `observed` lists names only), and
    whether its strings all held numbers (`numeric string`)."""
    words = {w.strip() for w in finding.observed.replace("|", " or ").split(" or ")}
    numeric = "numeric string" in words and "string" not in words
    names = frozenset("string" if w == "numeric string" else w for w in words)
    return names, numeric


def _tolerance(finding: Finding, consumed: ConsumedField) -> str:
    """What the external parser accepts that makes this drift harmless to it, or ""."""
    observed, numeric_strings = _observed_forms(finding)
    if (
        finding.kind == "type_changed"
        and consumed.types
        and consumed.accepts_types(observed, numeric_strings)
    ):
        return f"types {', '.join(sorted(consumed.types))}"
    if (
        finding.kind == "timestamp_format_changed"
        and consumed.timestamp_formats
        and observed <= consumed.timestamp_formats
    ):
        return f"formats {', '.join(sorted(consumed.timestamp_formats))}"
    return ""


def judge_external(finding: Finding, consumers: ExternalConsumers) -> Finding:
    """The finding as severity would have it had the built-in merge read these paths too:
    breaking on a consumed path unless the external parser accepts what arrives."""
    surface_paths = consumers.accepts.get(finding.surface)
    if not surface_paths or finding.kind == "field_added":
        return finding
    left = _left_path(finding)
    consumed = [p for p in surface_paths if _consumes(frozenset([p]), left)]
    if not consumed:
        return finding
    note = f"read by the external consumers in {consumers.file}"
    if finding.kind != "schema_violation" and finding.severity != "breaking":
        tolerated = [
            _tolerance(finding, consumers.field(finding.surface, p)) for p in consumed if p == left
        ]
        if tolerated and all(tolerated):
            return replace(
                finding,
                consumed_by_merge=True,
                message=f"{finding.message} (tolerated: {note} accept {tolerated[0]})",
            )
    if finding.severity == "breaking" and finding.consumed_by_merge:
        return finding  # the built-in merge already reads it
    return replace(
        finding,
        severity="breaking",
        consumed_by_merge=True,
        message=f"{finding.message} ({note})",
    )


def apply_external(report: Report, consumers: ExternalConsumers | None) -> Report:
    """The report with external consumers' paths judged like the merge's own."""
    if consumers is None:
        return report
    findings = tuple(judge_external(f, consumers) for f in report.findings)
    extra = {**report.extra, "external_consumers": consumers.to_json()}
    return replace(report, findings=findings, extra=extra)
