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

from jsonschema import Draft202012Validator

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
    """Every contract path the schema describes, in document order."""
    out: dict[str, SchemaNode] = {}
    _walk(schema, schema, paths.ROOT, True, out)
    return out


def _walk(
    raw: Mapping[str, Any],
    root: Mapping[str, Any],
    path: str,
    required: bool,
    out: dict[str, SchemaNode],
) -> None:
    schema = _resolve(raw, root)
    variants = [_resolve(v, root) for v in schema.get("anyOf", schema.get("oneOf", []))]
    types = _types(schema).union(*(_types(v) for v in variants))
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    out[path] = SchemaNode(
        path=path,
        types=types,
        required=required,
        pii=schema.get("x-pii"),
        timestamp_format=schema.get("x-timestamp-format"),
        unit=schema.get("x-unit"),
        values=tuple(values) if values is not None else None,
        format=schema.get("format"),
        schema=schema,
    )
    for variant in (schema, *variants):
        needed = set(variant.get("required", ()))
        for name, sub in variant.get("properties", {}).items():
            _walk(sub, root, paths.child(path, name), name in needed, out)
        if isinstance(variant.get("items"), Mapping):
            _walk(variant["items"], root, paths.item(path), True, out)


@cache
def surface_nodes(surface: Surface) -> dict[str, SchemaNode]:
    return flatten(surface_schema(surface))


def iter_schema_files() -> Iterator[Path]:
    return iter(sorted(schema_dir().glob("*.schema.json")))
