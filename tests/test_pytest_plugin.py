"""The pytest plugin, used from a temporary project (pytester) the way a team uses it:
the docs/testing.md example (a team's own merge snapshot-tested with syrupy against the
locked captures), and `--verify-gate` stopping the session on breaking drift."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import DOCUMENTED_CAPTURES, ROOT

pytest_plugins = ("pytester",)

PYPROJECT = """
[tool.verify]
captures = "data/captures"
locks = "data/locks"
"""


def _docs_example() -> str:
    text = (ROOT / "docs" / "testing.md").read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A team's repository: captures in a dated folder, the locks made from them, and the
    docs example as its test file."""
    shutil.copytree(DOCUMENTED_CAPTURES, pytester.path / "data" / "captures" / "2026-05")
    shutil.copytree(ROOT / "captures" / "locks", pytester.path / "data" / "locks")
    pytester.makefile(".toml", pyproject=PYPROJECT)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_our_costs.py").write_text(_docs_example())
    return pytester


def test_docs_example_snapshots_the_teams_merge_against_locked_captures(
    project: pytest.Pytester,
) -> None:
    first = project.runpytest("-p", "no:cacheprovider", "--snapshot-update")
    first.assert_outcomes(passed=1)
    snapshot = next((project.path / "tests" / "__snapshots__").rglob("*.ambr")).read_text()
    assert "'2026-05-01'" in snapshot or "2026-05-01" in snapshot
    again = project.runpytest("-p", "no:cacheprovider", "--verify-gate")
    again.assert_outcomes(passed=1)


def test_fixtures_find_locked_captures_by_content(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_fixtures="""
        def test_all_surfaces(locked_captures, locked_capture, locked_bodies):
            assert set(locked_captures) == {
                "chatgpt_enterprise_usage", "openai_org_usage_completions",
                "openai_org_costs", "openai_org_users",
            }
            assert all(len(paths) == 1 for paths in locked_captures.values())
            assert locked_capture("openai_org_users").parent.name == "2026-05"
            assert locked_bodies("openai_org_costs")[0]["object"] == "page"
        """
    )
    project.runpytest("-p", "no:cacheprovider", "test_fixtures.py").assert_outcomes(passed=1)


def test_an_edited_capture_is_no_longer_locked(project: pytest.Pytester) -> None:
    costs = project.path / "data" / "captures" / "2026-05" / "openai_org_costs.json"
    costs.write_text(costs.read_text().replace('"currency": "usd"', '"currency": "usd" '))
    result = project.runpytest("-p", "no:cacheprovider", "tests/test_our_costs.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no locked capture of openai_org_costs*"])


def test_verify_gate_option_fails_the_session_on_breaking_drift(
    project: pytest.Pytester,
) -> None:
    costs = project.path / "data" / "captures" / "2026-05" / "openai_org_costs.json"
    costs.write_text(costs.read_text().replace('"currency": "usd"', '"currency": 7'))
    result = project.runpytest("-p", "no:cacheprovider", "--verify-gate")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*verify gate failed, not running the tests*", "*BREAKING*"])
    assert "passed" not in result.stdout.str() and "test_our_costs" not in result.stdout.str()


def test_verify_gate_ini_setting_and_missing_locks(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nverify_gate = true\n")
    shutil.rmtree(project.path / "data" / "locks")
    (project.path / "data" / "locks").mkdir()
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*no lock yet for chatgpt_enterprise_usage*"])
