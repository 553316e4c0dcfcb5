"""Lock files: the observed shape of a reviewed capture, per surface.

`captures/locks/<surface>.lock.json` is one JSON object:

    {"format": "verify-lock", "format_version": 1, "surface": ..., "tool_version": ...,
     "locked_at": "2026-11-27T23:00:00Z",
     "provenance": {"captures": [{"file", "sha256", "captured_at", "source",
                                  "key_fingerprint"}],
                    "anonymisation_key_fingerprints": [...]},
     "accepted": [<findings the user reviewed and accepted with --accept>],
     "profile": <verifier.profile.Profile JSON>}

A lock is written only when its captures pass `check` (no breaking finding), or with
`accept=True`, which records the reviewed findings in the lock. Unknown formats and
versions are refused loudly; writes are atomic (`verifier.store.atomic_write_bytes`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verifier import __version__
from verifier.drift import check_and_profile, diff_profiles, to_finding
from verifier.errors import FormatVersionError, InputError, RefusedError
from verifier.findings import Finding, Report
from verifier.inputs import STREAM_MIN_BYTES, Input, load_inputs, load_json_file
from verifier.profile import Profile, expected_profile, merged_profile
from verifier.store import atomic_write_bytes, serialise
from verifier.surfaces import Surface

LOCK_FORMAT = "verify-lock"
LOCK_FORMAT_VERSION = 1
DEFAULT_LOCKS_DIR = Path("captures/locks")


@dataclass(frozen=True, slots=True)
class CaptureProvenance:
    file: str
    sha256: str
    captured_at: str | None
    source: str | None
    key_fingerprint: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "captured_at": self.captured_at,
            "source": self.source,
            "key_fingerprint": self.key_fingerprint,
        }


@dataclass(frozen=True, slots=True)
class Lock:
    surface: str
    profile: Profile
    captures: tuple[CaptureProvenance, ...]
    locked_at: str
    tool_version: str = __version__
    accepted: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        fingerprints = sorted({c.key_fingerprint for c in self.captures if c.key_fingerprint})
        return {
            "format": LOCK_FORMAT,
            "format_version": LOCK_FORMAT_VERSION,
            "surface": self.surface,
            "tool_version": self.tool_version,
            "locked_at": self.locked_at,
            "provenance": {
                "captures": [c.to_json() for c in self.captures],
                "anonymisation_key_fingerprints": fingerprints,
            },
            "accepted": [dict(f) for f in self.accepted],
            "profile": self.profile.to_json(),
        }


def lock_path(surface: Surface | str, locks_dir: Path = DEFAULT_LOCKS_DIR) -> Path:
    name = surface if isinstance(surface, str) else surface.name
    return locks_dir / f"{name}.lock.json"


def read_lock(path: Path) -> Lock:
    """Load a lock file, refusing unknown formats and versions loudly."""
    document = load_json_file(path)
    return lock_from_json(document, str(path))


def lock_from_json(document: Any, source: str) -> Lock:
    if not isinstance(document, dict) or document.get("format") != LOCK_FORMAT:
        raise InputError(source, f'is not a lock file (no "format": "{LOCK_FORMAT}")')
    version = document.get("format_version")
    if version != LOCK_FORMAT_VERSION:
        raise FormatVersionError(
            source,
            f"lock format version {version!r} is not supported by verify {__version__} "
            f"(supported: {LOCK_FORMAT_VERSION}); re-create it with `verify lock`",
        )
    try:
        provenance = document.get("provenance") or {}
        return Lock(
            surface=str(document["surface"]),
            profile=Profile.from_json(document["profile"]),
            captures=tuple(
                CaptureProvenance(
                    file=str(c["file"]),
                    sha256=str(c["sha256"]),
                    captured_at=c.get("captured_at"),
                    source=c.get("source"),
                    key_fingerprint=c.get("key_fingerprint"),
                )
                for c in provenance.get("captures", [])
            ),
            locked_at=str(document.get("locked_at", "")),
            tool_version=str(document.get("tool_version", "unknown")),
            accepted=tuple(document.get("accepted") or ()),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(source, f"malformed lock file ({exc.__class__.__name__}: {exc})") from None


def load_surface_lock(surface: Surface | str, locks_dir: Path = DEFAULT_LOCKS_DIR) -> Lock | None:
    """The lock of a surface, or None when there is none yet."""
    path = lock_path(surface, locks_dir)
    if not path.exists():
        return None
    lock = read_lock(path)
    name = surface if isinstance(surface, str) else surface.name
    if lock.surface != name:
        raise InputError(str(path), f"is a lock for {lock.surface}, not {name}")
    return lock


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


def review_findings(surface: Surface, sources: Sequence[Input]) -> tuple[list[Finding], Profile]:
    """What a lock would freeze: check findings and drift from the documented schema
    (one pass over each file), and the profile of all the sources together."""
    checked: list[Finding] = []
    drifted: list[Finding] = []
    profiles: list[Profile] = []
    documented = expected_profile(surface)
    for source in sources:
        found, observed = check_and_profile(source)
        checked.extend(found)
        profiles.append(observed)
        drifts = diff_profiles(documented, observed, surface)
        drifted.extend(to_finding(surface, source.name, d, "documented") for d in drifts)
    merged = profiles[0] if len(profiles) == 1 else merged_profile(surface, sources)
    return checked + drifted, merged


def build_lock(
    surface: Surface,
    sources: Sequence[Input],
    *,
    accept: bool = False,
    now: datetime | None = None,
) -> tuple[Lock, list[Finding]]:
    """The lock for `sources` (all of `surface`) and the findings reviewed to make it.

    Refuses (RefusedError, exit 1) when the captures fail `check` and `accept` is false."""
    findings, profile = review_findings(surface, sources)
    failing = [f for f in findings if f.kind == "schema_violation" or f.severity == "breaking"]
    if failing and not accept:
        names = ", ".join(sorted({f.source for f in failing}))
        raise RefusedError(
            f"not locking {surface.name}: {len(failing)} breaking finding(s) in {names}; "
            "review them (`verify check`, `verify diff`) and re-run with --accept to lock anyway"
        )
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lock = Lock(
        surface=surface.name,
        profile=profile,
        captures=tuple(provenance_of(s) for s in sources),
        locked_at=moment,
        accepted=tuple(f.to_json() for f in findings) if accept else (),
    )
    return lock, findings


def write_lock(lock: Lock, locks_dir: Path = DEFAULT_LOCKS_DIR) -> Path:
    path = lock_path(lock.surface, locks_dir)
    atomic_write_bytes(path, serialise(lock.to_json()))
    return path


def run_lock(
    paths_in: Sequence[str | Path],
    *,
    surface: str | None = None,
    locks_dir: Path = DEFAULT_LOCKS_DIR,
    accept: bool = False,
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> tuple[Report, list[Path]]:
    """`verify lock` as a library call: one lock per surface among the inputs.

    Every surface is reviewed before anything is written, so a refusal leaves no lock."""
    sources = load_inputs(list(paths_in), surface, stream_min_bytes=stream_min_bytes)
    by_surface: dict[str, list[Input]] = {}
    for source in sources:
        by_surface.setdefault(source.surface.name, []).append(source)
    built = []
    reviewed: list[Finding] = []
    for group in by_surface.values():
        lock, findings = build_lock(group[0].surface, group, accept=accept)
        built.append(lock)
        reviewed.extend(findings)
    written = [write_lock(lock, locks_dir) for lock in built]
    report = Report(
        command="lock",
        findings=tuple(reviewed),
        sources=tuple(s.name for s in sources),
        extra={"locks": [str(p) for p in written], "accepted": accept},
        # Accepted findings were reviewed: they no longer fail the run.
        fail_on=() if accept else ("breaking",),
    )
    return report, written
