"""Report renderers: text (colour only when asked, NO_COLOR), json, markdown, junit, github."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from verifier.cli import app
from verifier.drift import run_diff
from verifier.findings import Report
from verifier.report import RENDERERS, github, junit, markdown, text

from .cli_helpers import run_cli
from .conftest import assert_no_canary
from .drift_support import PAYLOADS, documented_capture

DRIFTED = PAYLOADS / "codex_analytics_usage__peer_fixture_page1.json"


@pytest.fixture(scope="module")
def drifted() -> Report:
    return run_diff([DRIFTED], "chatgpt_enterprise_usage")


def test_every_format_is_registered() -> None:
    assert set(RENDERERS) == {"text", "json", "markdown", "junit", "github", "sarif"}


def test_markdown_table_per_surface(drifted: Report) -> None:
    out = markdown.render(drifted)
    assert out.startswith("## verify diff: ❌ FAIL")
    assert "### chatgpt_enterprise_usage" in out
    assert "| severity | kind | path | expected | observed | first pointer | read by merge |" in out
    assert "| ❌ breaking | field_missing | `data[].user_id` |" in out
    assert "Consumer contract" in out
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(lines) == len(drifted.findings) + 1


def test_junit_is_valid_xml_with_one_case_per_finding(drifted: Report) -> None:
    root = ET.fromstring(junit.render(drifted))
    assert root.tag == "testsuites"
    cases = root.findall(".//testcase")
    assert len(cases) == len(drifted.findings)
    failing = sum(f.severity == "breaking" for f in drifted.findings)
    assert root.get("failures") == str(failing)
    assert len(root.findall(".//failure")) == failing


def test_junit_clean_file_is_a_passing_case() -> None:
    report = run_diff([documented_capture("openai_org_users")])
    root = ET.fromstring(junit.render(report))
    assert root.get("failures") == "0"
    assert [c.get("name") for c in root.findall(".//testcase")] == [
        str(documented_capture("openai_org_users"))
    ]


def test_github_annotations(drifted: Report) -> None:
    lines = github.render(drifted).splitlines()
    assert any(
        line.startswith("::error file=") and "field_missing data[].user_id" in line
        for line in lines
    )
    assert any(line.startswith("::warning ") for line in lines)  # tolerated: tokens missing
    assert lines[-1].startswith("verify diff: FAIL")


def test_github_escapes_newlines_and_commas() -> None:
    assert github._escape_property("a,b:c") == "a%2Cb%3Ac"
    assert github._escape_data("x\ny%") == "x%0Ay%25"


def test_text_colour_only_when_asked(drifted: Report) -> None:
    assert "\x1b[31m" in text.render(drifted, colour=True)
    assert "\x1b[" not in text.render(drifted, colour=False)


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert app.use_colour()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not app.use_colour()


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "junit", "github"])
def test_format_option_on_check_diff_gate(
    fmt: str, tmp_path: Path, canary_env: dict[str, str]
) -> None:
    capture = str(documented_capture("openai_org_costs"))
    for command in (
        ["check"],
        ["diff"],
        ["gate", "--allow-unlocked", "--locks-dir", str(tmp_path)],
    ):
        result = run_cli(*command, capture, "--format", fmt)
        assert result.code == 0, result.stderr
        assert result.stdout
        assert_no_canary(result.stdout)
        if fmt == "json":
            assert json.loads(result.stdout)["verdict"] == "pass"
