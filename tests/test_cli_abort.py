"""click turns an EOFError raised anywhere under a command into Abort, as it does Ctrl-C.
The tool tells them apart: Ctrl-C is an interruption (exit 130); an EOFError is the
tool failing (one line, exit 3), never reported as an interruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from verifier.cli import check as check_command


def _raising(error: BaseException) -> object:
    def run_check(*args: object, **kwargs: object) -> object:
        raise error

    return run_check


def test_an_eof_error_is_a_tool_failure_not_an_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_command, "run_check", _raising(EOFError("secret-ish text")))
    result = run_cli("check", str(tmp_path))
    assert result.code == 3, result.stderr
    assert result.stderr.splitlines() == [
        "verify: error: internal error (unexpected end of data); VERIFY_DEBUG=1 shows more"
    ]
    assert "secret-ish" not in result.stderr


def test_ctrl_c_is_still_an_interruption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_command, "run_check", _raising(KeyboardInterrupt()))
    result = run_cli("check", str(tmp_path))
    assert result.code == 130, result.stderr
    assert result.stderr.strip().endswith("verify: error: interrupted")
