"""Building and writing locks: the observed shape of reviewed captures, per surface.

The file format and reading live in `verifier.lockfile`. A lock is written only when its
captures raise no breaking finding against the current lock (or the documented schema
when there is none), or with `accept=True`: the reviewer's acceptance is recorded in the
lock (moves old -> new path, tolerated changes, stated unit scales, who and when), and
the lock's mapping, which the merge reads through, follows the accepted moves. Two
things are never accepted silently: a unit change (until the reviewer states the scale)
and a consumed field that vanished (the merge cannot run without it). Writes are atomic
(`verifier.store.atomic_write_bytes`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from verifier.consumer import contract_for, fields_at
from verifier.consumer.mapping import ReadingPlan, plan_from_profile
from verifier.drift import (
    Reference,
    check_and_profile,
    documented_reference,
    judge_capture,
    lock_reference,
)
from verifier.errors import RefusedError, UsageError
from verifier.findings import Finding, Report, mask_json
from verifier.inputs import STREAM_MIN_BYTES, Input, load_inputs
from verifier.lockfile import (
    DEFAULT_LOCKS_DIR,
    LOCK_FORMAT,
    LOCK_FORMAT_VERSION,
    CaptureProvenance,
    Lock,
    load_surface_lock,
    lock_from_json,
    lock_path,
    read_lock,
)
from verifier.profile import Profile, merged_profile
from verifier.store import atomic_write_bytes, serialise
from verifier.surfaces import Surface

__all__ = [
    "DEFAULT_LOCKS_DIR",
    "LOCK_FORMAT",
    "LOCK_FORMAT_VERSION",
    "CaptureProvenance",
    "Lock",
    "build_lock",
    "load_surface_lock",
    "lock_from_json",
    "lock_path",
    "read_lock",
    "run_lock",
    "write_lock",
]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def provenance_of(source: Input) -> CaptureProvenance:
    capture = source.capture
    return CaptureProvenance(
        file=source.name,
        sha256=_sha256(Path(source.name)),
        captured_at=capture.captured_at if capture else None,
        source=capture.source if capture else "raw",
        key_fingerprint=capture.key_fingerprint if capture else None,
    )


def review_reference(surface: Surface, previous: Lock | None) -> Reference:
    """What a new lock is reviewed against: the current lock, else the documentation."""
    return lock_reference(surface, previous) if previous else documented_reference(surface)


def review_findings(
    surface: Surface, sources: Sequence[Input], previous: Lock | None = None
) -> tuple[list[Finding], Profile]:
    """What a lock would freeze: check findings, drift from the current lock (or the
    documented schema) and what the consumer contract says (one pass over each file),
    and the profile of all the sources together."""
    reference = review_reference(surface, previous)
    findings: list[Finding] = []
    profiles: list[Profile] = []
    for source in sources:
        checked, observed = check_and_profile(source)
        profiles.append(observed)
        judged, _plan = judge_capture(surface, source.name, observed, reference, checked)
        findings.extend(judged)
    merged = profiles[0] if len(profiles) == 1 else merged_profile(surface, sources)
    return findings, merged


@dataclass(frozen=True, slots=True)
class Review:
    """Who accepts (`--reviewer` / $VERIFY_REVIEWER; empty when nothing is accepted),
    when, and the unit scales they state (`--scale PATH=FACTOR`)."""

    by: str
    at: str
    scales: Mapping[str, Decimal] = field(default_factory=dict)


def _unacceptable(finding: Finding, review: Review, plan: ReadingPlan | None) -> bool:
    """What --accept never clears: a unit change without a stated scale, a consumed
    field no path holds any more, a broken assumption or an unreadable value."""
    if finding.severity != "breaking" or not finding.consumed_by_merge:
        return False
    if finding.kind == "unit_suspect":
        return finding.path not in review.scales
    if finding.kind == "field_missing":
        names = _fields_named(finding.path, plan)
        return not names or any(plan is None or not plan[n].located for n in names)
    # Broken assumptions and values the parser cannot read (consumer contract findings).
    return "consumer contract" in finding.message


def _fields_named(path: str, plan: ReadingPlan | None) -> list[str]:
    """The consumed fields a (missing) path held: exactly, or beneath it."""
    if plan is None:
        return []
    return [
        name
        for name, field_plan in plan.fields.items()
        if any(
            p == path or p.startswith((path + ".", path + "[]"))
            for p in field_plan.field.candidate_paths
        )
    ]


def build_lock(
    surface: Surface,
    sources: Sequence[Input],
    *,
    accept: bool = False,
    now: datetime | None = None,
    previous: Lock | None = None,
    review: Review | None = None,
) -> tuple[Lock, list[Finding], list[Finding]]:
    """The lock for `sources` (all of `surface`), the findings reviewed to make it and
    those --accept could not clear (they stay breaking in the gate).

    Refuses (RefusedError, exit 1) on breaking findings when `accept` is false."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    review = review or Review(by=reviewer() if accept else "", at=moment)
    findings, observed = review_findings(surface, sources, previous)
    failing = [f for f in findings if f.severity == "breaking"]
    if failing and not accept:
        names = ", ".join(sorted({f.source for f in failing}))
        raise RefusedError(
            f"not locking {surface.name}: {len(failing)} breaking finding(s) in {names}; "
            "review them (`verify diff --against lock`), then re-run with --accept to record "
            "the review"
        )
    old_plan = previous.plan() if previous else None
    moves = _moves(findings, old_plan) if accept else {}
    mapping = {k: dict(v) for k, v in (previous.mapping if previous else {}).items()}
    for name, new in moves.items():
        mapping[name] = {"path": new, "origin": "accepted move"}
    for path, factor in review.scales.items():
        for name in _fields_named(path, old_plan) or _fields_at_path(surface, path):
            mapping.setdefault(name, {"path": path})["scale"] = format(factor, "f")
    profile = observed
    contract = contract_for(surface)
    plan = plan_from_profile(contract, profile, previous=mapping) if contract else None
    refused = [f for f in failing if _unacceptable(f, review, plan)] if accept else []
    profile = _keep_baselines(profile, previous, refused)
    records = _records(findings, refused, old_plan, plan, review) if accept else []
    kept = [dict(a) for a in (previous.accepted if previous else ()) if a.get("kind") in _KEPT]
    lock = Lock(
        surface=surface.name,
        profile=profile,
        captures=tuple(provenance_of(s) for s in sources),
        locked_at=moment,
        accepted=tuple(kept + records),
        mapping=plan.mapping_json() if plan else {},
    )
    return lock, findings, refused


