"""Credentials come from the environment only; base URLs are https (http only on loopback)."""

from __future__ import annotations

import ssl

import pytest

from tests.conftest import (
    CANARY_CODEX_KEY,
    CANARY_OPENAI_KEY,
    CANARY_WORKSPACE_ID,
    assert_no_canary,
)
from verifier.credentials import (
    access_for,
    all_secrets,
    check_base_url,
    make_client,
    parse_base_url_overrides,
    same_origin,
)
from verifier.errors import UsageError
from verifier.surfaces import CHATGPT_ENTERPRISE_USAGE, OPENAI_ORG_COSTS


def test_keys_and_workspace_come_from_env(canary_env: dict[str, str]) -> None:
    access = access_for(CHATGPT_ENTERPRISE_USAGE)
    assert access.api_key == CANARY_CODEX_KEY
    assert access.url == (
        f"https://api.chatgpt.com/v1/analytics/codex/workspaces/{CANARY_WORKSPACE_ID}/usage"
    )
    assert "{workspace_id}" in access.url_template
    assert_no_canary(access.url_template)
    assert_no_canary(repr(access))


def test_openai_surface_reads_admin_key(canary_env: dict[str, str]) -> None:
    access = access_for(OPENAI_ORG_COSTS)
    assert access.auth_headers() == {"Authorization": f"Bearer {CANARY_OPENAI_KEY}"}
    assert access.path_values == {}


@pytest.mark.parametrize(
    ("surface", "missing"),
    [
        (OPENAI_ORG_COSTS, "OPENAI_ADMIN_KEY"),
        (CHATGPT_ENTERPRISE_USAGE, "CODEX_ANALYTICS_KEY"),
        (CHATGPT_ENTERPRISE_USAGE, "CHATGPT_WORKSPACE_ID"),
    ],
)
def test_missing_variable_names_itself_in_one_line(
    canary_env: dict[str, str], surface: object, missing: str
) -> None:
    env = {k: v for k, v in canary_env.items() if k != missing}
    with pytest.raises(UsageError) as caught:
        access_for(surface, env=env)  # type: ignore[arg-type]
    message = caught.value.message
    assert missing in message
    assert "\n" not in message
    assert_no_canary(message)


def test_blank_variable_counts_as_missing() -> None:
    with pytest.raises(UsageError, match="OPENAI_ADMIN_KEY"):
        access_for(OPENAI_ORG_COSTS, env={"OPENAI_ADMIN_KEY": "   "})


@pytest.mark.parametrize(
    "url",
    ["https://api.openai.com", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"],
)
def test_accepted_base_urls(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://api.openai.com", "plain http"),
        ("http://10.0.0.1:8080", "plain http"),
        ("ftp://api.openai.com", "not an http"),
        ("api.openai.com", "not an http"),
        ("https://user:pw@api.openai.com", "credentials"),
        ("https://api.openai.com/?key=1", "query string"),
    ],
)
def test_refused_base_urls(url: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        check_base_url(url)


def test_base_url_override_parsing() -> None:
    got = parse_base_url_overrides(["openai_org_costs=http://127.0.0.1:5/"])
    assert got == {"openai_org_costs": "http://127.0.0.1:5"}
    with pytest.raises(UsageError, match="SURFACE=URL"):
        parse_base_url_overrides(["openai_org_costs"])
    with pytest.raises(UsageError, match="unknown surface"):
        parse_base_url_overrides(["nope=https://x.example"])


def test_override_replaces_base_but_keeps_path(canary_env: dict[str, str]) -> None:
    access = access_for(OPENAI_ORG_COSTS, base_url="http://127.0.0.1:9999")
    assert access.url == "http://127.0.0.1:9999/v1/organization/costs"


def test_same_origin_rules() -> None:
    assert same_origin("https://api.openai.com/a", "https://api.openai.com/b?x=1")
    assert not same_origin("https://api.openai.com/a", "https://evil.example/a")
    assert not same_origin("https://api.openai.com/a", "http://api.openai.com/a")
    assert not same_origin("https://api.openai.com/a", "https://api.openai.com:8443/a")


def test_all_secrets_lists_every_literal_once(canary_env: dict[str, str]) -> None:
    accesses = [access_for(CHATGPT_ENTERPRISE_USAGE), access_for(OPENAI_ORG_COSTS)]
    assert set(all_secrets(accesses)) == {
        CANARY_OPENAI_KEY,
        CANARY_CODEX_KEY,
        CANARY_WORKSPACE_ID,
    }


def test_live_client_verifies_tls_and_never_follows_redirects() -> None:
    with make_client(5.0) as client:
        assert client.follow_redirects is False
        assert client.timeout.read == 5.0
        context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
