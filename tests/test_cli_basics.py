"""The command surface: help that teaches, version, module entry point."""

from __future__ import annotations

import subprocess
import sys

from verifier import __version__

from .cli_helpers import run_cli
from .conftest import DOCUMENTED_CAPTURES


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


def test_diff_against_an_unknown_reference_is_a_usage_error() -> None:
    result = run_cli("diff", "--against", "nope", str(DOCUMENTED_CAPTURES))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "verify: error: --against expects documented, lock or a lock/payload FILE; "
        "'nope' is not a file"
    ]


def test_every_command_has_help_with_an_example() -> None:
    for command in (
        "capture",
        "sandbox",
        "check",
        "diff",
        "lock",
        "gate",
        "merge",
        "anonymise",
        "scan",
    ):
        result = run_cli(command, "--help")
        assert result.code == 0, command
        assert f"verify {command}" in result.stdout, command
