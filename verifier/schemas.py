"""Loading the JSON Schemas in `schemas/` and flattening them to contract paths.

Schemas carry annotation keywords the rest of the tool reads (see schemas/README.md):
`x-pii` (PII class), `x-timestamp-format` (contract format name), `x-unit`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from verifier import paths
from verifier.errors import UsageError
from verifier.surfaces import Surface

_PACKAGED = Path(__file__).parent / "_schemas"
_REPO = Path(__file__).parent.parent / "schemas"


def schema_dir() -> Path:
    return _PACKAGED if _PACKAGED.is_dir() else _REPO


@cache
def load_schema(filename: str) -> dict[str, Any]:
    path = schema_dir() / filename
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"schema {filename} not found in {schema_dir()}: {exc.strerror}") from None
    # The compiled meta-schema check takes a millisecond; the reference one (~0.25 s for
    # its first use in a process: every command pays it) only says what is wrong.
    if not jsonschema_rs.meta.is_valid(schema):
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(schema)
    return schema


def surface_schema(surface: Surface) -> dict[str, Any]:
    return load_schema(surface.schema_file)


@dataclass(frozen=True, slots=True)
class SchemaNode:
    """What the schema says about one contract path."""

    path: str
    types: frozenset[str]  # JSON types allowed ("integer" implies "number" is not added)
    required: bool  # always present when the parent is present
    pii: str | None
    timestamp_format: str | None
    unit: str | None
    values: tuple[Any, ...] | None  # const/enum values
    format: str | None
    schema: Mapping[str, Any]
    timestamp_formats: frozenset[str] = frozenset()  # every variant's x-timestamp-format

    @property
    def nullable(self) -> bool:
        return "null" in self.types

    @property
    def is_container(self) -> bool:
        return bool(self.types & {"object", "array"})


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    while isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for token in paths.pointer_parts(ref[1:]):
            node = node[token]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        ref = node.get("$ref")
    return schema


def _types(schema: Mapping[str, Any]) -> frozenset[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if values is not None:
        return frozenset(_json_type_name(v) for v in values)
    return frozenset()


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def flatten(schema: Mapping[str, Any]) -> dict[str, SchemaNode]:
    """Every contract path the schema describes, in document order.

    Variants (`anyOf`/`oneOf`, `if`/`then`/`else`) are merged: a path's types, timestamp
    formats and values are the union over the variants that describe it, and a member
    is required only when every variant requires it."""
    out: dict[str, SchemaNode] = {}
    _walk(schema, schema, paths.ROOT, True, out)
    return out


def _variants(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = list(schema.get("anyOf", schema.get("oneOf", [])))
    found += [schema[k] for k in ("then", "else") if isinstance(schema.get(k), Mapping)]
    return [_resolve(v, root) for v in found]


_Member = tuple[str, Mapping[str, Any], bool]  # (name or "[]", subschema, required)


def _members(schema: Mapping[str, Any]) -> list[_Member]:
    needed = set(schema.get("required", ()))
    out: list[_Member] = [
        (name, sub, name in needed) for name, sub in schema.get("properties", {}).items()
    ]
    if isinstance(schema.get("items"), Mapping):
        out.append(("[]", schema["items"], True))
    return out


def _walk(
    raw: Mapping[str, Any],
    root: Mapping[str, Any],
    path: str,
    required: bool,
    out: dict[str, SchemaNode],
) -> None:
    schema = _resolve(raw, root)
    variants = _variants(schema, root)
    types = _types(schema).union(*(_types(v) for v in variants))
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    stamps = [schema.get("x-timestamp-format")] + [v.get("x-timestamp-format") for v in variants]
    formats = tuple(dict.fromkeys(f for f in stamps if isinstance(f, str)))
    units = [schema.get("x-unit")] + [v.get("x-unit") for v in variants]
    pii = [schema.get("x-pii")] + [v.get("x-pii") for v in variants]
    _put(
        out,
        SchemaNode(
            path=path,
            types=types,
            required=required,
            pii=next((p for p in pii if p is not None), None),
            timestamp_format=formats[0] if formats else None,
            unit=next((u for u in units if u is not None), None),
            values=tuple(values) if values is not None else None,
            format=schema.get("format"),
            schema=schema,
            timestamp_formats=frozenset(formats),
        ),
    )
    for name, sub, needed in _members(schema):
        _walk(sub, root, _member_path(path, name), needed, out)
    shaped = [members for members in map(_members, variants) if members]
    everywhere = set.intersection(*({n for n, _s, _r in m} for m in shaped)) if shaped else set()
    for members in shaped:
        for name, sub, needed in members:
            _walk(sub, root, _member_path(path, name), needed and name in everywhere, out)


def _member_path(path: str, name: str) -> str:
    return paths.item(path) if name == "[]" else paths.child(path, name)


def _put(out: dict[str, SchemaNode], node: SchemaNode) -> None:
    """Record a node, merging it with what another variant said about the same path."""
    seen = out.get(node.path)
    if seen is None:
        out[node.path] = node
        return
    values = None
    if seen.values is not None and node.values is not None:
        values = tuple(dict.fromkeys((*seen.values, *node.values)))
    formats = tuple(dict.fromkeys(f for f in (seen.timestamp_format, node.timestamp_format) if f))
    out[node.path] = SchemaNode(
        path=node.path,
        types=seen.types | node.types,
        required=seen.required and node.required,
        pii=seen.pii or node.pii,
        timestamp_format=formats[0] if formats else None,
        unit=seen.unit or node.unit,
        values=values,
        format=seen.format if seen.format == node.format else None,
        schema=seen.schema,
        timestamp_formats=seen.timestamp_formats | node.timestamp_formats,
    )


@cache
def surface_nodes(surface: Surface) -> dict[str, SchemaNode]:
    return flatten(surface_schema(surface))


def iter_schema_files() -> Iterator[Path]:
    return iter(sorted(schema_dir().glob("*.schema.json")))
