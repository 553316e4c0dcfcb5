"""Observed shape profile: one streaming pass over payloads -> per contract path, what was
seen (JSON types, nulls, presence against the parent, timestamp format classes, small
discriminator value sets, money magnitudes, the pointer of a first occurrence).

The documented schema converts to an *expected* profile of the same type
(`expected_profile`), so `verifier.drift` compares documented-vs-observed and
lock-vs-observed with one piece of code. Profiles serialise to JSON for lock files.

The walk is written for speed (a month of enterprise data is a million rows): one node
object per path, children found by key, pointers built only when a first occurrence needs
one, timestamp classes memoised per distinct string.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import operator
import re
import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from verifier import paths
from verifier.errors import DiskError, UsageError
from verifier.inputs import (
    Body,
    Input,
    NotStreamable,
    Source,
    StreamedSource,
    feed_source,
    nesting_guard,
    read_input,
    row_weight,
)
from verifier.keys import load_key
from verifier.pagination import Contradiction, contradiction
from verifier.schemas import SchemaNode, surface_nodes
from verifier.surfaces import Surface
from verifier.vocabulary import is_public, is_public_discriminator

# Contract timestamp format names (DESIGN.md "Timestamp format names"): never rename.
RFC3339_Z = "rfc3339-z"
RFC3339_Z_FRACTION = "rfc3339-z-fraction"
RFC3339_OFFSET = "rfc3339-offset"
DATETIME_NAIVE = "datetime-naive"
DATE = "date"
UNIX_SECONDS = "unix-seconds"
UNIX_MILLIS = "unix-millis"
NUMERIC_STRING = "numeric-string"
TIMESTAMP_FORMATS = (
    RFC3339_Z,
    RFC3339_Z_FRACTION,
    RFC3339_OFFSET,
    DATETIME_NAIVE,
    DATE,
    UNIX_SECONDS,
    UNIX_MILLIS,
)

# 2000-01-01 .. 2100-01-01: integers in these ranges read as Unix timestamps.
_SECONDS_RANGE = (946_684_800, 4_102_444_800)
_MILLIS_RANGE = (946_684_800_000, 4_102_444_800_000)

_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{2}:\d{2}:\d{2}"
_STRING_FORMATS = (
    (re.compile(rf"{_DATE}[Tt ]{_TIME}[Zz]"), RFC3339_Z),
    (re.compile(rf"{_DATE}[Tt ]{_TIME}\.\d+[Zz]"), RFC3339_Z_FRACTION),
    (re.compile(rf"{_DATE}[Tt ]{_TIME}(\.\d+)?[+-]\d{{2}}:\d{{2}}"), RFC3339_OFFSET),
    (re.compile(rf"{_DATE}[Tt ]{_TIME}(\.\d+)?"), DATETIME_NAIVE),
    (re.compile(_DATE), DATE),
    (re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"), NUMERIC_STRING),
)
_MAYBE_FORMATTED = frozenset("0123456789+-.")

# Discriminator-like leaves whose (short) values are recorded: never personal data.
DISCRIMINATOR_LEAVES = frozenset(
    {
        "object",
        "currency",
        "bucket_width",
        "type",
        "quantity_unit",
        "unit",
        "service_tier",
        "role",
        "client_id",
        "speed",
        "status",
    }
)
MONEY_UNITS = frozenset({"usd", "credits"})
MONEY_LEAVES = frozenset({"credits", "cost_usd", "estimated_cost_usd"})
MAX_VALUES = 16
MAX_VALUE_LENGTH = 64

_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    type(None): "null",
}


def classify_string(value: str) -> str | None:
    """The contract timestamp format (or `numeric-string`) of a string, else None."""
    if not value or value[0] not in _MAYBE_FORMATTED:
        return None
    for pattern, name in _STRING_FORMATS:
        if pattern.fullmatch(value):
            return name
    return None


def classify_number(value: float) -> str | None:
    if _SECONDS_RANGE[0] <= value < _SECONDS_RANGE[1]:
        return UNIX_SECONDS
    if _MILLIS_RANGE[0] <= value < _MILLIS_RANGE[1]:
        return UNIX_MILLIS
    return None


# -- Value fingerprints ------------------------------------------------------------------

SKETCH_LIMIT = 256  # non-null values per leaf whose hashes enter its sketch
_HASH_BITS = 64
_HASH_MASK = (1 << _HASH_BITS) - 1
_STRING_TIMESTAMPS = frozenset(
    {RFC3339_Z, RFC3339_Z_FRACTION, RFC3339_OFFSET, DATETIME_NAIVE, DATE}
)


def stable_hash(text: str, key: bytes = b"") -> int:
    """A 64-bit hash that is the same in every process (`hash()` of a str is not); keyed
    (BLAKE2b's own keying) for the values of raw payloads, see `SketchKey`."""
    digest = hashlib.blake2b(
        text.encode(errors="surrogatepass"), digest_size=8, person=b"vfy-fp", key=key
    )
    return int.from_bytes(digest.digest(), "big")


_SKETCH_CONTEXT = b"verify-profile-sketch/v1\x00"
_SMALL_NUMBER = 1_000_000  # a recorded number that cannot be an id or a phone number


@dataclass(frozen=True, slots=True)
class SketchKey:
    """What keys the value hashes of a profile that saw raw payloads.

    A lock is committed, and a hash of a raw value can be checked against guesses (one
    email, one date of birth in a leaf is one hash). So when any input is not an
    anonymised capture, every value hash, and the number ranges, are keyed with a secret
    derived from the anonymisation key: only its holder can compare them. The sketch
    records the key's public fingerprint, and two sketches compare only under one key.
    Anonymised captures hold pseudonyms, public vocabulary and numbers, which the capture
    itself shows: their hashes stay unkeyed and comparable on every machine."""

    secret: bytes = field(repr=False)
    fingerprint: str


def sketch_key(inputs: Sequence[Source | Input]) -> SketchKey | None:
    """None when every input is an anonymised capture; else the anonymisation key's (the
    key file is created on first use, as for `verify anonymise`). A key that cannot be
    had (unreadable key file) gives a random one: such hashes match nothing, ever."""
    if all(item.capture is not None and item.capture.key_fingerprint for item in inputs):
        return None
    try:
        key = load_key()
    except (UsageError, DiskError):
        return SketchKey(secrets.token_bytes(32), "unkeyed:random")
    secret = hmac.new(key.secret, _SKETCH_CONTEXT, hashlib.sha256).digest()
    return SketchKey(secret, key.fingerprint)


def value_token(value: Any) -> str:
    """A value in a form that survives a type change: 12.5 and "12.50" are the same
    number, an RFC 3339 string and its Unix seconds the same moment."""
    if isinstance(value, bool):
        return "b:true" if value else "b:false"
    if isinstance(value, str):
        kind = classify_string(value)
        if kind == NUMERIC_STRING:
            return "n:" + _number_text(value)
        if kind in _STRING_TIMESTAMPS:
            moment = _epoch(value)
            if moment is not None:
                return "n:" + _number_text(moment)
        return "s:" + value
    if isinstance(value, int | float):
        return "n:" + _number_text(value)
    if isinstance(value, Decimal):  # an exact reader's numbers: the same tokens
        return "n:" + _number_text(str(value))
    return "o:" + repr(value)


def _number_text(number: float | str) -> str:
    if isinstance(number, str):
        try:
            return str(int(number))
        except ValueError:
            number = float(number)
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**63:
        return str(int(number))
    return repr(number)


def _epoch(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _pair_hash(row: int, value: int) -> int:
    """One 64-bit hash of a (row, value) pair from the two hashes (splitmix64 finaliser)."""
    z = (row ^ (value * 0x9E3779B97F4A7C15)) & _HASH_MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _HASH_MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _HASH_MASK
    return z ^ (z >> 31)


_MEMO_LIMIT = 100_000


def _item_slots(path: str) -> tuple[bool, ...]:
    """For each pointer token of a value at `path`: is it an array index?"""
    slots: list[bool] = []
    for part in path.split(".") if path else ():
        name, items = part, 0
        while name.endswith("[]"):
            name, items = name[:-2], items + 1
        if name or not items:
            slots.append(False)
        slots.extend([True] * items)
    return tuple(slots)


# -- The finished profile (immutable, JSON round-trip) --------------------------------------


@dataclass(frozen=True, slots=True)
class MoneyStats:
    """Magnitude of a money field: enough to notice dollars turning into cents."""

    count: int
    total: float  # sum of absolute values
    minimum: float
    maximum: float
    integral: bool  # every value was a whole number

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "total": self.total,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "integral": self.integral,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> MoneyStats:
        return cls(
            count=int(raw["count"]),
            total=float(raw["total"]),
            minimum=float(raw["minimum"]),
            maximum=float(raw["maximum"]),
            integral=bool(raw["integral"]),
        )


@dataclass(frozen=True, slots=True)
class SeenValue:
    value: Any
    count: int
    pointer: str


@dataclass(frozen=True, slots=True)
class NumberStats:
    """Every JSON number of a leaf: count, smallest, largest and the sum (exact for
    integers; with decimals, the correctly rounded sum to 12 significant digits, the same
    whatever the order or batching)."""

    count: int
    minimum: int | float
    maximum: int | float
    total: int | float | None  # None: too large to add up

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "total": self.total,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> NumberStats:
        return cls(int(raw["count"]), raw["minimum"], raw["maximum"], raw.get("total"))


@dataclass(frozen=True, slots=True)
class Sketch:
    """Order-independent hashes of a leaf's first `size` non-null values (all of them when
    there are at most SKETCH_LIMIT): of the values, of the rows they sit in, and of the
    (row, value) pairs. Hashes only: no value can be read back from a lock."""

    size: int
    values: str
    rows: str
    pairs: str
    key: str | None = None  # fingerprint of the key of a keyed sketch (see SketchKey)
    numbers: str | None = None  # keyed: a hash of the number count, range and sum

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "size": self.size,
            "values": self.values,
            "rows": self.rows,
            "pairs": self.pairs,
        }
        if self.key is not None:
            out["key"] = self.key
            out["numbers"] = self.numbers
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Sketch:
        key, numbers = raw.get("key"), raw.get("numbers")
        return cls(
            int(raw["size"]),
            str(raw["values"]),
            str(raw["rows"]),
            str(raw["pairs"]),
            None if key is None else str(key),
            None if numbers is None else str(numbers),
        )


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a leaf's values look like, to recognise them under another name or parent
    (`verifier.moves`). Counts of values and nulls are the PathProfile's own."""

    numbers: NumberStats | None = None
    sketch: Sketch | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "numbers": None if self.numbers is None else self.numbers.to_json(),
            "sketch": None if self.sketch is None else self.sketch.to_json(),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Fingerprint:
        numbers, sketch = raw.get("numbers"), raw.get("sketch")
        return cls(
            None if numbers is None else NumberStats.from_json(numbers),
            None if sketch is None else Sketch.from_json(sketch),
        )


@dataclass(frozen=True, slots=True)
class PathProfile:
    """What is known about one contract path: observed counts, or what the schema says
    (`documented=True`: counts are zero and the flags come from the schema)."""

    path: str
    types: Mapping[str, int]  # JSON type -> occurrences ("null" excluded)
    nullable: bool
    always_present: bool  # present every time its parent object was
    present: int = 0
    parents: int = 0
    nulls: int = 0
    formats: Mapping[str, int] = field(default_factory=dict)
    values: tuple[SeenValue, ...] | None = None  # None: not recorded or too many
    unit: str | None = None
    money: MoneyStats | None = None
    first_pointer: str = ""
    type_pointers: Mapping[str, str] = field(default_factory=dict)  # incl. "null"
    format_pointers: Mapping[str, str] = field(default_factory=dict)
    absent_pointer: str | None = None
    documented: bool = False
    fingerprint: Fingerprint | None = None

    @property
    def values_seen(self) -> int:
        """Non-null occurrences."""
        return self.present - self.nulls

    @property
    def type_set(self) -> frozenset[str]:
        return frozenset(self.types)

    @property
    def format_set(self) -> frozenset[str]:
        return frozenset(self.formats)

    @property
    def value_set(self) -> frozenset[Any] | None:
        return None if self.values is None else frozenset(v.value for v in self.values)

    @property
    def is_container(self) -> bool:
        return bool(self.type_set & {"object", "array"})

    @property
    def is_timestamp(self) -> bool:
        """Every non-null value had a timestamp format (a documented one, for expected)."""
        if self.documented:
            return bool(self.formats)
        stamped = sum(n for f, n in self.formats.items() if f in TIMESTAMP_FORMATS)
        return stamped > 0 and stamped == sum(self.types.values())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "types": dict(sorted(self.types.items())),
            "nullable": self.nullable,
            "always_present": self.always_present,
            "present": self.present,
            "parents": self.parents,
            "nulls": self.nulls,
            "formats": dict(sorted(self.formats.items())),
            "values": None
            if self.values is None
            else [{"value": v.value, "count": v.count, "pointer": v.pointer} for v in self.values],
            "unit": self.unit,
            "money": None if self.money is None else self.money.to_json(),
            "first_pointer": self.first_pointer,
            "type_pointers": dict(sorted(self.type_pointers.items())),
            "format_pointers": dict(sorted(self.format_pointers.items())),
            "absent_pointer": self.absent_pointer,
        }
        if self.documented:
            out["documented"] = True
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint.to_json()
        return out

    @classmethod
    def from_json(cls, path: str, raw: Mapping[str, Any]) -> PathProfile:
        values = raw.get("values")
        money = raw.get("money")
        fingerprint = raw.get("fingerprint")
        return cls(
            path=path,
            types={str(k): int(v) for k, v in raw["types"].items()},
            nullable=bool(raw["nullable"]),
            always_present=bool(raw["always_present"]),
            present=int(raw.get("present", 0)),
            parents=int(raw.get("parents", 0)),
            nulls=int(raw.get("nulls", 0)),
            formats={str(k): int(v) for k, v in (raw.get("formats") or {}).items()},
            values=None
            if values is None
            else tuple(SeenValue(v["value"], int(v["count"]), str(v["pointer"])) for v in values),
            unit=raw.get("unit"),
            money=None if money is None else MoneyStats.from_json(money),
            first_pointer=str(raw.get("first_pointer", "")),
            type_pointers=dict(raw.get("type_pointers") or {}),
            format_pointers=dict(raw.get("format_pointers") or {}),
            absent_pointer=raw.get("absent_pointer"),
            documented=bool(raw.get("documented", False)),
            fingerprint=None if fingerprint is None else Fingerprint.from_json(fingerprint),
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """The shape of one or more payloads of one surface (or of its documented schema)."""

    surface: str
    paths: Mapping[str, PathProfile]
    bodies: int = 0
    statuses: Mapping[str, int] = field(default_factory=dict)  # HTTP status -> pages
    documented: bool = False
    first_body: str = ""  # pointer of the first 2xx body ("/pages/0/body" in a capture)
    # Bodies that say has_more with no cursor: facts of these payloads, never locked.
    contradictions: tuple[Contradiction, ...] = ()

    def get(self, path: str) -> PathProfile | None:
        return self.paths.get(path)

    def to_json(self) -> dict[str, Any]:
        return {
            "surface": self.surface,
            "documented": self.documented,
            "bodies": self.bodies,
            "first_body": self.first_body,
            "statuses": dict(sorted(self.statuses.items())),
            "paths": {path: p.to_json() for path, p in self.paths.items()},
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Profile:
        return cls(
            surface=str(raw["surface"]),
            paths={str(p): PathProfile.from_json(str(p), v) for p, v in raw["paths"].items()},
            bodies=int(raw.get("bodies", 0)),
            statuses={str(k): int(v) for k, v in (raw.get("statuses") or {}).items()},
            documented=bool(raw.get("documented", False)),
            first_body=str(raw.get("first_body", "")),
        )

    def without(self, path: str) -> Profile:
        """This profile with `path` and everything beneath it removed."""
        kept = {
            p: v
            for p, v in self.paths.items()
            if p != path and not p.startswith(path + ".") and not p.startswith(path + "[]")
        }
        return Profile(
            self.surface,
            kept,
            self.bodies,
            self.statuses,
            self.documented,
            self.first_body,
            self.contradictions,
        )


# -- Expected profile from the documented schema --------------------------------------------


def expected_profile(surface: Surface) -> Profile:
    """The documented schema as a profile: allowed types, nullability, required-ness,
    timestamp format, const/enum values and money unit per contract path."""
    nodes = surface_nodes(surface)
    out = {path: _expected_path(node) for path, node in nodes.items() if path}
    return Profile(surface.name, out, documented=True)


def _expected_path(node: SchemaNode) -> PathProfile:
    values = None
    if node.values is not None:
        values = tuple(SeenValue(v, 0, "") for v in node.values if v is not None)
    formats = dict.fromkeys(sorted(node.timestamp_formats), 0)
    return PathProfile(
        path=node.path,
        types=dict.fromkeys(sorted(node.types - {"null"}), 0),
        nullable=node.nullable,
        always_present=node.required,
        formats=formats,
        values=values,
        unit=node.unit,
        documented=True,
    )


# -- The walk -------------------------------------------------------------------------------


class _Node:
    """Mutable statistics of one path while profiling."""

    __slots__ = (
        "absent_pointer",
        "children",
        "first_object",
        "first_pointer",
        "format_pointers",
        "formats",
        "items",
        "money",
        "nulls",
        "numbers",
        "path",
        "present",
        "sketch",
        "slots",
        "type_pointers",
        "types",
        "unit",
        "value_pointers",
        "values",
    )

    def __init__(self, path: str, unit: str | None, track_values: bool, money: bool) -> None:
        self.path = path
        self.unit = unit
        self.present = 0
        self.nulls = 0
        self.types: dict[str, int] = {}
        self.type_pointers: dict[str, str] = {}
        self.formats: dict[str, int] = {}
        self.format_pointers: dict[str, str] = {}
        self.values: dict[Any, int] | None = {} if track_values else None
        self.value_pointers: dict[Any, str] = {}
        self.money: list[float] | None = [0, 0.0, float("inf"), float("-inf"), 1] if money else None
        # [count, exact integer total, minimum, maximum, per-batch sums of the decimals]
        self.numbers: list[Any] | None = None
        self.sketch: list[int] | None = None  # [size, values, rows, pairs] hash sums
        self.slots: tuple[bool, ...] | None = None
        self.children: dict[str, _Node] = {}
        self.items: _Node | None = None
        self.first_pointer = ""
        self.first_object = ""
        self.absent_pointer: str | None = None


_MISSING = object()  # a member absent from an object (distinct from null)
_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})
_UNCLASSIFIED = "?"
_MAYBE_FORMATTED_PREFIXES = tuple(_MAYBE_FORMATTED)
_ABOVE_FORMATTED = ":"
assert max(_MAYBE_FORMATTED) < _ABOVE_FORMATTED
Locate = Callable[[int], str]


