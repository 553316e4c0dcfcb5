"""`--format text`: grouped by surface then file, breaking first. Colour only when asked
for by the caller (the CLI decides from the terminal and NO_COLOR)."""

from __future__ import annotations

from itertools import groupby

from verifier.findings import Finding, Report, sort_findings

_COLOURS = {"breaking": "\x1b[31m", "warning": "\x1b[33m", "info": "\x1b[36m"}
_RESET = "\x1b[0m"


def _tag(severity: str, colour: bool) -> str:
    label = severity.upper()
    return f"{_COLOURS[severity]}{label}{_RESET}" if colour else label


def _line(finding: Finding, colour: bool) -> str:
    count = f" (x{finding.occurrences})" if finding.occurrences > 1 else ""
    consumed = " [read by merge]" if finding.consumed_by_merge else ""
    where = finding.path or "(document)"
    return (
        f"  {_tag(finding.severity, colour)} {finding.kind} {where}{consumed}{count}\n"
        f"      expected {finding.expected}; observed {finding.observed}\n"
        f"      at {finding.pointer or '/'}"
    )


def render(report: Report, colour: bool = False) -> str:
    lines: list[str] = []
    ordered = sort_findings(report.findings)
    for surface, by_surface in groupby(ordered, key=lambda f: f.surface):
        lines.append(surface or "(files of no known surface)")
        for source, by_source in groupby(by_surface, key=lambda f: f.source):
            lines.append(f" {source}")
            lines.extend(_line(f, colour) for f in by_source)
    clean = [s for s in report.sources if s not in {f.source for f in report.findings}]
    for source in clean:
        lines.append(f"ok  {source}")
    counts = report.to_json()["summary"]
    summary = ", ".join(f"{n} {sev}" for sev, n in counts.items())
    verdict = report.verdict.upper()
    lines.append(f"{report.command}: {verdict} ({len(report.sources)} file(s); {summary})")
    return "\n".join(lines) + "\n"
