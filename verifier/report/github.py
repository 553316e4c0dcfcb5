"""`--format github`: GitHub Actions workflow commands (`::error file=...::message`), one
per finding, so findings show as annotations on the pull request, at the line and column
of the finding's JSON pointer (see `verifier.locate`)."""

from __future__ import annotations

from verifier.findings import Finding, Report, sort_findings
from verifier.locate import Position, locate_findings

_LEVELS = {"breaking": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(finding: Finding, position: Position | None) -> str:
    title = f"{finding.kind} {finding.path or '(document)'}"
    where = f"file={_escape_property(finding.source)}"
    if position is not None:
        where += f",line={position.line},col={position.column}"
    where += f",title={_escape_property(title)}"
    message = (
        f"{finding.surface}: expected {finding.expected}; observed {finding.observed}; "
        f"at {finding.pointer or '/'}"
        + (" (read by the merge)" if finding.consumed_by_merge else "")
    )
    return f"::{_LEVELS[finding.severity]} {where}::{_escape_data(message)}"


def render(report: Report) -> str:
    positions = locate_findings(report.findings)
    lines = [_annotation(f, positions.get(f)) for f in sort_findings(report.findings)]
    unlocked = report.to_json().get("unlocked") or []
    level = "error" if report.verdict == "fail" else "warning"
    lines.extend(f"::{level} title=no lock::{s} has no lock yet" for s in unlocked)
    summary = report.to_json()["summary"]
    lines.append(
        f"verify {report.command}: {report.verdict.upper()} ({len(report.sources)} file(s); "
        f"{summary['breaking']} breaking, {summary['warning']} warning, {summary['info']} info)"
    )
    return "\n".join(lines) + "\n"