class Profiler:
    """Accumulates a Profile over any number of bodies (pages) of one surface.

    Values are profiled a *column* at a time: all occurrences of one path in a batch (a
    body, or a batch of streamed rows) are counted with C-level builtins (map, Counter,
    comprehensions) instead of one Python call per value. A column carries a `locate`
    function that builds the JSON pointer of its i-th value, called only for a first
    occurrence (a new type, format, value, null or absence)."""

    def __init__(self, surface: Surface, key: SketchKey | None = None) -> None:
        self.surface = surface
        self._key = key
        self._schema = {p: n for p, n in surface_nodes(surface).items() if p}
        self._root = _Node("", None, False, False)
        self._formats: dict[str, str | None] = {}
        self.bodies = 0
        self._first_body = ""
        self.statuses: dict[str, int] = {}
        self._pending: list[Any] = []
        self._pending_first = 0
        self._pending_prefix = ""
        self._pending_room = 1
        self._pending_ordinal = 0
        self._prefix_len = 0  # pointer prefix of the body being walked
        self._ordinal = 0  # which body (page) is being walked
        self._contradictions: list[Contradiction] = []
        self._hashes: dict[tuple[type, Any], int] = {}  # value -> stable_hash(value_token)
        self._rows: dict[str, int] = {}  # row -> stable_hash(row)

    # Public entry points ---------------------------------------------------------------

    def add_body(self, value: Any, pointer_prefix: str = "", status: int = 200) -> None:
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        if not 200 <= status < 300:
            return
        if not self.bodies:
            self._first_body = pointer_prefix
        found = contradiction(self.surface, value, pointer_prefix)
        if found is not None:
            self._contradictions.append(found)
        self._ordinal, self._prefix_len = self.bodies, len(pointer_prefix)
        self.bodies += 1
        self._column(self._root, [value], lambda _i: pointer_prefix)

    def add_row(self, index: int, row: Any, pointer_prefix: str = "") -> None:
        """One item of the body's `data` array, streamed (the body itself, with `data`
        emptied, goes to `add_body`). Rows are profiled in batches."""
        self.add_rows(pointer_prefix, index, [row])

    def add_rows(self, pointer_prefix: str, first: int, rows: list[Any]) -> None:
        """A slice of `data` items of the body at `pointer_prefix`, `rows[0]` at index
        `first` (the body itself, with `data` emptied, goes to `add_body`)."""
        pending = self._pending
        if pending and (
            pointer_prefix != self._pending_prefix or first != self._pending_first + len(pending)
        ):
            self._flush_rows()
        if not self._pending:
            self._pending_first = first
            self._pending_prefix = pointer_prefix
            self._pending_ordinal = self.bodies  # the body whose rows these are
            # Rows of one body are alike: the first one sizes the batch.
            self._pending_room = max(1, _ROW_BATCH // row_weight(rows[0])) if rows else 1
            if len(rows) >= self._pending_room:
                self._pending = rows  # a whole slice: profiled as it is
                self._flush_rows()
                return
        self._pending.extend(rows)
        if len(self._pending) >= self._pending_room:
            self._flush_rows()

    def end_rows(self) -> None:
        """Profile the rows still waiting in a batch (before their body's envelope)."""
        self._flush_rows()

    def result(self) -> Profile:
        self._flush_rows()
        out: dict[str, PathProfile] = {}
        self._finish(self._root, 0, out)
        return Profile(
            self.surface.name,
            out,
            self.bodies,
            dict(self.statuses),
            first_body=self._first_body,
            contradictions=tuple(self._contradictions),
        )

    def _flush_rows(self) -> None:
        if not self._pending:
            return
        rows, first, prefix = self._pending, self._pending_first, self._pending_prefix
        self._pending = []
        self._ordinal, self._prefix_len = self._pending_ordinal, len(prefix)
        data = self._root.children.get("data") or self._child(self._root, "data", "")
        items = data.items or self._items(data)
        self._column(items, rows, lambda i: f"{prefix}/data/{first + i}")

    # Node creation ---------------------------------------------------------------------

    def _make(self, path: str) -> _Node:
        known = self._schema.get(path)
        unit = known.unit if known else None
        leaf = paths.leaf_name(path)
        track = leaf in DISCRIMINATOR_LEAVES or (known is not None and known.values is not None)
        money = unit in MONEY_UNITS or leaf in MONEY_LEAVES or path.endswith("amount.value")
        return _Node(path, unit, track, money)

    def _child(self, node: _Node, key: str, first_pointer: str) -> _Node:
        child = node.children[key] = self._make(paths.child(node.path, key))
        if node.first_object and node.first_object != first_pointer:
            # First seen in a later object: it was absent from the first one.
            child.absent_pointer = _join(node.first_object, key)
        return child

    def _items(self, node: _Node) -> _Node:
        node.items = self._make(paths.item(node.path))
        return node.items

    # Columns ---------------------------------------------------------------------------

    def _column(self, node: _Node, values: list[Any], locate: Locate) -> None:
        node.present += len(values)
        if not node.first_pointer:
            node.first_pointer = locate(0)
        if values[0] is None and values.count(None) == len(values):
            by_type: Mapping[type, int] = {type(None): len(values)}  # all null: no type() calls
        else:
            kinds = set(map(type, values))
            by_type = {kinds.pop(): len(values)} if len(kinds) == 1 else Counter(map(type, values))
        groups: dict[str, list[Any]] = {}
        for kind, count in by_type.items():
            name = _TYPE_NAMES.get(kind) or _odd_type_of(kind)
            if name == "null":
                node.nulls += count
            else:
                node.types[name] = node.types.get(name, 0) + count
            if name not in node.type_pointers:
                node.type_pointers[name] = locate(_index_of_type(values, kind))
            if name != "null":
                groups[name] = values if len(by_type) == 1 else []
        if len(by_type) > 1:
            positions = self._split(values, groups)
            for name, group in groups.items():
                self._typed(node, name, group, _at(locate, positions[name]))
        else:
            for name, group in groups.items():
                self._typed(node, name, group, locate)

    @staticmethod
    def _split(values: list[Any], groups: dict[str, list[Any]]) -> dict[str, list[int]]:
        """Fill the per-type groups; returns each group's positions in `values`."""
        positions: dict[str, list[int]] = {name: [] for name in groups}
        for index, value in enumerate(values):
            name = _TYPE_NAMES.get(type(value)) or _odd_type_of(type(value))
            if name != "null":
                groups[name].append(value)
                positions[name].append(index)
        return positions

    def _typed(self, node: _Node, name: str, group: list[Any], where: Locate) -> None:
        if name in _SCALAR_TYPES and (node.sketch is None or node.sketch[0] < SKETCH_LIMIT):
            self._sketch(node, group, where)
        if name == "object":
            self._objects(node, group, where)
        elif name == "array":
            self._arrays(node, group, where)
        elif name == "string":
            self._strings(node, group, where)
        elif name in ("integer", "number"):
            self._numbers(node, group, where, exact=name == "integer")
        elif node.values is not None:
            self._seen_values(node, group, where)

    def _sketch(self, node: _Node, values: list[Any], locate: Locate) -> None:
        """Hash the leaf's first SKETCH_LIMIT values, their rows and the (row, value)
        pairs into order-independent sums (a row: the body and array indices above)."""
        state = node.sketch
        if state is None:
            state = node.sketch = [0, 0, 0, 0]
        if node.slots is None:
            node.slots = _item_slots(node.path)
        take = values[: SKETCH_LIMIT - state[0]]
        value_hashes = list(map(self._value_hash, take))
        row_hashes = [self._row_hash(locate(i), node.slots) for i in range(len(take))]
        state[0] += len(take)
        state[1] += sum(value_hashes)
        state[2] += sum(row_hashes)
        state[3] += sum(map(_pair_hash, row_hashes, value_hashes))

    def _value_hash(self, value: Any) -> int:
        key = (value.__class__, value)  # 1, 1.0 and True are one dict key otherwise
        known = self._hashes.get(key)
        if known is None:
            if len(self._hashes) > _MEMO_LIMIT:
                self._hashes.clear()
            secret = self._key.secret if self._key else b""
            known = self._hashes[key] = stable_hash(value_token(value), secret)
        return known

    def _row_hash(self, pointer: str, slots: tuple[bool, ...]) -> int:
        tail = pointer[self._prefix_len :]
        tokens = tail.split("/")[1:]
        if len(tokens) == len(slots):
            indices = [token for token, is_index in zip(tokens, slots, strict=True) if is_index]
            row = f"{self._ordinal}/" + "/".join(indices)
        else:
            row = f"{self._ordinal}{tail}"
        known = self._rows.get(row)
        if known is None:
            if len(self._rows) > _MEMO_LIMIT:
                self._rows.clear()
            known = self._rows[row] = stable_hash(row)
        return known

    def _objects(self, node: _Node, objects: list[dict[str, Any]], locate: Locate) -> None:
        if not node.first_object:
            node.first_object = locate(0)
        children = node.children
        columns = _uniform_columns(objects)
        if columns is None:
            keys = dict.fromkeys(itertools.chain.from_iterable(objects))
        else:
            keys = dict.fromkeys(columns)
        for key in keys:
            if key not in children:
                first = next(i for i, o in enumerate(objects) if key in o)
                self._child(node, key, locate(first))
        for key, child in children.items():
            if key in keys:
                # The common case, every object has the member: a C-level loop.
                everywhere = _column_of(objects, key) if columns is None else columns.pop(key)
                if everywhere is not None:
                    self._column(child, everywhere, _member(locate, key))
                    continue
            column = [o.get(key, _MISSING) for o in objects]
            if child.absent_pointer is None:
                child.absent_pointer = _join(locate(column.index(_MISSING)), key)
            present = [i for i, v in enumerate(column) if v is not _MISSING]
            if present:
                self._column(child, [column[i] for i in present], _some(locate, key, present))

    def _arrays(self, node: _Node, arrays: list[list[Any]], locate: Locate) -> None:
        items = list(itertools.chain.from_iterable(arrays))
        if not items:
            return
        target = node.items or self._items(node)

        def where(i: int) -> str:
            for index, array in enumerate(arrays):
                if i < len(array):
                    return f"{locate(index)}/{i}"
                i -= len(array)
            raise IndexError(i)

        self._column(target, items, where)

    def _strings(self, node: _Node, strings: list[str], locate: Locate) -> None:
        # Every formatted string starts with a character below ":" (digits, "+-."), so a
        # column whose smallest string is not below ":" has none (ids, names, kinds).
        candidates: list[str] = []
        if min(strings) < _ABOVE_FORMATTED:
            prefixes = itertools.repeat(_MAYBE_FORMATTED_PREFIXES)
            candidates = list(itertools.compress(strings, map(str.startswith, strings, prefixes)))
        if candidates:
            memo = self._formats
            formats = list(map(memo.get, candidates, itertools.repeat(_UNCLASSIFIED)))
            if _UNCLASSIFIED in formats:
                if len(memo) > 200_000:
                    memo.clear()
                unknown = {
                    c for c, f in zip(candidates, formats, strict=True) if f == _UNCLASSIFIED
                }
                memo.update((text, classify_string(text)) for text in unknown)
                formats = list(map(memo.__getitem__, candidates))
            counted = Counter(f for f in formats if f is not None)
            for fmt, count in counted.items():
                self._count_format(node, fmt, count, candidates, formats, strings, locate)
            if node.money is not None and NUMERIC_STRING in counted:
                numeric = [
                    float(s)
                    for s, f in zip(candidates, formats, strict=True)
                    if f == NUMERIC_STRING
                ]
                self._money(node, numeric)
        if node.values is not None:
            counted_values = Counter(strings)
            if max(map(len, counted_values)) > MAX_VALUE_LENGTH:
                node.values = None  # a long string is no discriminator
            else:
                self._seen_values(node, strings, locate, counted_values)

    def _count_format(
        self,
        node: _Node,
        fmt: str,
        count: int,
        candidates: list[str],
        formats: list[str | None],
        strings: list[str],
        locate: Locate,
    ) -> None:
        node.formats[fmt] = node.formats.get(fmt, 0) + count
        if fmt not in node.format_pointers:
            first = candidates[formats.index(fmt)]
            node.format_pointers[fmt] = locate(strings.index(first))

    def _numbers(self, node: _Node, numbers: list[float], locate: Locate, exact: bool) -> None:
        low, high = _SECONDS_RANGE[0], _MILLIS_RANGE[1]
        smallest, largest = min(numbers), max(numbers)
        # Counts and amounts are far below 2001 in seconds: one C-level max() rules them out.
        maybe = largest >= low and smallest < high
        stamped = [v for v in numbers if low <= v < high] if maybe else []
        if stamped:
            counted = Counter(f for f in map(classify_number, stamped) if f is not None)
            for fmt, count in counted.items():
                node.formats[fmt] = node.formats.get(fmt, 0) + count
                if fmt not in node.format_pointers:
                    first = next(v for v in stamped if classify_number(v) == fmt)
                    node.format_pointers[fmt] = locate(numbers.index(first))
        self._number_stats(node, numbers, smallest, largest, exact)
        if node.money is not None:
            self._money(node, numbers, smallest, largest)
        if node.values is not None:
            self._seen_values(node, numbers, locate)

    @staticmethod
    def _number_stats(
        node: _Node, numbers: list[float], smallest: float, largest: float, exact: bool
    ) -> None:
        stats = node.numbers
        if stats is None:
            stats = node.numbers = [0, 0, smallest, largest, []]
        stats[0] += len(numbers)
        stats[2] = min(stats[2], smallest)
        stats[3] = max(stats[3], largest)
        if exact:
            stats[1] += sum(numbers)
        else:
            try:
                stats[4].append(math.fsum(numbers))
            except (OverflowError, ValueError):
                stats[4].append(math.inf)

    @staticmethod
    def _money(
        node: _Node,
        numbers: list[float],
        smallest: float | None = None,
        largest: float | None = None,
    ) -> None:
        stats = node.money
        if stats is None or not numbers:
            return
        stats[0] += len(numbers)
        # float(): exact readers hand over Decimals; magnitudes only need a double.
        stats[1] += float(sum(map(abs, numbers)))
        stats[2] = min(stats[2], float(min(numbers) if smallest is None else smallest))
        stats[3] = max(stats[3], float(max(numbers) if largest is None else largest))
        if stats[4] and not all(map(float.is_integer, map(float, numbers))):
            stats[4] = 0

    @staticmethod
    def _seen_values(
        node: _Node, values: list[Any], locate: Locate, counted: Counter[Any] | None = None
    ) -> None:
        seen = node.values
        if seen is None:
            return
        for value, count in (counted if counted is not None else Counter(values)).items():
            if value in seen:
                seen[value] += count
            elif len(seen) >= MAX_VALUES:
                node.values = None
                return
            else:
                seen[value] = count
                node.value_pointers[value] = locate(values.index(value))

    # Finishing -------------------------------------------------------------------------

    def _finish(self, node: _Node, parents: int, out: dict[str, PathProfile]) -> None:
        if node.path:
            out[node.path] = _finished(node, parents, self._key)
        objects = node.types.get("object", 0)
        for child in node.children.values():
            self._finish(child, objects, out)
        if node.items is not None:
            self._finish(node.items, node.types.get("array", 0), out)


_ROW_BATCH = 2000


def _uniform_columns(objects: list[dict[str, Any]]) -> dict[str, list[Any]] | None:
    """Member name -> column of values, when every object has exactly the members of the
    first one (the common case: the key union then needs no pass over every member)."""
    first = objects[0]
    if sum(map(len, objects)) != len(first) * len(objects):
        return None
    try:  # each object has every member of the first, and no more (same total length)
        return {key: list(map(operator.itemgetter(key), objects)) for key in first}
    except (KeyError, TypeError):
        return None


def _column_of(objects: list[dict[str, Any]], key: str) -> list[Any] | None:
    """The values of member `key`, or None when some object lacks it."""
    try:
        return list(map(operator.itemgetter(key), objects))
    except KeyError:
        return None


def _member(locate: Locate, key: str) -> Locate:
    return lambda i: _join(locate(i), key)


def _at(locate: Locate, positions: list[int]) -> Locate:
    """Locate the values of a sub-list taken at `positions`."""
    return lambda i: locate(positions[i])


def _some(locate: Locate, key: str, present: list[int]) -> Locate:
    """Locate member `key` of the objects (at positions `present`) that have it."""
    return lambda i: _join(locate(present[i]), key)


def _index_of_type(values: list[Any], kind: type) -> int:
    return next(i for i, v in enumerate(values) if type(v) is kind)


def _odd_type_of(kind: type) -> str:
    """Types a JSON parser rarely hands over (Decimal, subclasses): named by behaviour."""
    for base, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (Mapping, "object"),
        (list, "array"),
        (tuple, "array"),
    ):
        if issubclass(kind, base):
            return name
    return "number"


