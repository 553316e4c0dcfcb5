"""The command surface: help that teaches, version, module entry point."""

from __future__ import annotations

import subprocess
import sys

from verifier import __version__

from .cli_helpers import run_cli


def test_top_level_help_lists_surfaces_and_exit_codes() -> None:
    result = run_cli("--help")
    assert result.code == 0
    for text in ("chatgpt_enterprise_usage", "openai_org_costs", "Exit codes", "check"):
        assert text in result.stdout


def test_check_help_has_examples() -> None:
    result = run_cli("check", "--help")
    assert result.code == 0
    assert "verify check captures/documented" in result.stdout
    assert "--surface" in result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.code == 0
    assert __version__ in result.stdout


def test_unknown_command_is_one_line() -> None:
    result = run_cli("frobnicate")
    assert result.code == 2
    assert len(result.stderr.splitlines()) == 1
    assert "No such command 'frobnicate'" in result.stderr


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "verifier", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert __version__ in proc.stdout
