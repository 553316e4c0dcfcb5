"""Interruptions: Ctrl-C and SIGTERM against a hanging server end the capture at once
(well before its timeout) with no file and no temp file left; a killed writer's temp
files are cleared by the next write; a leak-gate refusal leaves nothing of the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import CANARY_OPENAI_KEY, ROOT, assert_no_canary
from tests.hostile_server import hostile_server
from verifier.capture import Safety, capture_from_sandbox, default_safety
from verifier.errors import RefusedError
from verifier.keys import key_from_text
from verifier.store import atomic_write_bytes, clear_stale_temp_files, temp_prefix

# The capture's own timeout is far longer than the wait below: only cancellation that
# does not wait for the network can end it within `communicate(timeout=...)`.
LONG_TIMEOUT = "120"


@pytest.mark.parametrize(("how", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_a_capture_blocked_on_a_hanging_server(
    tmp_path: Path, how: signal.Signals, code: int
) -> None:
    out = tmp_path / "out"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))},
        "OPENAI_ADMIN_KEY": CANARY_OPENAI_KEY,
        "VERIFY_ANON_KEY": "interruption-test-key",
        "PYTHONUNBUFFERED": "1",
    }
    with hostile_server() as (base, seen):
        process = subprocess.Popen(
            [
                sys.executable, "-m", "verifier", "capture", "--surface", "openai_org_users",
                "--start", "2026-05-01", "--end", "2026-05-02", "--out", str(out),
                "--base-url", f"openai_org_users={base}/hang", "--timeout", LONG_TIMEOUT,
            ],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        assert process.stderr.readline().startswith(b"capture: ")
        while not seen:  # the request reached the server and now hangs there
            pass
        process.send_signal(how)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == code
    assert b"Traceback" not in stderr
    assert not out.exists() or list(out.iterdir()) == []
    assert_no_canary(stdout + stderr)


def test_the_next_write_clears_temp_files_of_dead_writers(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".capture.json.pid{dead.pid}.abc123.tmp"
    mine = tmp_path / f"{temp_prefix('other.json')}xyz.tmp"
    unrelated = tmp_path / ".notes.tmp"
    for path in (stale, mine, unrelated):
        path.write_bytes(b"partial")
    atomic_write_bytes(tmp_path / "capture.json", b"{}")
    assert not stale.exists()
    assert mine.exists() and unrelated.exists()  # a live writer's file, a file not ours
    assert clear_stale_temp_files(tmp_path) == []


def test_a_refusal_of_a_later_surface_leaves_nothing_of_the_run(tmp_path: Path) -> None:
    real = default_safety(key_from_text("refusal-test-key"), ())

    def guard(data: bytes) -> None:
        real.guard(data)
        if b'"format": "verify-capture"' in data and b"openai_org_users" in data:
            raise RefusedError("refusing to write the users capture: test; nothing was written")

    with pytest.raises(RefusedError, match="all or nothing") as refused:
        capture_from_sandbox(
            tmp_path,
            start=date(2026, 5, 1),
            end=date(2026, 5, 2),
            surfaces=["openai_org_costs", "openai_org_users"],
            safety=Safety(anonymise=real.anonymise, guard=guard),
        )
    assert "openai_org_costs" in refused.value.message
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