def _join(parent: str, token: str | int) -> str:
    if isinstance(token, int):
        return f"{parent}/{token}"
    return f"{parent}/{paths.escape_token(token)}"


def _finished(node: _Node, parents: int, key: SketchKey | None) -> PathProfile:
    is_item = node.path.endswith("[]")
    money = None
    if node.money is not None and node.money[0]:
        count, total, low, high, integral = node.money
        money = MoneyStats(int(count), total, low, high, bool(integral))
    values = None
    if node.values is not None:
        values = tuple(
            SeenValue(_recorded(v, key), n, node.value_pointers[v])
            for v, n in sorted(node.values.items(), key=lambda kv: (-kv[1], str(kv[0])))
        )
    return PathProfile(
        path=node.path,
        types=dict(node.types),
        nullable=node.nulls > 0,
        always_present=is_item or (parents > 0 and node.present == parents),
        present=node.present,
        parents=node.present if is_item else parents,
        nulls=node.nulls,
        formats=dict(node.formats),
        values=values,
        unit=node.unit,
        money=money,
        first_pointer=node.first_pointer,
        type_pointers=dict(node.type_pointers),
        format_pointers=dict(node.format_pointers),
        absent_pointer=None if is_item or node.present == parents else node.absent_pointer,
        fingerprint=_fingerprint(node, key),
    )