def _moves(findings: list[Finding], old_plan: ReadingPlan | None) -> dict[str, str]:
    """Field -> new path of every consumed field the reviewed drift moved."""
    if old_plan is None:
        return {}
    by_path = {p.path: name for name, p in old_plan.fields.items()}
    out = {}
    for finding in findings:
        old = finding.expected.removeprefix("at ")
        if finding.kind == "field_moved" and old in by_path:
            out[by_path[old]] = finding.path
    return out


def _fields_at_path(surface: Surface, path: str) -> list[str]:
    return [f.name for f in fields_at(surface, path)]


def _keep_baselines(profile: Profile, previous: Lock | None, refused: list[Finding]) -> Profile:
    """A unit change nobody stated a scale for keeps the old lock's magnitudes, so the
    gate goes on refusing it."""
    if previous is None:
        return profile
    paths = dict(profile.paths)
    for finding in refused:
        old = previous.profile.paths.get(finding.path)
        if finding.kind == "unit_suspect" and old is not None and finding.path in paths:
            paths[finding.path] = replace(paths[finding.path], money=old.money)
    return replace(profile, paths=paths)


def _records(
    findings: list[Finding],
    refused: list[Finding],
    old_plan: ReadingPlan | None,
    plan: ReadingPlan | None,
    review: Review,
) -> list[dict[str, Any]]:
    """What the reviewer accepted: each move (old -> new path of a consumed field),
    each tolerated or accepted change on a consumed path, each stated scale; who, when."""
    stamp = {"by": review.by, "at": review.at}
    records: list[dict[str, Any]] = []
    if old_plan is not None and plan is not None:
        for name, field_plan in plan.fields.items():
            before = old_plan.fields.get(name)
            if before is not None and field_plan.located and before.path != field_plan.path:
                records.append(
                    {
                        "kind": "move",
                        "field": name,
                        "from": before.path,
                        "to": field_plan.path,
                        "origin": field_plan.origin,
                        **stamp,
                    }
                )
    for finding in findings:
        if finding in refused or not finding.consumed_by_merge:
            continue
        if finding.kind in ("field_moved", "field_missing", "unit_suspect"):
            continue  # moves are recorded above; scales below
        records.append(
            {
                "kind": "tolerated",
                "change": finding.kind,
                "path": finding.path,
                "from": finding.expected,
                "to": finding.observed,
                **stamp,
            }
        )
    for path, factor in review.scales.items():
        records.append({"kind": "scale", "path": path, "factor": format(factor, "f"), **stamp})
    return records


_KEPT = ("move", "scale")


REVIEWER_ENV = "VERIFY_REVIEWER"


