"""`verify propose`: the documented schema updated to what a drifted capture shows.

No second diff: the drift engine's findings against the documented schema (moves with
both ends, added fields, type, timestamp format, nullability, presence and value changes)
are applied to a deep copy of the surface's schema. A moved field keeps its subschema,
so its `x-pii`, `x-timestamp-format` and `x-unit` annotations travel with it. Only type
and format *names* enter the schema, never a payload's values. The result is written
next to (never over) the committed schemas for the team to review and commit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from verifier import paths
from verifier.drift import Drift, diff_profiles
from verifier.inputs import STREAM_MIN_BYTES, Input, json_type, load_inputs
from verifier.profile import (
    DATE,
    NUMERIC_STRING,
    UNIX_MILLIS,
    UNIX_SECONDS,
    PathProfile,
    Profile,
    expected_profile,
    merged_profile,
)
from verifier.schemas import surface_schema
from verifier.store import atomic_write_bytes, serialise
from verifier.surfaces import Surface, get_surface

DEFAULT_PROPOSED_DIR = Path("schemas/proposed")
ANNOTATIONS = ("x-pii", "x-timestamp-format", "x-unit", "description")
# Keywords that say what type (or value) a leaf holds: a retimestamped leaf loses them all.
_TYPE_KEYWORDS = ("type", "format", "minimum", "maximum", "anyOf", "oneOf", "const", "enum")
# What a drift kind changes in the schema; other kinds (a unit change, the paging scheme,
# HTTP status) need a reviewer's statement, not a schema edit.
_NOT_APPLIED = ("unit_suspect", "pagination_changed")


@dataclass(frozen=True, slots=True)
class Proposal:
    """The proposed schema of one surface and one line per change made to it."""

    surface: str
    schema: dict[str, Any]
    changes: tuple[str, ...]


def path_tokens(path: str) -> list[str]:
    """`data[].results[].amount` -> ["data", "[]", "results", "[]", "amount"]."""
    if not path:
        return []
    if path.endswith("[]"):
        return [*path_tokens(path[:-2]), "[]"]
    return [*path_tokens(paths.parent(path)), path.rpartition(".")[2]]


class SchemaEditor:
    """Edits one schema document in place, addressing members by contract path."""

    def __init__(self, schema: dict[str, Any], observed: Profile) -> None:
        self.root = schema
        self.observed = observed

    def target(self, node: dict[str, Any]) -> dict[str, Any]:
        """The schema a `$ref` chain ends at (edits there apply to every referrer)."""
        while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            found: Any = self.root
            for token in paths.pointer_parts(node["$ref"][1:]):
                found = found[token]
            node = found
        return node

    def expand(self, node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The node and every variant branch beneath it (`anyOf`, `oneOf`, `allOf`,
        `then`, `else`), `$ref`s followed."""
        node = self.target(node)
        yield node
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(key, ()):
                if isinstance(branch, dict):
                    yield from self.expand(branch)
        for key in ("then", "else"):
            if isinstance(node.get(key), dict):
                yield from self.expand(node[key])

    def members(self, path: str) -> list[dict[str, Any]]:
        """Every (resolved) subschema that describes `path`, across variants."""
        current = [self.root]
        for token in path_tokens(path):
            found: dict[int, dict[str, Any]] = {}
            for node in current:
                for schema in self.expand(node):
                    if token == "[]":
                        sub = schema.get("items")
                    else:
                        sub = schema.get("properties", {}).get(token)
                    if isinstance(sub, dict):
                        resolved = self.target(sub)
                        found[id(resolved)] = resolved
            current = list(found.values())
        return current

    def ensure(self, path: str) -> list[dict[str, Any]]:
        """The subschemas of `path`, created from what was observed when there are none."""
        found = self.members(path)
        if found or not path:
            return found
        fresh = leaf_schema(self.observed.paths.get(path))
        for parent in self.ensure(paths.parent(path)):
            if path.endswith("[]"):
                parent["items"] = copy.deepcopy(fresh)
            else:
                parent.setdefault("properties", {})[paths.leaf_name(path)] = copy.deepcopy(fresh)
        return self.members(path)

    def remove(self, path: str) -> None:
        """Drop a member from every parent that names it (and from their `required`)."""
        name, parent_path = paths.leaf_name(path), paths.parent(path)
        parents = self.members(parent_path)
        for parent in parents:
            for schema in self.expand(parent):
                schema.get("properties", {}).pop(name, None)
                self._unrequire(schema, name)
        # An object all of whose members moved away, and that no payload holds any more.
        emptied = all(not s.get("properties") for p in parents for s in self.expand(p))
        gone = (
            parent_path
            and not parent_path.endswith("[]")
            and parent_path not in self.observed.paths
        )
        if parents and emptied and gone:
            self.remove(parent_path)

    def make_optional(self, path: str) -> None:
        name = paths.leaf_name(path)
        for parent in self.members(paths.parent(path)):
            for schema in self.expand(parent):
                self._unrequire(schema, name)

    @staticmethod
    def _unrequire(schema: dict[str, Any], name: str) -> None:
        if name in schema.get("required", ()):
            schema["required"] = [n for n in schema["required"] if n != name]


