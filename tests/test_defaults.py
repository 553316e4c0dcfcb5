"""Directories and defaults that work where users start: dated capture folders read
recursively, a gate that names what it did not see, plain `verify` printing its help."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES, ROOT

LOCKS = ROOT / "captures" / "locks"


def test_plain_verify_prints_help_and_exits_0() -> None:
    result = run_cli()
    assert result.code == 0
    assert "Usage:" in result.stdout
    assert "gate" in result.stdout and "check" in result.stdout
    assert len(result.stdout.splitlines()) > 10  # the real help, not one squeezed line
    assert result.stderr == ""


def _dated_tree(tmp_path: Path) -> Path:
    """captures/ as `verify capture --out captures/<month>` leaves it, locks beside."""
    root = tmp_path / "captures"
    for month, files in (("2026-05", ["openai_org_costs", "openai_org_users"]), ("2026-06", [])):
        (root / month).mkdir(parents=True)
        for name in files:
            shutil.copy(DOCUMENTED_CAPTURES / f"{name}.json", root / month / f"{name}.json")
    (root / "2026-06" / "deep").mkdir()
    shutil.copy(
        DOCUMENTED_CAPTURES / "chatgpt_enterprise_usage.json",
        root / "2026-06" / "deep" / "chatgpt_enterprise_usage.json",
    )
    shutil.copytree(LOCKS, root / "locks")
    (root / ".git").mkdir()
    (root / ".git" / "stray.json").write_text("not json at all")
    return root


def test_directories_are_read_recursively_skipping_locks_and_hidden(tmp_path: Path) -> None:
    root = _dated_tree(tmp_path)
    result = run_cli("check", str(root), "--format", "json")
    assert result.code == 0, result.stderr
    sources = json.loads(result.stdout)["sources"]
    assert sorted(Path(s).name for s in sources) == [
        "chatgpt_enterprise_usage.json",
        "openai_org_costs.json",
        "openai_org_users.json",
    ]


def test_gate_text_names_the_surfaces_it_did_not_see(tmp_path: Path) -> None:
    root = _dated_tree(tmp_path)
    result = run_cli("gate", str(root / "2026-05"), "--locks-dir", str(root / "locks"))
    assert result.code == 0, result.stdout + result.stderr
    assert "gate: PASS" in result.stdout
    note = next(line for line in result.stdout.splitlines() if line.startswith("note:"))
    assert "chatgpt_enterprise_usage" in note and "openai_org_usage_completions" in note
    assert "openai_org_costs" not in note
    assert "2 of 4 surfaces" in note


def test_gate_markdown_names_the_surfaces_it_did_not_see(tmp_path: Path) -> None:
    root = _dated_tree(tmp_path)
    args = ("gate", str(root / "2026-05"), "--locks-dir", str(root / "locks"))
    result = run_cli(*args, "--format", "markdown")
    assert "Not checked (no capture given)" in result.stdout
    assert "`openai_org_usage_completions`" in result.stdout


def test_gate_over_all_surfaces_has_no_note(tmp_path: Path) -> None:
    result = run_cli("gate", str(DOCUMENTED_CAPTURES), "--locks-dir", str(LOCKS))
    assert result.code == 0, result.stdout
    assert "note:" not in result.stdout


def test_readme_gate_recipe_works_on_the_repository_captures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`verify gate` (default `captures/`) and `verify gate captures/ --format github`,
    run from the repository root, read the dated folders and leave the locks alone."""
    monkeypatch.chdir(ROOT)
    assert run_cli("gate").code == 0
    result = run_cli("gate", "captures/", "--format", "github")
    assert result.code == 0, result.stdout + result.stderr
    assert "verify gate: PASS (4 file(s)" in result.stdout
