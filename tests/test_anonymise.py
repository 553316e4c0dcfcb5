"""The anonymiser on realistic payloads: what is kept, what is replaced, what joins."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import (
    CANARY_OPENAI_KEY,
    CANARY_WORKSPACE_ID,
    DOCUMENTED_CAPTURES,
    REFERENCE_PAYLOADS,
    ROOT,
)
from verifier import anonymise as anonymise_module
from verifier.anonymise import (
    K_ANONYMITY,
    Pseudonyms,
    anonymise_body,
    anonymise_capture,
    anonymise_text,
    pseudonym,
    require_same_fingerprint,
)
from verifier.errors import RefusedError, UsageError
from verifier.inputs import load_json_file
from verifier.keys import documented_sample_key, key_from_text
from verifier.leakscan import scan_bytes
from verifier.store import Capture, Page, RequestInfo, capture_from_json
from verifier.surfaces import get_surface

KEY = key_from_text("unit-test-anonymisation-key-0123456789")
OTHER_KEY = key_from_text("another-unit-test-key-9876543210")
PAYLOADS = REFERENCE_PAYLOADS
ANON_EMAIL = re.compile(r"u-[0-9a-f]{24}@anon\.invalid")  # 16 hex digits and an 8-digit tag
USAGE = get_surface("chatgpt_enterprise_usage")
COMPLETIONS = get_surface("openai_org_usage_completions")
COSTS = get_surface("openai_org_costs")
USERS = get_surface("openai_org_users")


def payload(name: str) -> Any:
    return load_json_file(PAYLOADS / name)


def assert_clean(value: Any, literals: tuple[str, ...] = ()) -> None:
    found = scan_bytes(orjson.dumps(value), source="out", surface="", literals=literals)
    assert found == [], [f.message for f in found]


# -------------------------------------------------------------- pseudonyms


def test_emails_become_anon_invalid_addresses_case_insensitively() -> None:
    first = pseudonym("Dev@Example.com", "email", KEY)
    assert ANON_EMAIL.fullmatch(first)
    assert pseudonym("dev@example.com", "email", KEY) == first
    assert pseudonym("dev@example.com", "email", OTHER_KEY) != first


@pytest.mark.parametrize(
    "value",
    [
        "user-dAU7Ud7OljwJvKfi4wQzWHyV",
        "user_abc",
        "wsu_abc123",
        "proj_Ab12Cd34Ef56Gh78Ij90Kl12",
        "key_OYRZfEkH5R9CNgtY",
        "org-AbCdEfGhIjKlMnOpQrStUvWx",
        "org_acme",
    ],
)
def test_ids_keep_prefix_length_and_character_classes(value: str) -> None:
    out = pseudonym(value, "person_id", KEY)
    assert out != value
    assert len(out) == len(value)
    prefix = re.match(r"[a-z]+[-_]", value)
    assert prefix is not None
    assert out.startswith(prefix.group(0))
    for before, after in zip(value, out, strict=True):
        assert before.isdigit() == after.isdigit()
        assert before.isupper() == after.isupper()
        assert before.isalnum() == after.isalnum()


def test_uuid_stays_a_lowercase_uuid() -> None:
    out = pseudonym(CANARY_WORKSPACE_ID, "person_id", KEY)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", out)
    assert out != CANARY_WORKSPACE_ID


def test_pseudonym_depends_on_value_not_class() -> None:
    assert pseudonym("user-abc123", "person_id", KEY) == pseudonym("user-abc123", "cursor", KEY)
    assert pseudonym("a@corp.example", "person_id", KEY) == pseudonym(
        "a@corp.example", "email", KEY
    )


# -------------------------------------------------------------- bodies


def test_documented_usage_body_keeps_numbers_and_timestamps() -> None:
    body: dict[str, Any] = {
        "data": [
            {
                "start_time": "2026-05-01T00:00:00Z",
                "end_time": "2026-05-02T00:00:00Z",
                "user": {"email": "dev@example.com", "id": "wsu_abc123"},
                "credits": 1234.5,
                "threads": 12,
                "turns": 48,
                "tokens": {"text_input": 100000, "cached_input": 20000, "output": 5000},
            }
        ],
        "has_more": True,
        "next_page": "page_cursorAAAA1234",
    }
    out = anonymise_body(USAGE, body, KEY)
    row = out["data"][0]
    assert row["start_time"] == "2026-05-01T00:00:00Z"
    assert row["credits"] == 1234.5
    assert row["tokens"] == body["data"][0]["tokens"]
    assert ANON_EMAIL.fullmatch(row["user"]["email"])
    assert row["user"]["id"].startswith("wsu_") and row["user"]["id"] != "wsu_abc123"
    assert out["has_more"] is True
    assert out["next_page"].startswith("page_") and out["next_page"] != body["next_page"]


def test_input_is_never_mutated() -> None:
    body = payload("openai_costs__peer_fixture_result_extra_fields_langwatch.json")
    before = copy.deepcopy(body)
    anonymise_body(COSTS, body, KEY)
    assert body == before


def test_unknown_live_fields_are_pseudonymised_default_deny() -> None:
    out = anonymise_body(
        COSTS, payload("openai_costs__peer_fixture_result_extra_fields_langwatch.json"), KEY
    )
    assert ANON_EMAIL.fullmatch(out["user_email"])
    assert out["organization_id"].startswith("org_") and out["organization_id"] != "org_acme"
    assert out["user_id"] != "user-1" and out["user_id"].startswith("user-")
    # documented safe fields of a result keep their values even in a fragment
    assert out["amount"] == {"value": 0.0025945, "currency": "usd"}
    assert out["line_item"] == "gpt-5, input"
    assert out["object"] == "organization.costs.result"
    assert_clean(out)


def test_actor_email_at_an_unknown_path_joins_the_documented_email() -> None:
    rows = payload("codex_analytics_usage__peer_fixture_rows_actor_models.json")
    out = anonymise_body(USAGE, rows, KEY)
    users = anonymise_body(
        USERS, {"object": "list", "data": [{"email": "a@wdts.com", "id": "user-x"}]}, KEY
    )
    assert out[0]["actor"]["email"] == users["data"][0]["email"]
    assert out[0]["object"] == "workspace.codex.usage.result"  # a discriminator, kept
    assert out[0]["start_time"] == 1730419200
    assert_clean(out)


def test_same_user_id_joins_across_usage_costs_and_users() -> None:
    uid = "user-dAU7Ud7OljwJvKfi4wQzWHyV"
    usage = anonymise_body(COMPLETIONS, {"data": [{"results": [{"user_id": uid}]}]}, KEY)
    costs = anonymise_body(COSTS, {"data": [{"results": [{"user_id": uid}]}]}, KEY)
    users = anonymise_body(USERS, {"data": [{"id": uid}], "last_id": uid}, KEY)
    mapped = users["data"][0]["id"]
    assert usage["data"][0]["results"][0]["user_id"] == mapped
    assert costs["data"][0]["results"][0]["user_id"] == mapped
    assert users["last_id"] == mapped


def test_typo_discriminator_and_numeric_string_amount_are_kept_for_drift() -> None:
    typo = anonymise_body(
        COSTS, payload("openai_costs__official_example_2024-12_typo_discriminator.json"), KEY
    )
    assert typo["data"][0]["results"][0]["object"] == "orgainzation.costs.result"
    fragment = anonymise_body(
        COSTS, payload("openai_costs__live_fragment_string_amount_codexbar999.json"), KEY
    )
    assert fragment["amount"]["value"] == "12.50"


def test_numeric_looking_strings_of_one_person_at_unknown_paths_are_replaced() -> None:
    body = {
        "data": [
            {
                "user_id": "user-abc123",
                "when": "2026-05-01T00:00:00.123+02:00",
                "birth": "1990-01-02",
                "n": "1730419200",
                "phone": "+15551234567",
                "amount_str": "0.0042",
                "label": "Alice Smith",
            }
        ]
    }
    out = anonymise_body(COSTS, body, KEY)["data"][0]
    for name in ("when", "birth", "n", "phone"):
        assert out[name] != body["data"][0][name]
        assert len(out[name]) == len(body["data"][0][name])  # format class kept
    assert out["amount_str"] == "0.0042"  # an amount: money stays exact
    assert out["label"] != "Alice Smith" and len(out["label"]) == len("Alice Smith")


def test_timestamps_shared_by_k_people_at_unknown_paths_are_kept() -> None:
    rows = [
        {"email": f"p{i}@corp.example", "day": "2026-05-01", "dob": f"199{i}-01-02"}
        for i in range(K_ANONYMITY)
    ]
    out = anonymise_body(COSTS, {"data": rows}, KEY)["data"]
    assert {row["day"] for row in out} == {"2026-05-01"}
    assert all(row["dob"] != f"199{i}-01-02" for i, row in enumerate(out))


def test_one_person_in_many_rows_never_counts_as_k_people() -> None:
    rows = [
        {"user_id": "user-abc123", "email": "p@corp.example", "dob": "1990-01-02"},
        {"user_id": "user-abc123", "dob": "1990-01-02"},
        {"email": "p@corp.example", "dob": "1990-01-02"},
    ]
    out = anonymise_body(COSTS, {"data": rows}, KEY)["data"]
    assert all(row["dob"] != "1990-01-02" for row in out)


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("openai_error__401_missing_scope_envelope.json", "Missing scopes: api.usage.read."),
        ("openai_error__403_missing_scope_bare_string.json", "Missing scopes: api.usage.read."),
        ("openai_error__400_costs_api_key_grouping_floor_langwatch.json", "group_by=api_key_id"),
    ],
)
def test_error_bodies_keep_the_vendor_words(name: str, kept: str) -> None:
    out = anonymise_body(COSTS, payload(name), KEY)
    error = out["error"]
    message = error if isinstance(error, str) else error["message"]
    assert kept in message


def test_error_free_text_loses_emails_keys_and_ids() -> None:
    body = {
        "error": {
            "message": f"Key {CANARY_OPENAI_KEY} of ann@corp.example cannot read "
            "user-dAU7Ud7OljwJvKfi4wQzWHyV (Bearer abcdefgh12345678)",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    out = anonymise_body(COSTS, body, KEY)
    message = out["error"]["message"]
    assert CANARY_OPENAI_KEY not in message
    assert "ann@corp.example" not in message
    assert "dAU7Ud7OljwJvKfi4wQzWHyV" not in message
    assert "abcdefgh12345678" not in message
    assert message.startswith("Key [redacted-key] of u-")
    assert out["error"]["code"] == "invalid_api_key"
    assert_clean(out)


def test_fastapi_detail_is_anonymised() -> None:
    body = {
        "detail": [
            {
                "loc": ["query", "limit"],
                "msg": "bad value for ann@corp.example",
                "type": "less_than_equal",
                "input": "0c0ffee0-ca7a-4a11-8000-00000000ca7a",
            }
        ]
    }
    out = anonymise_body(USAGE, body, KEY)["detail"][0]
    assert out["loc"] == ["query", "limit"]
    assert out["type"] == "less_than_equal"
    assert out["msg"].startswith("bad value for u-")
    assert out["input"] != CANARY_WORKSPACE_ID


def test_sensitive_member_names_are_replaced() -> None:
    out = anonymise_body(USAGE, {"by_email": {"ann@corp.example": 3}}, KEY)
    (name,) = out["by_email"]
    assert ANON_EMAIL.fullmatch(name)
    assert out["by_email"][name] == 3


def test_free_text_keeps_ordinary_words() -> None:
    text = "group_by=user_id is not available; try user_ids or org_id"
    assert anonymise_text(text, KEY) == text


# -------------------------------------------------------------- captures


def live_capture() -> Capture:
    ws = CANARY_WORKSPACE_ID
    return Capture(
        surface="chatgpt_enterprise_usage",
        request=RequestInfo(
            "GET",
            "https://api.chatgpt.com/v1/analytics/codex/workspaces/{workspace_id}/usage",
            {"group_by": "day", "start_time": 1777593600, "page": "page_AAAAcursor1"},
        ),
        pages=(
            Page(
                status=200,
                url=f"https://api.chatgpt.com/v1/analytics/codex/workspaces/{ws}/usage"
                "?group_by=day&start_time=1777593600&limit=1000",
                headers={
                    "Authorization": f"Bearer {CANARY_OPENAI_KEY}",
                    "Content-Type": "application/json",
                    "Set-Cookie": "session=abc; Path=/",
                    "Cookie": "a=b",
                    "OpenAI-Organization": "org-AbCdEfGhIjKlMnOpQrStUvWx",
                    "OpenAI-Project": "proj_Ab12Cd34Ef56Gh78Ij90Kl12",
                    "X-Request-ID": "req_0123456789abcdef0123",
                    "Retry-After": "3",
                },
                body={
                    "data": [
                        {
                            "user": {"email": "ann@corp.example", "id": "wsu_a1"},
                            "start_time": "2026-05-01T00:00:00Z",
                        }
                    ],
                    "has_more": True,
                    "next_page": "page_AAAAcursor2",
                },
            ),
            Page(
                status=502,
                url=f"https://api.chatgpt.com/v1/analytics/codex/workspaces/{ws}/usage"
                "?group_by=day&page=page_AAAAcursor2",
                body=None,
                body_text=f"<html>Bad gateway for ann@corp.example in {ws}</html>",
            ),
        ),
        captured_at="2026-05-02T00:00:00Z",
        key_fingerprint=None,
        findings=({"kind": "http_status", "message": "HTTP 403: ann@corp.example is not allowed"},),
    )


def test_capture_everything_is_anonymised_and_fingerprinted() -> None:
    secrets = (CANARY_OPENAI_KEY, CANARY_WORKSPACE_ID)
    out = anonymise_capture(live_capture(), KEY, secrets=secrets)
    assert out.key_fingerprint == KEY.fingerprint
    first, second = out.pages
    assert set(first.headers) == {"content-type", "x-request-id", "retry-after"}
    assert first.headers["retry-after"] == "3"
    assert first.headers["x-request-id"].startswith("req_")
    assert first.headers["x-request-id"] != "req_0123456789abcdef0123"
    assert "/workspaces/" in first.url and CANARY_WORKSPACE_ID not in first.url
    assert "{workspace_id}" in out.request.url_template  # a template stays a template
    # the cursor in the body, the next request's URL and the query map to one token
    token = first.body["next_page"]
    assert f"page={token}" in second.url
    assert out.request.query["page"] != "page_AAAAcursor1"
    assert out.request.query["start_time"] == 1777593600
    assert second.body_text is not None and second.body_text.startswith("<html>Bad gateway for u-")
    assert ANON_EMAIL.search(str(out.findings[0]["message"]))
    data = orjson.dumps(out.to_json())
    assert scan_bytes(data, source="c", surface="", literals=secrets) == []


def test_workspace_id_in_the_url_maps_to_one_pseudonym_across_pages() -> None:
    out = anonymise_capture(live_capture(), KEY)
    assert out.pages[0].url.split("/")[7] == out.pages[1].url.split("/")[7]


def test_anonymising_twice_with_one_key_is_a_no_op_and_another_key_is_refused() -> None:
    once = anonymise_capture(live_capture(), KEY)
    assert anonymise_capture(once, KEY) == once
    with pytest.raises(UsageError, match="already anonymised"):
        anonymise_capture(once, OTHER_KEY)


def test_a_capture_of_the_untagged_v1_scheme_reads_as_another_key() -> None:
    """v1 pseudonyms (no tag) do not join v2 ones: the fingerprint names the scheme, so
    such a capture is neither re-anonymised nor merged with v2 captures of the same key."""
    digest = hashlib.sha256(b"verify-anon-key-fingerprint/v1\x00" + KEY.secret).hexdigest()
    v1 = replace(anonymise_capture(live_capture(), KEY), key_fingerprint=f"sha256:{digest[:16]}")
    assert v1.key_fingerprint != KEY.fingerprint
    with pytest.raises(UsageError, match="before they carried a tag"):
        anonymise_capture(v1, KEY)
    with pytest.raises(RefusedError, match="different keys"):
        require_same_fingerprint([v1, anonymise_capture(live_capture(), KEY)])


def test_anonymise_capture_is_deterministic() -> None:
    assert anonymise_capture(live_capture(), KEY) == anonymise_capture(live_capture(), KEY)


def test_pseudonyms_shared_across_pages_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture run shares the pseudonyms it made between its pages (`Pseudonyms`): each
    page comes out as it does alone, under a tiny bound too (the memo starts over)."""
    capture = live_capture()
    alone = [anonymise_capture(replace(capture, pages=(page,)), KEY) for page in capture.pages]
    for bound in (1 << 15, 2):
        monkeypatch.setattr(anonymise_module, "_MAX_PSEUDONYMS", bound)
        made = Pseudonyms(KEY)
        for expected, page in zip(alone, capture.pages, strict=True):
            shared = anonymise_capture(replace(capture, pages=(page,)), KEY, pseudonyms=made)
            assert shared == expected
        assert 0 < len(made.made) <= bound
    other = Pseudonyms(OTHER_KEY)  # another key's pseudonyms are never used
    assert anonymise_capture(capture, KEY, pseudonyms=other) == anonymise_capture(capture, KEY)
    assert other.made == {}