def reviewer(named: str | None = None) -> str:
    """Who reviews: `named` (`--reviewer`), else $VERIFY_REVIEWER. Never the login
    name: that is personal data the committed lock would carry, and an acceptance
    nobody put their name to is not a review. Raises UsageError (exit 2) when neither
    names one."""
    name = (named or "").strip() or os.environ.get(REVIEWER_ENV, "").strip()
    if not name:
        raise UsageError(
            f"--accept needs a named reviewer: pass --reviewer NAME or set {REVIEWER_ENV} "
            "(the name is recorded in the committed lock)"
        )
    return name


def parse_scales(texts: Sequence[str]) -> dict[str, Decimal]:
    """`--scale PATH=FACTOR` options: the factor that turns observed values into the
    contract unit (cents -> dollars is 0.01)."""
    out: dict[str, Decimal] = {}
    for text in texts:
        path, sep, factor = text.partition("=")
        try:
            value = Decimal(factor.strip())
        except ArithmeticError:
            value = Decimal("NaN")
        if not sep or not path.strip() or not value.is_finite() or value <= 0:
            raise UsageError(
                f"--scale {text!r}: expected PATH=FACTOR with a positive decimal factor, "
                "e.g. data[].results[].amount.value=0.01 (cents -> dollars)"
            )
        out[path.strip()] = value
    return out


def write_lock(lock: Lock, locks_dir: Path = DEFAULT_LOCKS_DIR) -> Path:
    path = lock_path(lock.surface, locks_dir)
    # A lock made from raw bodies must not carry what the reports would withhold.
    atomic_write_bytes(path, serialise(mask_json(lock.to_json())))
    return path


def run_lock(
    paths_in: Sequence[str | Path],
    *,
    surface: str | None = None,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    accept: bool = False,
    scales: Mapping[str, Decimal] | None = None,
    reviewer_name: str | None = None,
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> tuple[Report, list[Path]]:
    """`verify lock` as a library call: one lock per surface among the inputs, reviewed
    against that surface's current lock in `locks_dir` (else its documented schema).

    Every surface is reviewed before anything is written, so a refusal leaves no lock.
    With `accept`, what --accept cannot clear stays breaking in the report (and in the
    gate): the run then exits 1 although the locks were written."""
    if scales and not accept:
        raise UsageError("--scale states a reviewed unit scale: use it with --accept")
    # Refuse a nameless --accept before reading any capture.
    name = reviewer(reviewer_name) if accept else ""
    sources = load_inputs(list(paths_in), surface, stream_min_bytes=stream_min_bytes)
    by_surface: dict[str, list[Input]] = {}
    for source in sources:
        by_surface.setdefault(source.surface.name, []).append(source)
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    review = Review(by=name, at=moment, scales=dict(scales or {}))
    built = []
    reviewed: list[Finding] = []
    refused: list[Finding] = []
    for group in by_surface.values():
        previous = load_surface_lock(group[0].surface, locks_dir)
        lock, findings, kept = build_lock(
            group[0].surface, group, accept=accept, previous=previous, review=review
        )
        built.append(lock)
        # Accepted findings were reviewed: only what --accept cannot clear fails the run.
        reviewed.extend(f if f in kept or not accept else _reviewed(f) for f in findings)
        refused.extend(kept)
    written = [write_lock(lock, locks_dir) for lock in built]
    report = Report(
        command="lock",
        findings=tuple(reviewed),
        sources=tuple(s.name for s in sources),
        extra={
            "locks": [str(p) for p in written],
            "accepted": accept,
            "not_accepted": [f.to_json() for f in refused],
        },
    )
    return report, written


def _reviewed(finding: Finding) -> Finding:
    """A finding a reviewer accepted: kept in the report as a warning."""
    if finding.severity != "breaking":
        return finding
    return replace(finding, severity="warning", message=finding.message + "; accepted in review")


def not_accepted_lines(report: Report) -> list[str]:
    """What --accept could not clear, money first, each with its next step."""
    refused = [f for f in report.extra.get("not_accepted") or () if isinstance(f, dict)]
    refused.sort(key=lambda f: (not _is_money(f), f["surface"], f["path"]))
    out = []
    for finding in refused:
        step = (
            f"state its scale: --accept --scale '{finding['path']}=FACTOR'"
            if finding["kind"] == "unit_suspect"
            else "the merge cannot run without it; fix the capture (or map the field with a "
            "reviewed move)"
            if finding["kind"] == "field_missing"
            else "the merge cannot read it; see `verify diff`"
        )
        out.append(
            f"NOT ACCEPTED {finding['surface']} {finding['path']} ({finding['kind']}): {step}"
        )
    return out


def _is_money(finding: Mapping[str, Any]) -> bool:
    from verifier.consumer import fields_at

    return any(f.role == "money" for f in fields_at(str(finding["surface"]), str(finding["path"])))