def _recorded(value: Any, key: SketchKey | None) -> Any:
    """A value seen at a discriminator-like leaf, as a profile (and so a committed lock)
    holds it: public vocabulary, booleans and small numbers as they are; anything else (a
    live payload can put an IP address, a numeric id or a name under `type`) as a hash,
    keyed like the sketches, so a new value still differs from the locked ones."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        if abs(float(value)) < _SMALL_NUMBER:
            return value
    elif isinstance(value, str) and (is_public(value) or is_public_discriminator(value)):
        return value
    digest = stable_hash(value_token(value), key.secret if key else b"")
    return f"<withheld {digest:016x}>"


def _fingerprint(node: _Node, key: SketchKey | None) -> Fingerprint | None:
    numbers = None
    if node.numbers is not None:
        count, integers, smallest, largest, parts = node.numbers
        total: int | float | None = integers
        if parts:
            try:
                # 12 significant digits: the same whatever the batching (streamed or whole).
                total = float(f"{math.fsum([*parts, integers]):.12g}")
            except (OverflowError, ValueError):
                total = None
        if isinstance(total, float) and not math.isfinite(total):
            total = None
        numbers = NumberStats(count, smallest, largest, total)
    sketch = None
    if node.sketch is not None:
        size, values, rows, pairs = node.sketch
        sketch = Sketch(size, *(f"{h & _HASH_MASK:016x}" for h in (values, rows, pairs)))
        if key is not None:
            # The number range of raw values is shown only as a keyed hash (a leaf of one
            # value would show the value itself).
            shown = None if numbers is None else repr(numbers.to_json())
            hashed = None if shown is None else f"{stable_hash(shown, key.secret):016x}"
            sketch = replace(sketch, key=key.fingerprint, numbers=hashed)
            numbers = None
    if numbers is None and sketch is None:
        return None
    return Fingerprint(numbers, sketch)


# -- Profiling sources ----------------------------------------------------------------------


def profile_source(source: Source, profiler: Profiler | None = None) -> Profile:
    profiler = profiler or Profiler(source.surface, sketch_key([source]))
    with nesting_guard(source.name):
        for body in source.bodies:
            profiler.add_body(body.value, body.pointer_prefix, body.status)
        return profiler.result()


class ProfileSink:
    """Profiles one source's bodies, streamed or whole (the same profile), and keeps the
    non-2xx bodies (small error answers) for their `http_status` findings."""

    def __init__(self, surface: Surface, key: SketchKey | None) -> None:
        # No default: whoever profiles says how the values are hashed (`sketch_key`).
        self.profiler = Profiler(surface, key)
        self.failed: list[Body] = []

    def rows(self, prefix: str, first: int, rows: list[Any]) -> None:
        self.profiler.add_rows(prefix, first, rows)

    def body(self, body: Body) -> None:
        if not body.ok:
            self.failed.append(body)
        self.profiler.end_rows()
        self.profiler.add_body(body.value, body.pointer_prefix, body.status)


def profile_input(item: Input) -> tuple[Profile, list[Body]]:
    """Profile one input (a large file streams page by page); returns the profile and
    the input's non-2xx bodies."""
    with nesting_guard(item.name):
        key = sketch_key([item])
        sink, _capture = read_input(item, lambda: ProfileSink(item.surface, key))
        return sink.profiler.result(), sink.failed


def merged_profile(surface: Surface, items: Sequence[Input]) -> Profile:
    """One profile over every body of several inputs of the same surface (for a lock);
    large files stream. A file found unstreamable after part of it was profiled starts
    the profile over, with that file read whole."""
    whole: set[int] = set()
    key = sketch_key(items)
    with nesting_guard(", ".join(item.name for item in items)):
        while True:
            sink = ProfileSink(surface, key)
            at = 0
            try:
                for at, item in enumerate(items):
                    if isinstance(item, StreamedSource) and at not in whole:
                        item.stream_bodies(sink)
                    else:
                        source = item.load_whole() if isinstance(item, StreamedSource) else item
                        feed_source(source, sink)
                return sink.profiler.result()
            except NotStreamable:
                whole.add(at)
