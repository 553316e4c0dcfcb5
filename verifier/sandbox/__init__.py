"""Local emulator of the four analytics endpoints, for the demo, the tests and CI.

    with running_sandbox(scenario="vendor-docs", users=3, days=30, api_key=key) as box:
        box.base_url  # http://127.0.0.1:PORT, serves every surface's path

Modules: `data` (deterministic people and usage), `shapes` (documented vs vendor-docs
bodies), `endpoints` (validation, pagination), `faults` (the `faults` scenario),
`scenarios` (names and configuration), `server` (HTTP on 127.0.0.1).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from verifier.errors import UsageError
from verifier.sandbox.scenarios import (
    SCENARIO_NAMES,
    SCENARIOS,
    SandboxConfig,
    Scenario,
    get_scenario,
)
from verifier.sandbox.server import SandboxServer

__all__ = [
    "SCENARIOS",
    "SCENARIO_NAMES",
    "RunningSandbox",
    "SandboxConfig",
    "Scenario",
    "make_config",
    "running_sandbox",
    "start_sandbox",
]


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    base_url: str
    config: SandboxConfig
    server: SandboxServer

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def make_config(
    *,
    scenario: str = "documented",
    users: int = 3,
    days: int = 90,
    api_key: str | Iterable[str],
    anchor: date | None = None,
    latency: float = 0.0,
    slow_seconds: float = 3.0,
    codex_users: int | None = None,
) -> SandboxConfig:
    if users < 1 or days < 1 or (codex_users is not None and codex_users < 1):
        raise UsageError("the sandbox needs at least 1 user and 1 day")
    keys = frozenset([api_key] if isinstance(api_key, str) else api_key)
    if not keys or not all(keys):
        raise UsageError("the sandbox needs a non-empty API key")
    return SandboxConfig(
        scenario=get_scenario(scenario),
        users=users,
        days=days,
        anchor=anchor or (datetime.now(UTC).date() + timedelta(days=1)),
        api_keys=keys,
        latency=latency,
        slow_seconds=slow_seconds,
        codex_users=codex_users,
    )


def start_sandbox(config: SandboxConfig, port: int = 0) -> RunningSandbox:
    """Start serving in a daemon thread; stop it with `stop_sandbox`."""
    try:
        server = SandboxServer(config, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="verify-sandbox",
        daemon=True,
    )
    thread.start()
    return RunningSandbox(base_url=server.base_url, config=config, server=server)


def stop_sandbox(box: RunningSandbox) -> None:
    box.server.stopping.set()
    box.server.shutdown()
    box.server.server_close()


@contextmanager
def running_sandbox(
    *,
    scenario: str = "documented",
    users: int = 3,
    days: int = 90,
    api_key: str | Iterable[str],
    latency: float = 0.0,
    anchor: date | None = None,
    slow_seconds: float = 3.0,
    port: int = 0,
    codex_users: int | None = None,
) -> Iterator[RunningSandbox]:
    """A sandbox on a free loopback port for the duration of the `with` block."""
    config = make_config(
        scenario=scenario,
        users=users,
        days=days,
        api_key=api_key,
        anchor=anchor,
        latency=latency,
        slow_seconds=slow_seconds,
        codex_users=codex_users,
    )
    box = start_sandbox(config, port)
    try:
        yield box
    finally:
        stop_sandbox(box)
