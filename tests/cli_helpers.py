"""Run the `verify` CLI in-process and capture exit code, stdout and stderr separately."""

from __future__ import annotations

from dataclasses import dataclass

from click.testing import CliRunner

from verifier.cli import main


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)
