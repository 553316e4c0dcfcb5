"""pytest plugin (entry point `pytest11: verify`): test your own cost-merge code against the
captures your locks vouch for, and refuse to run a session on breaking drift.

Fixtures (session-scoped data, function-scoped accessors):
  verify_config            the `[tool.verify]` settings (captures and locks dirs)
  locked_captures          surface -> capture files recorded in that surface's lock
                           (found under the captures dir by their SHA-256)
  locked_capture(surface)  the first of those files (pytest fails the test, naming the
                           surface, when the lock is missing or its captures are gone)
  locked_bodies(surface)   the 2xx response bodies of all of them, as the API returned them (after
                           anonymisation), money exact as Decimal: what your parser reads

Options:
  --verify-gate            run `verify gate` over the captures dir at session start and
                           exit with status 1 before any test runs when it fails
                           (also `verify_gate = true` in the ini file)
  --verify-captures DIR, --verify-locks DIR   override `[tool.verify]`
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from verifier.config import ToolConfig, load_config
from verifier.errors import VerifierError
from verifier.surfaces import SURFACE_NAMES

_GATE_OPTION = "--verify-gate"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("verify", "verify: captures, locks and the drift gate")
    group.addoption(
        _GATE_OPTION,
        action="store_true",
        default=None,
        help="Run `verify gate` at session start; breaking drift fails the session.",
    )
    group.addoption("--verify-captures", metavar="DIR", help="Captures dir ([tool.verify]).")
    group.addoption("--verify-locks", metavar="DIR", help="Locks dir ([tool.verify]).")
    parser.addini("verify_gate", "Run `verify gate` at session start.", type="bool")


def _config(config: pytest.Config) -> ToolConfig:
    settings = load_config(config.rootpath)
    captures = config.getoption("--verify-captures")
    locks = config.getoption("--verify-locks")
    return ToolConfig(
        captures=Path(captures) if captures else settings.captures,
        locks=Path(locks) if locks else settings.locks,
        consumers=settings.consumers,
        source=settings.source,
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    wanted = config.getoption(_GATE_OPTION)
    if wanted is None:
        wanted = bool(config.getini("verify_gate"))
    if not wanted:
        return
    from verifier.gate import run_gate  # only sessions that ask pay for the import
    from verifier.report.text import render

    try:
        settings = _config(config)
        report = run_gate([settings.captures], locks_dir=settings.locks)
    except VerifierError as exc:
        pytest.exit(f"verify gate could not run: {exc.message}", returncode=1)
    if report.verdict == "fail":
        unlocked = report.extra.get("unlocked") or []
        extra = f"no lock yet for {', '.join(unlocked)}\n" if unlocked else ""
        pytest.exit(
            f"verify gate failed, not running the tests:\n{render(report)}{extra}",
            returncode=1,
        )


@pytest.fixture(scope="session")
def verify_config(pytestconfig: pytest.Config) -> ToolConfig:
    return _config(pytestconfig)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


@pytest.fixture(scope="session")
def locked_captures(verify_config: ToolConfig) -> Mapping[str, tuple[Path, ...]]:
    """Surface -> the capture files its lock was made from, located by content hash (a
    renamed or moved file still counts; an edited one does not)."""
    from verifier.lock import load_surface_lock

    wanted: dict[str, str] = {}  # sha256 -> surface
    for surface in SURFACE_NAMES:
        lock = load_surface_lock(surface, verify_config.locks)
        for capture in lock.captures if lock else ():
            wanted[capture.sha256] = surface
    found: dict[str, list[Path]] = {surface: [] for surface in SURFACE_NAMES}
    if wanted and verify_config.captures.is_dir():
        for path in sorted(verify_config.captures.rglob("*.json")):
            if path.name.endswith(".lock.json") or not path.is_file():
                continue
            owner = wanted.get(_sha256(path))
            if owner is not None:
                found[owner].append(path)
    return {surface: tuple(paths) for surface, paths in found.items()}


def _locked_paths(
    locked_captures: Mapping[str, tuple[Path, ...]], settings: ToolConfig, surface: str
) -> tuple[Path, ...]:
    if surface not in locked_captures:
        pytest.fail(f"unknown surface {surface!r}; known: {', '.join(SURFACE_NAMES)}")
    paths = locked_captures[surface]
    if not paths:
        pytest.fail(
            f"no locked capture of {surface}: no lock in {settings.locks}, or none of the "
            f"files it records is under {settings.captures} unchanged"
        )
    return paths


@pytest.fixture
def locked_capture(
    locked_captures: Mapping[str, tuple[Path, ...]], verify_config: ToolConfig
) -> Callable[[str], Path]:
    return lambda surface: _locked_paths(locked_captures, verify_config, surface)[0]


@pytest.fixture
def locked_bodies(
    locked_captures: Mapping[str, tuple[Path, ...]], verify_config: ToolConfig
) -> Callable[[str], list[Any]]:
    from verifier.merge.load import load_capture

    def get(surface: str) -> list[Any]:
        paths = _locked_paths(locked_captures, verify_config, surface)
        return [body.value for path in paths for body in load_capture(path).ok_bodies]

    return get
