"""The typed consumer contract: what a merge parser needs from a surface.

A vendor contract (`schemas/`) says what the vendor documents. A consumer contract says
what one parser reads and what it can tolerate, field by field:

    ConsumedField   a canonical field (`credits`) -> contract path per known shape
                    variant, accepted JSON types, accepted timestamp formats, unit,
                    nullable or not, what absence means (`required`, `zero`, `unknown`)
                    and whether the vendor documents it as optional (`optional`: a
                    capture that never carries it is no drift)
    Assumption      something the parser relies on that the vendor never promised
                    (currency is usd; costs carry a user_id, or a user_email instead)
    IgnoredField    a member the vendor may send that the parser deliberately does not
                    read, with the reason (costs `organization_id`)
    SurfaceContract the fields, assumptions and ignored members of one surface's parser

Severity comes from here (`verifier.consumer.judge`): drift on a consumed field is
`breaking` only when what arrives is outside what the parser accepts, or the field can
no longer be located; drift the parser tolerates is a `warning` naming the tolerance.
Everything is immutable and serialises to JSON (`to_json`), so another team's parser
can declare its contract in a file and be judged the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from verifier import paths

Absence = Literal["required", "zero", "unknown"]
Role = Literal[
    "timestamp", "money", "count", "identity", "email", "currency", "container", "flag", "label"
]

# A string holding a decimal number: an accepted "type" for money (`"12.50"`).
NUMERIC_STRING_TYPE = "numeric-string"

# Timestamp formats that denote the same instant however the zone is spelled: a parser
# reading one reads them all exactly (`Z` vs `+00:00`, with or without a fraction).
ZONED_RFC3339 = frozenset({"rfc3339-z", "rfc3339-z-fraction", "rfc3339-offset"})
UNIX_FORMATS = frozenset({"unix-seconds", "unix-millis"})

ABSENCE_MEANING = {
    "required": "the merge cannot run without it",
    "zero": "read as 0",
    "unknown": "shown as missing, never 0",
}


@dataclass(frozen=True, slots=True)
class ConsumedField:
    """One canonical field a parser reads.

    `paths` lists (variant, contract path) in preference order; one variant may offer
    several paths (the vendor's row carries `user_id` and `actor.user_id`).

    `optional`: the vendor documents the field as optional (Codex `totals.cost_usd`,
    `models[]`), so a capture that never carries it is not drift: no finding when it is
    absent everywhere (a lock that had it still reports its disappearance)."""

    name: str
    paths: tuple[tuple[str, str], ...]
    types: frozenset[str]
    role: Role
    timestamp_formats: frozenset[str] = frozenset()
    unit: str | None = None
    nullable: bool = False
    absent: Absence = "required"
    description: str = ""
    optional: bool = False

    @property
    def candidate_paths(self) -> tuple[str, ...]:
        """Every known path, first preference first, without repeats."""
        return tuple(dict.fromkeys(path for _variant, path in self.paths))

    def variants_at(self, path: str) -> tuple[str, ...]:
        return tuple(variant for variant, known in self.paths if known == path)

    def accepts_types(self, observed: frozenset[str], numeric_strings: bool) -> bool:
        """Whether every observed JSON type is one the parser reads. `numeric_strings`:
        every observed string held a number."""
        allowed = set(self.types)
        if "number" in allowed:
            allowed.add("integer")
        if NUMERIC_STRING_TYPE in allowed and numeric_strings:
            allowed.add("string")
        return set(observed) - {"null"} <= allowed

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "paths": [{"variant": v, "path": p} for v, p in self.paths],
            "types": sorted(self.types),
            "role": self.role,
            "timestamp_formats": sorted(self.timestamp_formats),
            "unit": self.unit,
            "nullable": self.nullable,
            "absent": self.absent,
            "optional": self.optional,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ConsumedField:
        return cls(
            name=str(raw["name"]),
            paths=tuple((str(p["variant"]), str(p["path"])) for p in raw["paths"]),
            types=frozenset(str(t) for t in raw["types"]),
            role=raw["role"],
            timestamp_formats=frozenset(raw.get("timestamp_formats") or ()),
            unit=raw.get("unit"),
            nullable=bool(raw.get("nullable", False)),
            absent=raw.get("absent", "required"),
            description=str(raw.get("description", "")),
            optional=bool(raw.get("optional", False)),
        )


@dataclass(frozen=True, slots=True)
class Assumption:
    """Something the parser relies on that the vendor does not promise. Breaking it is
    `breaking`, with a message naming the assumption.

    `values`: the only values the field may take (case-insensitive), or None.
    `attributed`: the field must be non-null somewhere (else nothing can be attributed).
    `fallbacks`: fields that attribute a row when this one is null or absent (costs
    `user_email` for `user_id`); the assumption holds while one of them has values."""

    name: str
    field: str
    statement: str
    values: frozenset[str] | None = None
    attributed: bool = False
    fallbacks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "field": self.field,
            "statement": self.statement,
            "values": None if self.values is None else sorted(self.values),
            "attributed": self.attributed,
            "fallbacks": list(self.fallbacks),
        }


@dataclass(frozen=True, slots=True)
class IgnoredField:
    """A member the vendor may send that the parser deliberately does not read. Drift on
    it is judged like any unread path; `reason` documents why it is not read."""

    path: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class SurfaceContract:
    """What one surface's parser reads: `row` is the contract path of the array whose
    items are read one by one (`data[]` for Codex rows, `data[].results[]` for OpenAI
    results); the envelope paths (`data`, `has_more`) are read on every page."""

    surface: str
    row: str
    fields: tuple[ConsumedField, ...]
    envelope: tuple[str, ...] = ("data", "has_more")
    assumptions: tuple[Assumption, ...] = field(default_factory=tuple)
    ignored: tuple[IgnoredField, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[ConsumedField]:
        return iter(self.fields)

    def field(self, name: str) -> ConsumedField:
        for consumed in self.fields:
            if consumed.name == name:
                return consumed
        raise KeyError(f"{self.surface} has no consumed field {name!r}")

    def fields_at(self, path: str) -> tuple[ConsumedField, ...]:
        """The fields one of whose known paths is exactly `path`."""
        return tuple(f for f in self.fields if path in f.candidate_paths)

    def assumptions_on(self, name: str) -> tuple[Assumption, ...]:
        return tuple(a for a in self.assumptions if a.field == name)

    @property
    def paths(self) -> frozenset[str]:
        """Every path the parser may read: envelope, containers and every variant."""
        out = set(self.envelope)
        for consumed in self.fields:
            for path in consumed.candidate_paths:
                out.add(path)
                out.update(_containers(path))
        return frozenset(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "surface": self.surface,
            "row": self.row,
            "envelope": list(self.envelope),
            "fields": [f.to_json() for f in self.fields],
            "assumptions": [a.to_json() for a in self.assumptions],
            "ignored": [i.to_json() for i in self.ignored],
        }


def _containers(path: str) -> Iterator[str]:
    """The array containers above a path (`data[].results[].x` -> data, data[].results)."""
    ancestor = paths.parent(path)
    while ancestor:
        if ancestor.endswith("[]"):
            yield ancestor[:-2]
        ancestor = paths.parent(ancestor)
