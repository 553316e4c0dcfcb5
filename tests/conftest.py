"""Shared fixtures. Canary secrets are obviously fake and must never appear in output."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PAYLOADS = ROOT / "tests" / "data" / "reference"
DOCUMENTED_CAPTURES = ROOT / "captures" / "documented"
DOCUMENTED_BODIES = ROOT / "tests" / "data" / "documented"

CANARY_OPENAI_KEY = "sk-admin-CANARYfakeKEYdoNOTuse0000000000000000"
CANARY_CODEX_KEY = "sk-CANARYfakeCODEXkeyDoNotUse00000000000000"
CANARY_WORKSPACE_ID = "0c0ffee0-ca7a-4a11-8000-00000000ca7a"
CANARIES = (CANARY_OPENAI_KEY, CANARY_CODEX_KEY, CANARY_WORKSPACE_ID)


@pytest.fixture
def canary_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "OPENAI_ADMIN_KEY": CANARY_OPENAI_KEY,
        "CODEX_ANALYTICS_KEY": CANARY_CODEX_KEY,
        "CHATGPT_WORKSPACE_ID": CANARY_WORKSPACE_ID,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def assert_no_canary(text: str | bytes) -> None:
    data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for canary in CANARIES:
        assert canary not in data, "a canary secret leaked into tool output"


@pytest.fixture(autouse=True)
def isolated_config_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """No test may create or read the developer's real anonymisation key file."""
    config = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("VERIFY_ANON_KEY", raising=False)
    return config
