"""External consumers: `verify diff|gate --consumers FILE` (or `[tool.verify] consumers`)
makes drift on the paths another team's parsers read breaking, exactly as drift on what
the built-in merge reads, unless the file says the parser accepts what arrives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_BODIES, DOCUMENTED_CAPTURES, ROOT

COSTS = "openai_org_costs"
USERS = "openai_org_users"
GO_PARSERS = """
# what our Go cost-merge reads
[openai_org_costs]
"data[].results[].line_item" = {}
"data[].results[].amount.value" = { types = ["number"] }
"""


def _body(tmp_path: Path, surface: str, edit: Any) -> Path:
    body = json.loads((DOCUMENTED_BODIES / f"{surface}.json").read_text())
    edit(body)
    path = tmp_path / f"{surface}.json"
    path.write_text(json.dumps(body, indent=2))
    return path


def _line_item_number(body: dict[str, Any]) -> None:
    body["data"][0]["results"][0]["line_item"] = 5


def _findings(stdout: str, kind: str, path: str) -> list[dict[str, Any]]:
    report = json.loads(stdout)
    return [f for f in report["findings"] if f["kind"] == kind and f["path"] == path]


def test_type_change_on_line_item_is_breaking_only_for_its_consumers(tmp_path: Path) -> None:
    body = _body(tmp_path, COSTS, _line_item_number)
    consumers = tmp_path / "consumers.toml"
    consumers.write_text(GO_PARSERS)
    plain = run_cli("diff", "--surface", COSTS, str(body), "--format", "json")
    assert plain.code == 0, plain.stdout
    [before] = _findings(plain.stdout, "type_changed", "data[].results[].line_item")
    assert before["severity"] == "warning" and not before["consumed_by_merge"]

    judged = run_cli(
        "diff", "--surface", COSTS, str(body), "--consumers", str(consumers), "--format", "json"
    )
    assert judged.code == 1, judged.stdout + judged.stderr
    [after] = _findings(judged.stdout, "type_changed", "data[].results[].line_item")
    assert after["severity"] == "breaking" and after["consumed_by_merge"]
    assert str(consumers) in after["message"]
    report = json.loads(judged.stdout)
    assert report["verdict"] == "fail"
    declared = report["external_consumers"]["surfaces"][COSTS]
    assert declared["data[].results[].amount.value"] == {"types": ["number"]}


def test_pyproject_names_the_consumers_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _body(tmp_path, COSTS, _line_item_number)
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "go.json").write_text(
        json.dumps({COSTS: ["data[].results[].line_item"]})
    )
    (tmp_path / "pyproject.toml").write_text('[tool.verify]\nconsumers = "contracts/go.json"\n')
    monkeypatch.chdir(tmp_path)
    result = run_cli("diff", "--surface", COSTS, str(body))
    assert result.code == 1
    assert "BREAKING type_changed data[].results[].line_item [read by merge]" in result.stdout


def test_gate_judges_external_consumers_too(tmp_path: Path) -> None:
    captures = tmp_path / "captures"
    shutil.copytree(DOCUMENTED_CAPTURES, captures)
    costs = captures / "openai_org_costs.json"
    capture = json.loads(costs.read_text())
    for page in capture["pages"]:
        for bucket in page["body"]["data"]:
            for row in bucket["results"]:
                row["line_item"] = 5  # off the documented type, but nothing the merge reads
    costs.write_text(json.dumps(capture))
    consumers = tmp_path / "consumers.toml"
    consumers.write_text(GO_PARSERS)
    locks = ROOT / "captures" / "locks"
    assert run_cli("gate", str(captures), "--locks-dir", str(locks)).code == 0
    result = run_cli(
        "gate", str(captures), "--locks-dir", str(locks), "--consumers", str(consumers)
    )
    assert result.code == 1, result.stdout
    assert "BREAKING type_changed data[].results[].line_item [read by merge]" in result.stdout
    assert "BREAKING schema_violation data[].results[].line_item [read by merge]" in result.stdout


@pytest.mark.parametrize(
    ("accepted", "code"),
    [('types = ["string", "integer"]', 0), ('types = ["string"]', 1)],
    ids=["accepted", "not-accepted"],
)
def test_accepted_types_make_a_type_change_tolerated(
    tmp_path: Path, accepted: str, code: int
) -> None:
    body = _body(tmp_path, COSTS, _line_item_number)
    consumers = tmp_path / "c.toml"
    consumers.write_text(f'[openai_org_costs]\n"data[].results[].line_item" = {{ {accepted} }}\n')
    result = run_cli(
        "diff", "--surface", COSTS, str(body), "--consumers", str(consumers), "--format", "json"
    )
    assert result.code == code, result.stdout
    [finding] = _findings(result.stdout, "type_changed", "data[].results[].line_item")
    assert finding["consumed_by_merge"]
    if code == 0:
        assert "tolerated" in finding["message"]


@pytest.mark.parametrize(
    ("formats", "code"),
    [('["unix-seconds", "rfc3339-z"]', 0), ('["unix-seconds"]', 1)],
    ids=["accepted", "not-accepted"],
)
def test_accepted_formats_make_a_format_change_tolerated(
    tmp_path: Path, formats: str, code: int
) -> None:
    def rfc3339(body: dict[str, Any]) -> None:
        body["data"][0]["added_at"] = "2024-03-26T16:45:33Z"

    body = _body(tmp_path, USERS, rfc3339)
    consumers = tmp_path / "c.toml"
    consumers.write_text(f'[openai_org_users]\n"data[].added_at" = {{ formats = {formats} }}\n')
    result = run_cli(
        "diff", "--surface", USERS, str(body), "--consumers", str(consumers), "--format", "json"
    )
    assert result.code == code, result.stdout
    assert _findings(result.stdout, "timestamp_format_changed", "data[].added_at")


def test_built_in_consumption_is_never_relaxed_by_an_external_file(tmp_path: Path) -> None:
    def string_amount(body: dict[str, Any]) -> None:
        row = body["data"][0]["results"][0]
        row["amount"]["value"] = str(row["amount"]["value"])

    body = _body(tmp_path, COSTS, string_amount)
    consumers = tmp_path / "c.toml"
    consumers.write_text(
        '[openai_org_costs]\n"data[].results[].amount.value" = { types = ["string"] }\n'
    )
    plain = run_cli("diff", "--surface", COSTS, str(body), "--format", "json")
    judged = run_cli(
        "diff", "--surface", COSTS, str(body), "--consumers", str(consumers), "--format", "json"
    )
    assert judged.code == plain.code
    before = _findings(plain.stdout, "type_changed", "data[].results[].amount.value")
    after = _findings(judged.stdout, "type_changed", "data[].results[].amount.value")
    assert [f["severity"] for f in after] == [f["severity"] for f in before]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.toml", '[openai_org_invoices]\n"data" = {}\n', "unknown surface 'openai_org_invoices'"),
        (
            "c.toml",
            '[openai_org_costs]\n"data" = { types = ["float"] }\n',
            "types must be a list of",
        ),
        ("c.toml", '[openai_org_costs]\n"data" = { units = ["usd"] }\n', "unknown key 'units'"),
        ("c.toml", '[openai_org_costs]\n"$.data" = {}\n', "a key is not a contract path"),
        ("c.toml", "[openai_org_costs\n", "invalid TOML"),
        ("c.json", "{", "invalid JSON"),
        ("c.toml", "", "expected one table per surface"),
    ],
)
def test_bad_consumers_files_are_one_line_exit_2(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    consumers = tmp_path / name
    consumers.write_text(text)
    body = DOCUMENTED_BODIES / "openai_org_costs.json"
    result = run_cli("diff", "--surface", COSTS, str(body), "--consumers", str(consumers))
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_missing_consumers_file(tmp_path: Path) -> None:
    body = DOCUMENTED_BODIES / "openai_org_costs.json"
    result = run_cli("gate", str(body), "--surface", COSTS, "--consumers", str(tmp_path / "no"))
    assert result.code == 2 and "no such consumers file" in result.stderr
