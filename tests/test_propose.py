"""`verify propose`: the documented schema updated to a drifted capture. The proposal is
valid JSON Schema 2020-12, carries the annotations across moves, holds no payload value,
and the drifted capture passes `verify check` against it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.cli_helpers import run_cli
from tests.drift_support import edit_captures
from tests.test_closed_loop import sandbox
from verifier import contract, schemas
from verifier.profile import Profile
from verifier.propose import SchemaEditor, path_tokens

COSTS = "openai_org_costs.schema.json"
CODEX = "chatgpt_enterprise_usage.schema.json"
CANARY_EMAIL = "canary.person@example.invalid"


def costs_body() -> dict[str, Any]:
    """A live-like costs page: string amounts under a renamed member, a new field."""

    def result(user: str, email: str, value: str) -> dict[str, Any]:
        return {
            "object": "organization.costs.result",
            "cost": {"value": value, "currency": "usd"},
            "line_item": None,
            "user_id": user,
            "user_email": email,
            "project_id": None,
            "seat_tier": "canary-tier-gold",
        }

    return {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": 1777593600,
                "end_time": 1777680000,
                "results": [
                    result("user_canary1", CANARY_EMAIL, "12.50"),
                    result("user_canary2", "other.canary@example.invalid", "0.75"),
                ],
            }
        ],
        "has_more": False,
        "next_page": None,
    }


@pytest.fixture
def proposed_schemas(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A schemas directory the tool reads instead of the committed one: copy the
    proposals into it to run `verify check` against them."""
    directory = tmp_path / "schemas-under-review"
    shutil.copytree(schemas.schema_dir(), directory)
    monkeypatch.setattr(schemas, "_PACKAGED", tmp_path / "absent")
    monkeypatch.setattr(schemas, "_REPO", directory)
    forget_schemas()
    yield directory
    forget_schemas()


def forget_schemas() -> None:
    """The tool caches each schema and its validators for the life of the process."""
    caches = (
        schemas.load_schema,
        schemas.surface_nodes,
        contract.validator_for,
        contract.fast_validator_for,
        contract.fast_row_validator_for,
        contract.fast_batch_validator_for,
    )
    for cached in caches:
        cached.cache_clear()


def propose(*args: str) -> tuple[int, str]:
    result = run_cli("propose", *args)
    assert result.stderr == ""
    return result.code, result.stdout


def violations(*args: str) -> list[str]:
    """The paths `verify check` finds a schema violation at (any severity)."""
    result = run_cli("check", *args, "--format", "json")
    assert result.code in (0, 1), result.stderr
    return [f["path"] for f in json.loads(result.stdout)["findings"]]


def adopt(proposed: Path, under_review: Path) -> None:
    for schema in proposed.glob("*.schema.json"):
        Draft202012Validator.check_schema(json.loads(schema.read_text()))
        shutil.copy(schema, under_review / schema.name)
    forget_schemas()


def test_vendor_docs_capture_passes_check_against_its_proposal(
    tmp_path: Path, proposed_schemas: Path
) -> None:
    captures = sandbox(tmp_path / "live", "vendor-docs")
    assert "data[].results[].amount.value" in violations(str(captures))  # string amounts
    out = tmp_path / "proposed"
    code, stdout = propose(str(captures), "--out", str(out))
    assert code == 0
    assert "retyped data[].results[].amount.value: number -> also numeric string" in stdout
    value = json.loads((out / COSTS).read_text())["$defs"]["costs_result"]["properties"]
    assert value["amount"]["properties"]["value"]["type"] == ["number", "string"]
    assert value["amount"]["properties"]["value"]["x-unit"] == "usd"
    adopt(out, proposed_schemas)
    assert violations(str(captures)) == []


def test_raw_costs_body_with_a_renamed_member_and_string_amounts(
    tmp_path: Path, proposed_schemas: Path
) -> None:
    body = tmp_path / "costs-page.json"
    body.write_text(json.dumps(costs_body()))
    out = tmp_path / "proposed"
    code, stdout = propose("--surface", "openai_org_costs", str(body), "--out", str(out))
    assert code == 0
    assert (
        "moved data[].results[].amount.value -> data[].results[].cost.value "
        "(x-pii none, x-unit usd carried)" in stdout
    )
    assert "added data[].results[].seat_tier (string)" in stdout
    text = (out / COSTS).read_text()
    # Values from the payload never enter the schema: no emails, ids or observed strings.
    for value in (CANARY_EMAIL, "user_canary1", "canary-tier-gold", "12.50"):
        assert value not in text
    result = json.loads(text)["$defs"]["costs_result"]["properties"]
    assert "amount" not in result  # every member moved away
    assert result["cost"]["properties"]["value"]["x-unit"] == "usd"
    assert result["cost"]["properties"]["value"]["type"] == ["number", "string"]
    assert "x-pii" not in result["seat_tier"]  # unclassified: the anonymiser's default-deny
    adopt(out, proposed_schemas)
    assert violations("--surface", "openai_org_costs", str(body)) == []


