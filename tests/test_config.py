"""`[tool.verify]` in pyproject.toml: the captures and locks dirs the gate and the report
read by default (command-line options win), and one-line errors for bad settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES, ROOT
from verifier.config import load_config


def _project(tmp_path: Path, table: str) -> Path:
    shutil.copytree(DOCUMENTED_CAPTURES, tmp_path / "data" / "caps" / "2026-05")
    shutil.copytree(ROOT / "captures" / "locks", tmp_path / "data" / "locks")
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n{table}')
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_gate_reads_captures_and_locks_from_tool_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, '[tool.verify]\ncaptures = "data/caps"\nlocks = "data/locks"\n')
    monkeypatch.chdir(project / "sub")  # found from a subdirectory, paths relative to it
    result = run_cli("gate")
    assert result.code == 0, result.stdout + result.stderr
    assert "gate: PASS (4 file(s)" in result.stdout
    # an explicit option wins
    empty = project / "nolocks"
    empty.mkdir()
    failed = run_cli("gate", "--locks-dir", str(empty))
    assert failed.code == 1 and "no lock yet" in failed.stdout


def test_defaults_without_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    settings = load_config(tmp_path)
    assert settings.captures == Path("captures")
    assert settings.locks == Path("captures/locks")
    assert settings.consumers is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[tool.verify]\ncaptures = "a"\nlokcs = "b"\n', "unknown key 'lokcs'"),
        ("[tool.verify]\ncaptures = 3\n", "captures must be a non-empty path string"),
        ("[tool.verify\n", "invalid TOML"),
    ],
)
def test_bad_settings_are_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, message: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(table)
    monkeypatch.chdir(tmp_path)
    result = run_cli("gate")
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
