"""`verify capture` and `verify sandbox` from the outside: exit codes, one-line errors,
canary keys never printed or written, and no partial file when the process is killed."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli_helpers import CliResult, run_cli
from tests.conftest import (
    CANARY_CODEX_KEY,
    CANARY_OPENAI_KEY,
    CANARY_WORKSPACE_ID,
    ROOT,
    assert_no_canary,
)
from verifier.sandbox import RunningSandbox, running_sandbox
from verifier.surfaces import SURFACE_NAMES

KEYS = (CANARY_OPENAI_KEY, CANARY_CODEX_KEY)
TODAY = datetime.now(UTC).date()
RANGE = ["--start", (TODAY - timedelta(days=4)).isoformat(), "--end", TODAY.isoformat()]
ANON_KEY = "test-anonymisation-key-for-capture-cli-0123456789"


@pytest.fixture(autouse=True)
def anonymisation_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIFY_ANON_KEY", ANON_KEY)


def base_urls(url: str) -> list[str]:
    return [arg for name in SURFACE_NAMES for arg in ("--base-url", f"{name}={url}")]


def everything(result: CliResult, out: Path) -> str:
    files = "".join(p.read_text() for p in out.rglob("*") if p.is_file()) if out.exists() else ""
    return result.stdout + result.stderr + files


def json_files(out: Path) -> list[Path]:
    return sorted(out.glob("*.json")) if out.exists() else []


@pytest.fixture
def documented_box() -> Iterator[RunningSandbox]:
    with running_sandbox(scenario="documented", users=3, days=10, api_key=KEYS) as box:
        yield box


# -- usage errors: exit 2, one line, nothing written ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--start", "2026-13-01", "--end", "2026-05-02"], "--start expects a date"),
        (["--start", "2026-05-02", "--end", "2026-05-01"], "before"),
        ([*RANGE, "--surface", "nope"], "unknown surface"),
        ([*RANGE, "--scenario", "faults"], "--scenario needs --sandbox"),
        ([*RANGE, "--sandbox", "--scenario", "nope"], "unknown sandbox scenario"),
        ([*RANGE, "--sandbox", "--base-url", "openai_org_costs=http://127.0.0.1:1"], "--sandbox"),
        ([*RANGE, "--base-url", "openai_org_costs=http://api.example.com"], "plain http"),
        ([*RANGE, "--retries", "-1"], "--retries"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    canary_env: dict[str, str], tmp_path: Path, args: list[str], words: str
) -> None:
    result = run_cli("capture", "--out", str(tmp_path / "out"), *args)
    assert result.code == 2
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert json_files(tmp_path / "out") == []


def test_missing_env_var_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_ADMIN_KEY", "CODEX_ANALYTICS_KEY", "CHATGPT_WORKSPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    result = run_cli("capture", *RANGE, "--surface", "openai_org_users", "--out", str(tmp_path))
    assert result.code == 2
    assert "OPENAI_ADMIN_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- live path against the loopback sandbox -------------------------------------------------------


def test_live_capture_writes_every_surface_without_canaries(
    canary_env: dict[str, str], documented_box: RunningSandbox, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_cli("capture", *RANGE, "--out", str(out), *base_urls(documented_box.base_url))
    assert result.code == 0, result.stderr
    assert sorted(p.name.split("__")[0] for p in json_files(out)) == sorted(SURFACE_NAMES)
    assert "PASS" in result.stdout
    assert_no_canary(everything(result, out))
    assert "capture: " in result.stderr  # plain progress lines when not on a terminal


def test_json_report_lists_captures(
    canary_env: dict[str, str], documented_box: RunningSandbox, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "capture",
        *RANGE,
        "--out",
        str(out),
        "--format",
        "json",
        "--surface",
        "openai_org_users",
        "--base-url",
        f"openai_org_users={documented_box.base_url}",
    )
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass" and report["command"] == "capture"
    assert [Path(p).parent for p in report["captures"]] == [out]


def test_live_faults_capture_exits_1_with_findings_and_no_canary(
    canary_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with running_sandbox(
        scenario="faults", users=3, days=10, api_key=KEYS, slow_seconds=1.0
    ) as box:
        result = run_cli(
            "capture",
            *RANGE,
            "--out",
            str(out),
            "--timeout",
            "0.3",
            "--retries",
            "1",
            *base_urls(box.base_url),
        )
    assert result.code == 1, result.stderr
    assert "http_status" in result.stdout and "pagination_changed" in result.stdout
    assert "retrying after" in result.stderr
    assert len(json_files(out)) == 4
    assert_no_canary(everything(result, out))


def test_wrong_key_is_recorded_as_http_status(
    monkeypatch: pytest.MonkeyPatch, canary_env: dict[str, str], tmp_path: Path
) -> None:
    with running_sandbox(api_key="sk-some-other-key", users=2, days=5) as box:
        result = run_cli(
            "capture",
            *RANGE,
            "--out",
            str(tmp_path),
            "--surface",
            "openai_org_costs",
            "--base-url",
            f"openai_org_costs={box.base_url}",
        )
    assert result.code == 1
    assert "HTTP 401" in result.stdout and "Incorrect API key" in result.stdout
    assert_no_canary(everything(result, tmp_path))


def test_network_failure_exits_3_and_writes_nothing(
    canary_env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    out = tmp_path / "out"
    result = run_cli(
        "capture",
        *RANGE,
        "--out",
        str(out),
        "--retries",
        "1",
        "--surface",
        "openai_org_users",
        "--base-url",
        f"openai_org_users=http://127.0.0.1:{closed_port}",
    )
    assert result.code == 3
    assert "network failure" in result.stderr and "openai_org_users" in result.stderr
    assert json_files(out) == []
    assert_no_canary(result.stdout + result.stderr)


# -- the in-process sandbox -----------------------------------------------------------------------


def test_sandbox_flag_captures_without_any_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("OPENAI_ADMIN_KEY", "CODEX_ANALYTICS_KEY", "CHATGPT_WORKSPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "out"
    result = run_cli("capture", "--sandbox", *RANGE, "--out", str(out))
    assert result.code == 0, result.stderr
    assert len(json_files(out)) == 4
    assert "sk-" not in everything(result, out)


def test_sandbox_faults_scenario_exits_1(tmp_path: Path) -> None:
    result = run_cli("capture", "--sandbox", "--scenario", "faults", *RANGE, "--out", str(tmp_path))
    assert result.code == 1
    assert result.stdout.count("BREAKING") == 3


# -- processes: killed captures leave nothing; the sandbox command serves -------------------------


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    return {**env, "VERIFY_ANON_KEY": ANON_KEY, "PYTHONUNBUFFERED": "1", **extra}


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_killed_capture_leaves_no_file(tmp_path: Path, how: signal.Signals) -> None:
    out = tmp_path / "out"
    start = (TODAY - timedelta(days=364)).isoformat()
    env = subprocess_env(
        {
            "OPENAI_ADMIN_KEY": CANARY_OPENAI_KEY,
            "CODEX_ANALYTICS_KEY": CANARY_CODEX_KEY,
            "CHATGPT_WORKSPACE_ID": CANARY_WORKSPACE_ID,
        }
    )
    # Many windows, slow answers: the capture is surely mid-flight when the signal lands.
    with running_sandbox(users=3, days=365, api_key=KEYS, latency=1.0) as box:
        command = [
            sys.executable,
            "-m",
            "verifier",
            "capture",
            "--start",
            start,
            "--end",
            TODAY.isoformat(),
            "--out",
            str(out),
            *base_urls(box.base_url),
        ]
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        assert line.startswith("capture: ")
        process.send_signal(how)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode != 0
    assert json_files(out) == []
    assert not out.exists() or list(out.iterdir()) == []
    assert_no_canary(stdout + stderr + line.encode())
    assert b"Traceback" not in stderr


def test_sandbox_command_serves_until_terminated(tmp_path: Path) -> None:
    env = subprocess_env({})
    process = subprocess.Popen(
        [sys.executable, "-m", "verifier", "sandbox", "--port", "0", "--scenario", "vendor-docs"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        exports = process.stdout.readline().decode()
        url = first.split()[3]
        assert url.startswith("http://127.0.0.1:")
        key = exports.split("OPENAI_ADMIN_KEY=")[1].split()[0]
        import httpx

        response = httpx.get(
            url + "/v1/organization/users",
            headers={"Authorization": f"Bearer {key}"},
            trust_env=False,
        )
        assert response.status_code == 200
        assert response.json()["data"][0]["email"] == "dev1@sandbox.example"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert b"sandbox stopped" in stderr


# -- the wrapper script and the progress display --------------------------------------------


def test_wrapper_script_names_missing_variables(tmp_path: Path) -> None:
    env = subprocess_env({})
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "codex-analytics-capture.sh"), "7", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    for name in ("OPENAI_ADMIN_KEY", "CODEX_ANALYTICS_KEY", "CHATGPT_WORKSPACE_ID"):
        assert name in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_wrapper_script_captures_checks_and_diffs_the_sandbox(tmp_path: Path) -> None:
    out = tmp_path / "captures"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "codex-analytics-capture.sh"), "--sandbox", "3", str(out)],
        cwd=ROOT,
        env=subprocess_env({}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    written = sorted(p.name.split("__")[0] for p in out.glob("*.json"))
    assert written == sorted(
        [
            "chatgpt_enterprise_usage",
            "openai_org_costs",
            "openai_org_usage_completions",
            "openai_org_users",
        ]
    )
    assert "check: PASS" in result.stdout
    assert "diff: PASS" in result.stdout
    assert str(out) in result.stdout + result.stderr


def test_rich_progress_shows_pages_windows_and_retries() -> None:
    from rich.console import Console
    from rich.progress import Progress as Bar
    from rich.progress import TextColumn

    from verifier.cli.capture import RichProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with Bar(TextColumn("{task.description}"), console=console) as bar:
        progress = RichProgress(bar)
        progress.chain_started("openai_org_costs", None)
        progress.page_done("openai_org_costs", 200)
        progress.retrying("openai_org_costs", "HTTP 429", 0.1)
        progress.chain_done("openai_org_costs")
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "openai_org_costs: 1 pages, windows 1/1, 1 retries" in shown


KILL_DURING_WRITE = """
import os, signal, sys
from datetime import date
from pathlib import Path
import verifier.store
from verifier.capture import capture_from_sandbox

def die(fd):  # the bytes are in the temp file, the rename has not happened yet
    os.kill(os.getpid(), signal.SIGKILL)

verifier.store.os.fsync = die
capture_from_sandbox(Path(sys.argv[1]), start=date(2026, 5, 1), end=date(2026, 5, 3))
"""


def test_killed_during_the_write_leaves_no_capture_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", KILL_DURING_WRITE, str(out)],
        cwd=ROOT,
        env=subprocess_env({}),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL
    assert json_files(out) == []
    leftovers = [p.name for p in out.iterdir()]
    assert leftovers, "the kill should have landed after the temp file was written"
    assert all(name.startswith(".") and name.endswith(".tmp") for name in leftovers)
