"""What a failed gate should make a reader do next: the blocking paths and the steps.

Shared by `verify gate` (after its report) and `verify merge` (its refusal line): every
blocking path is listed, money paths first, none hidden behind "and N more"."""

from __future__ import annotations

from verifier.consumer import fields_at
from verifier.findings import Finding, Report

NEXT_STEP = (
    "next: read `verify diff --against lock` for each drifted capture, then record the "
    "review with `verify lock --accept --reviewer NAME CAPTURE...` (state unit scales "
    "with --scale PATH=FACTOR), or `verify propose CAPTURE...` to write updated vendor "
    "schemas for review; `verify merge` reads through what the lock accepted"
)


def _money_rank(finding: Finding) -> int:
    roles = {f.role for f in fields_at(finding.surface, finding.path)}
    if "money" in roles or "currency" in roles:
        return 0
    return 1 if finding.consumed_by_merge else 2


def blocking_paths(report: Report) -> list[str]:
    """`surface path (kinds)` of every failing finding, money first, one per path."""
    failing = [f for f in report.findings if f.severity in report.fail_on]
    ordered = sorted(failing, key=lambda f: (_money_rank(f), f.surface, f.path))
    kinds: dict[tuple[str, str], list[str]] = {}
    for finding in ordered:
        found = kinds.setdefault((finding.surface, finding.path), [])
        if finding.kind not in found:
            found.append(finding.kind)
    return [f"{surface} {path or '/'} ({', '.join(k)})" for (surface, path), k in kinds.items()]


def unlocked_text(report: Report) -> str:
    unlocked = list(report.extra.get("unlocked") or ())
    if not unlocked or report.extra.get("allow_unlocked"):
        return ""
    return (
        f"no lock for {', '.join(unlocked)} (`verify lock` reviewed captures, "
        "or --allow-unlocked for provisional output)"
    )


def refusal_lines(report: Report) -> list[str]:
    """The gate's closing lines when it fails: blocking paths, then the next step."""
    paths = blocking_paths(report)
    lines = []
    if paths:
        lines.append(f"blocking ({len(paths)} path(s), money first):")
        lines.extend(f"  {entry}" for entry in paths)
        lines.append(NEXT_STEP)
    return lines


def refusal_summary(report: Report) -> str:
    """One line: every blocking path, money first, and the next step."""
    paths = blocking_paths(report)
    parts = []
    if paths:
        failing = sum(1 for f in report.findings if f.severity in report.fail_on)
        parts.append(f"{failing} breaking finding(s) at {'; '.join(paths)}")
    unlocked = unlocked_text(report)
    if unlocked:
        parts.append(unlocked)
    text = "; ".join(parts) or "the gate failed"
    return f"{text}. {NEXT_STEP}" if paths else text
