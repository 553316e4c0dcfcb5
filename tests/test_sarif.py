"""`--format sarif`: SARIF 2.1.0 validated against the official schema (tests/data), one rule
per finding kind, levels mapped from severities, results located at a real line."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.cli_helpers import run_cli
from tests.conftest import CANARY_OPENAI_KEY, DOCUMENTED_CAPTURES, REFERENCE_PAYLOADS, ROOT
from verifier.findings import FINDING_KINDS, Finding, Report, Severity
from verifier.report import sarif

SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"
STRING_AMOUNT = REFERENCE_PAYLOADS / "openai_costs__live_fragment_string_amount_codexbar999.json"
COSTS = "openai_org_costs"


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def _valid_sarif(text: str) -> dict[str, Any]:
    document = json.loads(text)
    errors = sorted(_validator().iter_errors(document), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return dict(document)


def _string_amount_body(tmp_path: Path) -> Path:
    """The documented costs body, pretty-printed, with one amount sent as a string."""
    body = json.loads((ROOT / "tests/data/documented/openai_org_costs.json").read_text())
    amount = body["data"][0]["results"][0]["amount"]
    amount["value"] = str(amount["value"])
    target = tmp_path / "costs.json"
    target.write_text(json.dumps(body, indent=2))
    return target


def test_check_sarif_validates_and_first_result_has_a_real_line(tmp_path: Path) -> None:
    body = _string_amount_body(tmp_path)
    result = run_cli("check", "--surface", COSTS, str(body), "--format", "sarif")
    # The vendor broke its spec, but the merge reads numeric strings exactly: a warning.
    assert result.code == 0
    document = _valid_sarif(result.stdout)
    run = document["runs"][0]
    first = run["results"][0]
    region = first["locations"][0]["physicalLocation"]["region"]
    assert first["level"] == "warning"
    assert first["ruleId"] == "schema_violation"
    assert run["tool"]["driver"]["rules"][first["ruleIndex"]]["id"] == "schema_violation"
    # the line really holds the offending value (the amount given as a string)
    line = body.read_text().split("\n")[region["startLine"] - 1]
    assert region["startLine"] > 1
    assert line[region["startColumn"] - 1 :].startswith('"')
    assert '"value"' in line
    pointer = first["properties"]["pointer"]
    assert pointer.endswith("/amount/value")


def test_one_rule_per_finding_kind_and_levels_mapped() -> None:
    severities: tuple[Severity, ...] = ("breaking", "warning", "info")
    findings = tuple(
        Finding(COSTS, "x.json", "type_changed", f"p{i}", "", severity, "e", "o", "m")
        for i, severity in enumerate(severities)
    )
    document = _valid_sarif(sarif.render(Report("diff", findings, ("x.json",))))
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(FINDING_KINDS)
    assert [r["level"] for r in document["runs"][0]["results"]] == ["error", "warning", "note"]


@pytest.mark.parametrize(
    "args",
    [
        ("diff", "--surface", COSTS, str(STRING_AMOUNT)),
        ("diff", str(DOCUMENTED_CAPTURES)),
        ("gate", str(DOCUMENTED_CAPTURES / "openai_org_costs.json")),
        ("scan", str(REFERENCE_PAYLOADS)),
    ],
    ids=["diff-raw", "diff-captures", "gate", "scan"],
)
def test_every_command_emits_valid_sarif(args: tuple[str, ...]) -> None:
    result = run_cli(*args, "--format", "sarif")
    assert result.code in (0, 1), result.stderr
    document = _valid_sarif(result.stdout)
    assert document["runs"][0]["properties"]["command"] == args[0]


def test_gate_without_locks_says_so_in_the_invocation(tmp_path: Path) -> None:
    result = run_cli(
        "gate", str(DOCUMENTED_CAPTURES), "--locks-dir", str(tmp_path), "--format", "sarif"
    )
    assert result.code == 1
    run = _valid_sarif(result.stdout)["runs"][0]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert {n["level"] for n in notes} == {"error"}
    assert any("openai_org_costs has no lock yet" in n["message"]["text"] for n in notes)
    assert run["properties"]["verdict"] == "fail"


def test_scan_sarif_names_the_line_and_never_the_secret(
    tmp_path: Path, canary_env: dict[str, str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text(f"fine\nstill fine\nkey={CANARY_OPENAI_KEY}\n")
    shutil.copy(STRING_AMOUNT, tmp_path / "body.json")
    result = run_cli("scan", str(tmp_path), "--format", "sarif")
    assert result.code == 1
    assert CANARY_OPENAI_KEY not in result.stdout
    results = _valid_sarif(result.stdout)["runs"][0]["results"]
    hit = next(
        r
        for r in results
        if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("notes.txt")
    )
    assert hit["ruleId"] == "secret_leak"
    assert hit["locations"][0]["physicalLocation"]["region"]["startLine"] == 3


def test_relative_and_odd_paths_become_uri_references() -> None:
    assert sarif.artifact_uri("captures/2026 05/a.json") == "captures/2026%2005/a.json"
    assert sarif.artifact_uri("/tmp/x y.json") == "file:///tmp/x%20y.json"
