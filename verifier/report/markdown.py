"""`--format markdown`: a pull-request comment or CI step summary (GitHub-flavoured)."""

from __future__ import annotations

from itertools import groupby

from verifier.findings import Finding, Report, sort_findings

_ICONS = {"breaking": "❌", "warning": "⚠️", "info": "ℹ️"}  # noqa: RUF001


def _cell(text: str) -> str:
    """Table-safe text: pipes escaped, newlines flattened, code spans for paths."""
    return " ".join(text.replace("|", "\\|").split())


def _row(finding: Finding) -> str:
    consumed = "yes" if finding.consumed_by_merge else "no"
    count = f" (x{finding.occurrences})" if finding.occurrences > 1 else ""
    return (
        f"| {_ICONS[finding.severity]} {finding.severity} | {finding.kind} "
        f"| `{_cell(finding.path or '(document)')}`{count} | {_cell(finding.expected)} "
        f"| {_cell(finding.observed)} | `{_cell(finding.pointer or '/')}` | {consumed} |"
    )


def render(report: Report) -> str:
    data = report.to_json()
    summary = data["summary"]
    verdict = "✅ PASS" if report.verdict == "pass" else "❌ FAIL"
    lines = [
        f"## verify {report.command}: {verdict}",
        "",
        f"{len(report.sources)} file(s): {summary['breaking']} breaking, "
        f"{summary['warning']} warning, {summary['info']} info.",
    ]
    ordered = sort_findings(report.findings)
    for surface, group in groupby(ordered, key=lambda f: f.surface):
        lines += [
            "",
            f"### {surface}",
            "",
            "| severity | kind | path | expected | observed | first pointer | read by merge |",
            "|---|---|---|---|---|---|---|",
        ]
        lines.extend(_row(f) for f in group)
    lines.extend(_extra_sections(data))
    return "\n".join(lines) + "\n"


def _extra_sections(data: dict[str, object]) -> list[str]:
    lines: list[str] = []
    unlocked = data.get("unlocked")
    if isinstance(unlocked, list) and unlocked:
        lines += ["", "**Surfaces without a lock:** " + ", ".join(f"`{s}`" for s in unlocked)]
    uncaptured = data.get("uncaptured")
    if isinstance(uncaptured, list) and uncaptured:
        shown = ", ".join(f"`{s}`" for s in uncaptured)
        lines += ["", f"**Not checked (no capture given):** {shown}"]
    contract = data.get("consumer_contract")
    if isinstance(contract, dict) and contract:
        lines += ["", "<details><summary>Consumer contract (paths the merge reads)</summary>", ""]
        for surface, consumed in contract.items():
            shown = ", ".join(f"`{p}`" for p in consumed) if isinstance(consumed, list) else ""
            lines.append(f"- **{surface}**: {shown}")
        lines += ["", "</details>"]
    return lines
