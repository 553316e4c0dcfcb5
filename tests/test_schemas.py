"""Every schema is valid against the 2020-12 meta-schema, uses only known annotation
values, and the documented bodies and captures satisfy it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from verifier.schemas import flatten, iter_schema_files, load_schema, surface_nodes
from verifier.surfaces import SURFACES, get_surface

from .conftest import DOCUMENTED_BODIES, DOCUMENTED_CAPTURES

SCHEMA_FILES = list(iter_schema_files())
PII_CLASSES = {
    "email",
    "person_id",
    "project_id",
    "key_id",
    "org_id",
    "name",
    "cursor",
    "free_text",
    "none",
}
TIMESTAMP_FORMATS = {
    "rfc3339-z",
    "rfc3339-z-fraction",
    "rfc3339-offset",
    "datetime-naive",
    "date",
    "unix-seconds",
    "unix-millis",
    "numeric-string",
}
UNITS = {"credits", "usd", "tokens", "count"}


def test_every_surface_and_envelope_has_a_schema() -> None:
    names = {p.name for p in SCHEMA_FILES}
    for surface in SURFACES.values():
        assert surface.schema_file in names
    assert {"page_envelope.schema.json", "openai_error.schema.json", "capture.schema.json"} <= names


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[p.name for p in SCHEMA_FILES])
def test_schema_is_valid_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def _annotations(node: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("x-"):
                found.append((key, value))
            found.extend(_annotations(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_annotations(value))
    return found


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[p.name for p in SCHEMA_FILES])
def test_annotations_use_known_names(path: Path) -> None:
    allowed = {"x-pii": PII_CLASSES, "x-timestamp-format": TIMESTAMP_FORMATS, "x-unit": UNITS}
    for key, value in _annotations(json.loads(path.read_text())):
        assert key in allowed, f"unknown annotation keyword {key}"
        assert value in allowed[key], f"{key}: {value!r}"


def test_money_fields_carry_their_unit() -> None:
    costs = surface_nodes(get_surface("openai_org_costs"))
    assert costs["data[].results[].amount.value"].unit == "usd"
    chatgpt = surface_nodes(get_surface("chatgpt_enterprise_usage"))
    assert chatgpt["data[].credits"].unit == "credits"  # the seed's variant
    assert chatgpt["data[].totals.credits"].unit == "credits"  # the vendor's row
    # Both variants' edges: the vendor's Unix seconds, the seed's RFC 3339 strings.
    assert chatgpt["data[].start_time"].timestamp_formats == {"unix-seconds", "rfc3339-z"}
    assert chatgpt["data[].start_time"].required  # required by every variant
    assert chatgpt["data[].user.email"].pii == "email"
    assert chatgpt["data[].actor.email"].pii == "email"
    assert not chatgpt["data[].user.email"].required
    assert not chatgpt["data[].credits"].required  # only the seed's variant has it


def test_flatten_resolves_refs_and_unions() -> None:
    nodes = flatten(load_schema("openai_org_users.schema.json"))
    assert nodes["data[].email"].types == frozenset({"string", "null"})
    assert nodes["data[].id"].pii == "person_id"
    assert nodes["data[].object"].values == ("organization.user",)
    error = flatten(load_schema("openai_error.schema.json"))
    assert error["error"].types == frozenset({"object", "string"})


@pytest.mark.parametrize("surface", list(SURFACES))
def test_documented_body_validates(surface: str) -> None:
    body = json.loads((DOCUMENTED_BODIES / f"{surface}.json").read_text())
    schema = load_schema(get_surface(surface).schema_file)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(body)) == []


def test_paged_surfaces_match_the_shared_page_envelope() -> None:
    envelope = Draft202012Validator(load_schema("page_envelope.schema.json"))
    for surface in ("openai_org_usage_completions", "openai_org_costs"):
        body = json.loads((DOCUMENTED_BODIES / f"{surface}.json").read_text())
        assert list(envelope.iter_errors(body)) == []


def test_documented_captures_match_capture_schema() -> None:
    validator = Draft202012Validator(
        load_schema("capture.schema.json"), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    files = sorted(DOCUMENTED_CAPTURES.glob("*.json"))
    assert len(files) == len(SURFACES)
    for path in files:
        assert list(validator.iter_errors(json.loads(path.read_text()))) == [], path.name


def test_date_time_format_is_enforced() -> None:
    """The trap: python-jsonschema skips `date-time` without a format checker and
    rfc3339-validator. Both are wired, so a non-RFC-3339 string must fail."""
    validator = Draft202012Validator(
        {"type": "string", "format": "date-time"},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    assert validator.is_valid("2026-05-01T00:00:00Z")
    assert not validator.is_valid("2026-05-01 00:00:00")
    assert not validator.is_valid("1777593600")
