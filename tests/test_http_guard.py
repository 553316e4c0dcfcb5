"""The capture against a hostile loopback server: decompression bombs, dripping bodies and
headers, hangs, resets and redirect games. Assertions are on outcomes (which error, which
exit code, what was sent where), never on elapsed time: `scripts/hostile_server_check.py`
measures time and memory."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import run_cli
from tests.conftest import CANARY_OPENAI_KEY, assert_no_canary
from tests.hostile_server import BOMB_INFLATED_BYTES, DRIP_BYTES, DRIP_INTERVAL, hostile_server
from verifier.http_guard import BodyTooLarge, Cancelled, HttpGuard

AUTH = {"Authorization": "Bearer test"}


def test_a_decompression_bomb_stops_at_the_cap() -> None:
    guard = HttpGuard(max_body_bytes=1024 * 1024)
    with hostile_server() as (base, _), httpx.Client(trust_env=False) as client:
        with pytest.raises(BodyTooLarge, match="more than 1048576 bytes"):
            guard.get(client, f"{base}/bomb/v1", headers=AUTH, timeout=10)
        # The same client still works afterwards: the cap broke no shared state.
        assert guard.get(client, f"{base}/ok/v1", headers=AUTH, timeout=10).status_code == 200


def test_a_body_within_the_cap_is_inflated_and_kept_whole() -> None:
    guard = HttpGuard(max_body_bytes=BOMB_INFLATED_BYTES)
    with hostile_server() as (base, _), httpx.Client(trust_env=False) as client:
        response = guard.get(client, f"{base}/bomb/v1", headers=AUTH, timeout=30)
    assert len(response.content) == BOMB_INFLATED_BYTES
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize("route", ["drip", "drip-headers"])
def test_a_dripping_server_hits_the_whole_request_deadline(route: str) -> None:
    # The drip takes DRIP_BYTES * 0.2 s, each read far below the timeout: only a
    # whole-request deadline can stop it.
    guard = HttpGuard()
    with (
        hostile_server() as (base, _),
        httpx.Client(trust_env=False) as client,
        pytest.raises(httpx.TimeoutException),
    ):
        guard.get(client, f"{base}/{route}/v1", headers=AUTH, timeout=1.0)
    assert DRIP_BYTES * DRIP_INTERVAL > 1.0


def test_cancel_wakes_a_request_blocked_on_a_hanging_server() -> None:
    guard = HttpGuard()
    with hostile_server() as (base, _), httpx.Client(trust_env=False) as client:
        threading.Timer(0.3, guard.cancel_all).start()
        with pytest.raises(Cancelled):
            guard.get(client, f"{base}/hang/v1", headers=AUTH, timeout=25.0)


def test_a_reset_connection_is_a_transport_error() -> None:
    guard = HttpGuard()
    with (
        hostile_server() as (base, _),
        httpx.Client(trust_env=False) as client,
        pytest.raises(httpx.TransportError),
    ):
        guard.get(client, f"{base}/reset/v1", headers=AUTH, timeout=5.0)


# -- the whole capture command against the hostile server --------------------------------


def _capture(base: str, route: str, out: Path, *extra: str) -> tuple[int, str, str]:
    env = {"OPENAI_ADMIN_KEY": CANARY_OPENAI_KEY, "VERIFY_ANON_KEY": "hostile-test-key"}
    result = run_cli(
        "capture",
        "--surface",
        "openai_org_users",
        "--start",
        "2026-05-01",
        "--end",
        "2026-05-02",
        "--out",
        str(out),
        "--base-url",
        f"openai_org_users={base}/{route}",
        "--retries",
        "0",
        *extra,
        env=env,
    )
    assert_no_canary(result.stdout + result.stderr)
    return result.code, result.stdout, result.stderr


def test_capture_of_a_bomb_is_an_operational_failure_and_writes_nothing(tmp_path: Path) -> None:
    with hostile_server() as (base, _):
        code, stdout, stderr = _capture(base, "bomb", tmp_path, "--max-body-mb", "1")
    assert code == 3
    assert "more than" in stderr and "PASS" not in stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("route", ["drip", "reset", "hang-free-drip-headers"])
def test_capture_network_failures_say_fail(tmp_path: Path, route: str) -> None:
    route = route.removeprefix("hang-free-")
    with hostile_server() as (base, _):
        code, stdout, stderr = _capture(base, route, tmp_path, "--timeout", "1")
    assert code == 3
    assert "FAIL" in stdout and "PASS" not in stdout
    assert "network failure" in stderr
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".json"]


def test_a_redirect_to_another_host_keeps_the_key_at_home(tmp_path: Path) -> None:
    with hostile_server() as (base, seen):
        code, _, _ = _capture(base, "elsewhere", tmp_path)
    assert code == 1  # the 302 is recorded as the final answer: an http_status finding
    assert seen == [f"Bearer {CANARY_OPENAI_KEY}"]  # asked once, never followed to localhost


def test_a_redirect_loop_ends_with_a_finding(tmp_path: Path) -> None:
    with hostile_server() as (base, seen):
        code, stdout, _ = _capture(base, "loop", tmp_path, "--format", "json")
    assert code == 1
    assert "http_status" in stdout
    assert 1 < len(seen) <= 6
