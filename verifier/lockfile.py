"""Lock files on disk: the format, reading and validation (building one: `verifier.lock`).

`captures/locks/<surface>.lock.json` is one JSON object:

    {"format": "verify-lock", "format_version": 2, "surface": ..., "tool_version": ...,
     "locked_at": "2026-11-27T23:00:00Z",
     "provenance": {"captures": [{"file", "sha256", "captured_at", "source",
                                  "key_fingerprint"}],
                    "anonymisation_key_fingerprints": [...]},
     "mapping": {<consumed field>: {"path", "origin", "formats"?, "scale"?}},
     "accepted": [<what a reviewer accepted with --accept: moves, tolerated changes,
                   stated unit scales, each with "by" and "at">],
     "profile": <verifier.profile.Profile JSON>}

Version 1 locks (no mapping) are still read: their mapping is resolved from their
profile. Unknown formats and versions are refused loudly. This module imports nothing
that builds locks, so `verifier.drift` can read them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier import __version__
from verifier.consumer import contract_for
from verifier.consumer.mapping import ReadingPlan, plan_from_lock_json
from verifier.errors import FormatVersionError, InputError
from verifier.inputs import load_json_file
from verifier.profile import Profile
from verifier.surfaces import Surface

LOCK_FORMAT = "verify-lock"
LOCK_FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
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
    mapping: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    path: str | None = None  # where it was read from

    def plan(self) -> ReadingPlan | None:
        """Where the merge reads each consumed field, as this lock fixes it."""
        contract = contract_for(self.surface)
        if contract is None:
            return None
        moves = tuple(a for a in self.accepted if a.get("kind") in ("move", "scale"))
        return plan_from_lock_json(contract, self.mapping, self.profile, self.path or "", moves)

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
            "mapping": {name: dict(entry) for name, entry in self.mapping.items()},
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
    if version not in READABLE_VERSIONS:
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
            accepted=tuple(a for a in document.get("accepted") or () if isinstance(a, dict)),
            mapping=dict(document.get("mapping") or {}),
            path=source,
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
