"""Which path each consumed field is read at, and how: the reading plan.

A lock decides (`verify lock` writes its mapping; `--accept` records reviewed moves and
stated unit scales into it): the merge reads a field at the lock's path, decodes its
timestamps in the formats the lock recorded, and multiplies money by a stated scale.
Without a lock (`--allow-unlocked`, library use) the plan is resolved from the capture's
own profile, among the variants the contract knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from verifier import paths
from verifier.consumer.model import ZONED_RFC3339, ConsumedField, SurfaceContract
from verifier.profile import TIMESTAMP_FORMATS, Profile


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """How one field is read: at `path`, timestamps in `formats`, money times `scale`.

    `origin` says why this path: `variant:<name>`, `accepted move` or `unresolved`."""

    field: ConsumedField
    path: str
    origin: str
    formats: frozenset[str] = frozenset()
    scale: Decimal | None = None

    @property
    def located(self) -> bool:
        return self.origin != "unresolved"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "origin": self.origin}
        if self.formats:
            out["formats"] = sorted(self.formats)
        if self.scale is not None:
            out["scale"] = format(self.scale, "f")
        return out


@dataclass(frozen=True, slots=True)
class ReadingPlan:
    """The plan of one surface: a FieldPlan per consumed field, and where it came from
    (`lock`: the lock file's path, or None when resolved from the capture)."""

    contract: SurfaceContract
    fields: Mapping[str, FieldPlan]
    lock: str | None = None
    accepted: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> FieldPlan:
        return self.fields[name]

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(plan.path for plan in self.fields.values())

    def mapping_json(self) -> dict[str, Any]:
        return {name: plan.to_json() for name, plan in self.fields.items()}


def _origin(consumed: ConsumedField, path: str) -> str:
    variants = consumed.variants_at(path)
    return f"variant:{variants[0]}" if variants else "accepted move"


def _present(profile: Profile, path: str) -> bool:
    seen = profile.paths.get(path)
    return seen is not None and seen.present > 0


def resolve_path(
    consumed: ConsumedField, profile: Profile, previous: str | None = None
) -> tuple[str, str]:
    """(path, origin) of a field in a profile: the previous mapping's path first, then
    the known variants in preference order; `unresolved` when none was seen."""
    candidates = ((previous,) if previous else ()) + consumed.candidate_paths
    for path in candidates:
        if _present(profile, path):
            return path, _origin(consumed, path)
    # Unresolved: name the path of the shape the capture has (its parent is there).
    fitting = [p for p in candidates if not paths.parent(p) or _present(profile, paths.parent(p))]
    return (previous or (fitting or list(candidates))[0]), "unresolved"


def observed_formats(profile: Profile, path: str, consumed: ConsumedField) -> frozenset[str]:
    """The timestamp formats a profile recorded at `path` that the field accepts."""
    seen = profile.paths.get(path)
    if seen is None or consumed.role != "timestamp":
        return frozenset()
    return frozenset(
        f for f in seen.formats if f in TIMESTAMP_FORMATS and f in consumed.timestamp_formats
    )


def readable_formats(recorded: frozenset[str]) -> frozenset[str]:
    """What a parser reads given the formats a lock recorded: the recorded ones, plus
    every other spelling of a zoned RFC 3339 instant when one was recorded (the
    tolerance: `Z` -> `+00:00` reads the same instant)."""
    if recorded & ZONED_RFC3339:
        return recorded | ZONED_RFC3339
    return recorded


def plan_from_profile(
    contract: SurfaceContract,
    profile: Profile,
    *,
    previous: Mapping[str, Mapping[str, Any]] | None = None,
    lock: str | None = None,
    accepted: tuple[Mapping[str, Any], ...] = (),
) -> ReadingPlan:
    """Resolve every field against a profile (a lock's, or a capture's own).

    `previous`: a mapping as stored in a lock (`{field: {"path", "scale"?}}`), whose
    paths win when the profile has them (accepted moves stay in force)."""
    previous = previous or {}
    plans = {}
    for consumed in contract.fields:
        before = previous.get(consumed.name) or {}
        path, origin = resolve_path(consumed, profile, before.get("path"))
        if origin == "accepted move" and before.get("origin"):
            origin = str(before["origin"])
        scale = before.get("scale")
        plans[consumed.name] = FieldPlan(
            field=consumed,
            path=path,
            origin=origin,
            formats=observed_formats(profile, path, consumed),
            scale=Decimal(str(scale)) if scale is not None else None,
        )
    return ReadingPlan(contract, plans, lock, accepted)


def plan_from_lock_json(
    contract: SurfaceContract,
    mapping: Mapping[str, Mapping[str, Any]],
    profile: Profile,
    lock: str,
    accepted: tuple[Mapping[str, Any], ...] = (),
) -> ReadingPlan:
    """The plan a lock fixes: its mapped paths exactly (never re-resolved), formats as
    the lock recorded them."""
    plans = {}
    for consumed in contract.fields:
        stored = mapping.get(consumed.name)
        if stored is None:  # a lock from before this field was consumed
            path, origin = resolve_path(consumed, profile)
            scale = None
        else:
            path, origin = str(stored["path"]), str(stored.get("origin", "variant"))
            scale = stored.get("scale")
        formats = stored.get("formats") if stored is not None else None
        plans[consumed.name] = FieldPlan(
            field=consumed,
            path=path,
            origin=origin,
            formats=frozenset(formats)
            if formats is not None
            else observed_formats(profile, path, consumed),
            scale=Decimal(str(scale)) if scale is not None else None,
        )
    return ReadingPlan(contract, plans, lock, accepted)


def readings_json(plans: Mapping[str, ReadingPlan]) -> dict[str, dict[str, Any]]:
    """Per surface: the lock read through, the field mapping and the accepted moves and
    scales it relies on (gate report and merge output metadata)."""
    return {
        name: {
            "lock": plan.lock,
            "mapping": plan.mapping_json(),
            "accepted": [dict(entry) for entry in plan.accepted],
        }
        for name, plan in sorted(plans.items())
    }