def test_codex_move_and_offset_edges_carry_annotations(
    tmp_path: Path, proposed_schemas: Path
) -> None:
    captures = sandbox(tmp_path / "live", "vendor-docs")

    def drift(body: dict[str, Any]) -> None:
        for row in body["data"]:
            row["contact"] = {"email": row["actor"].pop("email")}
            row["start_time"] = "2026-05-01T00:00:00+00:00"

    edit_captures(captures, "chatgpt_enterprise_usage", drift)
    out = tmp_path / "proposed"
    code, stdout = propose(str(captures), "--out", str(out))
    assert code == 0
    # The documented variants hold the email at actor.email and user.email (seed shape).
    assert "-> data[].contact.email (x-pii email carried)" in stdout
    [stamp] = [line for line in stdout.splitlines() if "format of data[].start_time" in line]
    assert stamp.endswith("-> rfc3339-offset")
    schema = json.loads((out / CODEX).read_text())
    editor = SchemaEditor(schema, Profile("chatgpt_enterprise_usage", {}))
    [email] = editor.members("data[].contact.email")
    assert email["x-pii"] == "email"
    stamps = {s.get("x-timestamp-format") for s in editor.members("data[].start_time")}
    assert "rfc3339-offset" in stamps
    adopt(out, proposed_schemas)
    assert violations(str(captures)) == []


def test_nullability_presence_and_values_follow_the_capture(
    tmp_path: Path, proposed_schemas: Path
) -> None:
    page = costs_body()
    bucket = page["data"][0]
    bucket["end_time"] = None  # nullable now
    del bucket["object"]  # no longer always present
    for result in bucket["results"]:
        result["object"] = "organization.costs.result.v2"  # a new discriminator value
    body = tmp_path / "costs-page.json"
    body.write_text(json.dumps(page))
    assert set(violations("--surface", "openai_org_costs", str(body))) >= {
        "data[].end_time",
        "data[].object",
        "data[].results[].object",
    }
    out = tmp_path / "proposed"
    code, stdout = propose("--surface", "openai_org_costs", str(body), "--out", str(out))
    assert code == 0
    assert "nullable data[].end_time" in stdout
    assert "optional data[].object" in stdout
    assert "values of data[].results[].object no longer enumerated" in stdout
    text = (out / COSTS).read_text()
    assert "organization.costs.result.v2" not in text  # an observed value, never written
    defs = json.loads(text)["$defs"]
    assert defs["bucket"]["properties"]["end_time"]["type"] == ["integer", "null"]
    assert defs["bucket"]["properties"]["end_time"]["x-timestamp-format"] == "unix-seconds"
    assert "object" not in defs["bucket"]["required"]
    assert defs["costs_result"]["properties"]["object"] == {"x-pii": "none", "type": "string"}
    adopt(out, proposed_schemas)
    assert violations("--surface", "openai_org_costs", str(body)) == []


def test_a_capture_without_drift_proposes_the_documented_schema(tmp_path: Path) -> None:
    captures = sandbox(tmp_path / "documented", "documented")
    out = tmp_path / "proposed"
    code, stdout = propose(str(captures), "--out", str(out))
    assert code == 0
    assert "no drift" in stdout
    written = json.loads((out / CODEX).read_text())
    assert written == json.loads((schemas.schema_dir() / CODEX).read_text())


def test_default_out_leaves_the_committed_schemas_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = tmp_path / "costs-page.json"
    body.write_text(json.dumps(costs_body()))
    monkeypatch.chdir(tmp_path)
    code, stdout = propose("--surface", "openai_org_costs", str(body))
    assert code == 0
    assert f"wrote {Path('schemas/proposed') / COSTS}" in stdout
    assert (tmp_path / "schemas" / "proposed" / COSTS).is_file()
    assert not (tmp_path / "schemas" / COSTS).exists()


@pytest.mark.parametrize(
    ("content", "surface"),
    [("{not json", "openai_org_costs"), ("{}", "no_such_surface"), ("[1, 2]", None)],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, content: str, surface: str | None
) -> None:
    body = tmp_path / "body.json"
    body.write_text(content)
    out = tmp_path / "proposed"
    args = ["propose", str(body), "--out", str(out)]
    if surface:
        args += ["--surface", surface]
    result = run_cli(*args)
    assert result.code == 2
    assert result.stderr.startswith("verify: error: ")
    assert result.stderr.count("\n") == 1
    assert not out.exists()


def test_an_unwritable_out_is_one_line_exit_3(tmp_path: Path) -> None:
    body = tmp_path / "costs-page.json"
    body.write_text(json.dumps(costs_body()))
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    args = ("--surface", "openai_org_costs", str(body), "--out", str(blocker / "proposed"))
    result = run_cli("propose", *args)
    assert result.code == 3
    assert result.stderr.startswith("verify: error: could not write ")
    assert result.stderr.count("\n") == 1
    assert blocker.read_text() == "keep me"


def test_path_tokens() -> None:
    assert path_tokens("data[].results[].amount.value") == [
        "data",
        "[]",
        "results",
        "[]",
        "amount",
        "value",
    ]
    assert path_tokens("") == []