def test_merging_different_fingerprints_is_refused_naming_files() -> None:
    a = anonymise_capture(live_capture(), KEY)
    b = anonymise_capture(live_capture(), OTHER_KEY)
    require_same_fingerprint([a, a])
    with pytest.raises(RefusedError) as caught:
        require_same_fingerprint([a, b], ["a.json", "b.json"])
    assert caught.value.exit_code == 1
    assert "a.json" in caught.value.message and KEY.fingerprint in caught.value.message
    assert "b.json" in caught.value.message and OTHER_KEY.fingerprint in caught.value.message
    with pytest.raises(RefusedError, match="not anonymised"):
        require_same_fingerprint([a, live_capture()])


def test_documented_captures_are_anonymised_with_the_public_sample_key() -> None:
    captures = [
        capture_from_json(load_json_file(path), str(path))
        for path in sorted(DOCUMENTED_CAPTURES.glob("*.json"))
    ]
    assert {c.key_fingerprint for c in captures} == {documented_sample_key().fingerprint}
    emails = [
        row["user"]["email"] if "user" in row else row["email"]
        for c in captures
        if c.surface in ("chatgpt_enterprise_usage", "openai_org_users")
        for row in c.pages[0].body["data"]
        if "email" in row or "email" in row.get("user", {})
    ]
    assert len(emails) == 2 and len(set(emails)) == 1  # the documented join survives
    assert all(ANON_EMAIL.fullmatch(e) for e in emails)


def test_documented_captures_rebuild_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = ROOT / "scripts" / "build_documented_captures.py"
    spec = importlib.util.spec_from_file_location("build_documented_captures", script)
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    monkeypatch.setattr(build, "OUT", tmp_path)
    build.build()
    before = {p.name: p.read_bytes() for p in DOCUMENTED_CAPTURES.glob("*.json")}
    after = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    assert after == before