def _types_of(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def _type_value(types: Iterable[str]) -> str | list[str]:
    ordered = sorted(set(types))
    return ordered[0] if len(ordered) == 1 else ordered


def leaf_schema(seen: PathProfile | None) -> dict[str, Any]:
    """A schema for a field the documentation does not have: its observed JSON types
    (and timestamp formats), never its values. Without `x-pii` the anonymiser treats its
    strings as personal (default-deny)."""
    if seen is None:
        return {}
    if seen.is_timestamp and seen.format_set:
        return stamped(seen.format_set, seen.type_set, seen.nulls > 0)
    types = set(seen.type_set) | ({"null"} if seen.nulls else set())
    return {"type": _type_value(sorted(types))} if types else {}


def _stamp(name: str, types: frozenset[str]) -> dict[str, Any]:
    if name in (UNIX_SECONDS, UNIX_MILLIS):
        kind = "integer" if types & {"integer", "number"} <= {"integer"} else "number"
        return {"type": kind, "minimum": 0, "x-timestamp-format": name}
    out: dict[str, Any] = {"type": "string", "x-timestamp-format": name}
    if name.startswith("rfc3339"):
        out["format"] = "date-time"
    elif name == DATE:
        out["format"] = "date"
    return out


def stamped(formats: frozenset[str], types: frozenset[str], nullable: bool) -> dict[str, Any]:
    """The type keywords of a timestamp seen in `formats` (`other`: values of no known
    format, kept as their plain JSON types)."""
    names = sorted(f for f in formats if f not in ("other", NUMERIC_STRING))
    branches = [_stamp(name, types) for name in names]
    if "other" in formats or NUMERIC_STRING in formats or not branches:
        branches.append({"type": _type_value(sorted(types or {"string"}))})
    if nullable:
        branches.append({"type": "null"})
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _retype(schema: dict[str, Any], types: frozenset[str]) -> None:
    """Allow `types` besides what the schema allows (an enum/const becomes its type)."""
    if "anyOf" in schema or "oneOf" in schema:
        schema.setdefault("anyOf", schema.pop("oneOf", [])).append({"type": _type_value(types)})
        return
    _unenumerate(schema)
    if "type" in schema:
        schema["type"] = _type_value([*_types_of(schema), *types])


def _unenumerate(schema: dict[str, Any]) -> None:
    """Replace `const`/`enum` with the JSON types of their values: new values are allowed
    and no observed value is written into the schema."""
    values = schema.pop("enum", [schema["const"]] if "const" in schema else None)
    schema.pop("const", None)
    if values is not None and "type" not in schema:
        names = {json_type(v) for v in values}
        schema["type"] = _type_value(sorted(names))


def _allow_null(schema: dict[str, Any]) -> None:
    if "anyOf" in schema or "oneOf" in schema:
        schema.setdefault("anyOf", schema.pop("oneOf", [])).append({"type": "null"})
    elif "type" in schema:
        schema["type"] = _type_value([*_types_of(schema), "null"])
    elif "enum" in schema or "const" in schema:
        values = schema.pop("enum", [schema.pop("const", None)])
        schema["enum"] = [*values, None] if None not in values else values


def _carried(old: list[dict[str, Any]]) -> dict[str, Any]:
    """The subschema of a moved field: its first description, with every annotation any
    variant gave it."""
    moved = copy.deepcopy(old[0])
    for other in old[1:]:
        for key in ANNOTATIONS:
            if key in other and key not in moved:
                moved[key] = copy.deepcopy(other[key])
    return moved


def _annotation_words(schema: Mapping[str, Any]) -> str:
    carried = [f"{k} {schema[k]}" for k in ANNOTATIONS[:3] if k in schema]
    return f" ({', '.join(carried)} carried)" if carried else ""


def _apply(editor: SchemaEditor, pristine: SchemaEditor, drift: Drift) -> str | None:
    """Apply one drift; the summary line, or None when the schema needs no change."""
    kind, path = drift.kind, drift.path
    if kind == "field_moved" and drift.consumed_path:
        old = pristine.members(drift.consumed_path)
        moved = _carried(old) if old else leaf_schema(editor.observed.paths.get(path))
        editor.remove(drift.consumed_path)
        for parent in editor.ensure(paths.parent(path)):
            if path.endswith("[]"):
                parent["items"] = copy.deepcopy(moved)
            else:
                parent.setdefault("properties", {})[paths.leaf_name(path)] = copy.deepcopy(moved)
        return f"moved {drift.consumed_path} -> {path}{_annotation_words(moved)}"
    if kind == "field_added":
        below = [
            p for p in editor.observed.paths if p == path or p.startswith((path + ".", path + "["))
        ]
        for each in sorted(below, key=lambda p: len(path_tokens(p))):
            editor.ensure(each)
        return f"added {path} ({drift.observed.split(')')[0].removeprefix('present (')})"
    if kind == "type_changed":
        for schema in editor.members(path):
            _retype(schema, drift.observed_types - {"null"})
        return f"retyped {path}: {drift.expected} -> also {drift.observed}"
    if kind == "timestamp_format_changed":
        seen = editor.observed.paths.get(path)
        for schema in editor.members(path):
            nullable = "null" in _types_of(schema) or bool(seen and seen.nulls)
            for key in (*_TYPE_KEYWORDS, "x-timestamp-format"):
                schema.pop(key, None)
            types = seen.type_set if seen else frozenset()
            schema.update(stamped(drift.observed_formats, types, nullable))
        return f"timestamp format of {path}: {drift.expected} -> {drift.observed}"
    if kind == "nullability_changed":
        for schema in editor.members(path):
            _allow_null(schema)
        return f"nullable {path}"
    if kind in ("presence_changed", "field_missing"):
        editor.make_optional(path)
        return f"optional {path} ({drift.observed})"
    if kind == "value_changed":
        for schema in editor.members(path):
            _unenumerate(schema)
        return f"values of {path} no longer enumerated"
    if kind in _NOT_APPLIED:
        return f"not applied: {kind} at {path} (needs a reviewer's statement, see `verify diff`)"
    return None


_ORDER = {"field_moved": 0, "field_added": 1}  # moves first: their facets edit the new path


def propose(surface: Surface, inputs: Sequence[Input]) -> Proposal:
    """The surface's documented schema with the inputs' drift applied."""
    documented = surface_schema(surface)
    observed = merged_profile(surface, inputs)
    drifts = diff_profiles(expected_profile(surface), observed, surface)
    schema = copy.deepcopy(documented)
    editor = SchemaEditor(schema, observed)
    pristine = SchemaEditor(copy.deepcopy(documented), observed)
    changes = []
    for drift in sorted(drifts, key=lambda d: _ORDER.get(d.kind, 2)):
        line = _apply(editor, pristine, drift)
        if line is not None:
            changes.append(line)
    Draft202012Validator.check_schema(schema)
    return Proposal(surface.name, schema, tuple(dict.fromkeys(changes)))


def run_propose(
    paths_in: Sequence[str | Path],
    surface: str | None = None,
    *,
    out_dir: Path = DEFAULT_PROPOSED_DIR,
    stream_min_bytes: int = STREAM_MIN_BYTES,
) -> list[tuple[Path, Proposal]]:
    """`verify propose` as a library call: one proposed schema per surface in the inputs,
    each written atomically to `out_dir/<surface>.schema.json`."""
    inputs = load_inputs(list(paths_in), surface, stream_min_bytes=stream_min_bytes)
    by_surface: dict[str, list[Input]] = {}
    for item in inputs:
        by_surface.setdefault(item.surface.name, []).append(item)
    # Every proposal is built before the first is written: bad input writes nothing.
    proposals = [propose(items[0].surface, items) for items in by_surface.values()]
    written = []
    for proposal in proposals:
        target = out_dir / get_surface(proposal.surface).schema_file
        atomic_write_bytes(target, serialise(proposal.schema, str(target)))
        written.append((target, proposal))
    return written
