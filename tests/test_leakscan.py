"""The leak scanner and the write guard: every pattern, paths and pointers, never values."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.conftest import CANARY_CODEX_KEY, CANARY_OPENAI_KEY, CANARY_WORKSPACE_ID
from verifier.errors import RefusedError
from verifier.findings import Finding
from verifier.leakscan import leak_guard, leaks_in, literal_secrets, scan_bytes, scan_paths
from verifier.store import Capture, Page, RequestInfo, save_capture

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def scan(document: object, literals: tuple[str, ...] = ()) -> list[Finding]:
    return scan_bytes(orjson.dumps(document), source="t.json", surface="", literals=literals)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("dev@example.com", "pii_leak"),
        ("contact First.Last+tag@sub.example.co.uk today", "pii_leak"),
        ("dev%40example.com", "pii_leak"),
        ("key sk-proj-abcdefghijklmnop0123", "secret_leak"),
        (CANARY_OPENAI_KEY, "secret_leak"),
        ("Authorization: Bearer abcdefgh12345678", "secret_leak"),
        ("bearer abcdefgh12345678", "secret_leak"),
        (JWT, "secret_leak"),
    ],
)
def test_each_pattern_is_found(text: str, kind: str) -> None:
    findings = scan({"note": text})
    assert [f.kind for f in findings] == [kind]
    assert findings[0].path == "note"
    assert findings[0].pointer == "/note"


@pytest.mark.parametrize(
    "text",
    [
        "u-0123456789abcdef@anon.invalid",
        "Incorrect API key provided: sk-xxx.",  # the vendor's own placeholder, not a key
        "task-force risk-free",
        "2026-05-01T00:00:00Z",
        "group_by=user_id is not available",
        "bearer",
        "[redacted-key] Bearer [redacted-token]",
    ],
)
def test_clean_text_is_not_flagged(text: str) -> None:
    assert scan({"note": text}) == []


def test_findings_name_path_and_pointer_and_never_the_value() -> None:
    document = {"data": [{"user": {"id": "wsu_1"}}, {"user": {"email": "alice@corp.example"}}]}
    (finding,) = scan(document)
    assert finding.path == "data[].user.email"
    assert finding.pointer == "/data/1/user/email"
    assert finding.severity == "breaking"
    assert "alice" not in orjson.dumps(finding.to_json()).decode()


def test_hits_at_one_path_are_aggregated_with_the_first_pointer() -> None:
    document = {"data": [{"email": f"p{i}@corp.example"} for i in range(5)]}
    (finding,) = scan(document)
    assert finding.occurrences == 5
    assert finding.pointer == "/data/0/email"


def test_a_sensitive_member_name_is_withheld_from_every_path() -> None:
    document = {"by_user": {"alice@corp.example": {"token": "Bearer abcdefgh12345678"}}}
    findings = scan(document)
    assert {f.kind for f in findings} == {"pii_leak", "secret_leak"}
    text = orjson.dumps([f.to_json() for f in findings]).decode()
    assert "alice" not in text
    assert "<withheld>" in text


def test_literal_secrets_are_found_even_without_a_known_shape() -> None:
    findings = scan({"workspace": f"ws {CANARY_WORKSPACE_ID}"}, literals=(CANARY_WORKSPACE_ID,))
    assert [f.kind for f in findings] == ["secret_leak"]
    assert CANARY_WORKSPACE_ID not in orjson.dumps(findings[0].to_json()).decode()


def test_literal_secrets_come_from_the_credential_variables() -> None:
    env = {
        "OPENAI_ADMIN_KEY": CANARY_OPENAI_KEY,
        "CODEX_ANALYTICS_KEY": CANARY_CODEX_KEY,
        "CHATGPT_WORKSPACE_ID": CANARY_WORKSPACE_ID,
        "HOME": "/root",
        "VERIFY_ANON_KEY": "short",
    }
    assert set(literal_secrets(env)) == {CANARY_OPENAI_KEY, CANARY_CODEX_KEY, CANARY_WORKSPACE_ID}


def test_capture_files_report_body_paths_in_contract_notation() -> None:
    capture = Capture(
        surface="openai_org_users",
        request=RequestInfo("GET", "https://api.openai.com/v1/organization/users"),
        pages=(Page(200, "https://x.invalid/", body={"data": [{"email": "bob@corp.example"}]}),),
        captured_at="2026-05-01T00:00:00Z",
        key_fingerprint=None,
    )
    (finding,) = scan(capture.to_json())
    assert finding.surface == "openai_org_users"
    assert finding.path == "data[].email"
    assert finding.pointer == "/pages/0/body/data/0/email"
    assert finding.consumed_by_merge


def test_non_json_text_is_scanned_line_by_line() -> None:
    data = b"date,email\n2026-05-01,ok\n2026-05-02,carol@corp.example\n"
    (finding,) = scan_bytes(data, source="merged.csv", surface="", literals=())
    assert finding.kind == "pii_leak"
    assert "line 3" in finding.message
    assert "carol" not in finding.message


def test_json_escapes_cannot_hide_a_leak() -> None:
    data = b'{"note": "dev\\u0040corp.example", "k": "s\\u006b-abcdefghijklmnop"}'
    kinds = sorted(f.kind for f in scan_bytes(data, source="t", surface="", literals=()))
    assert kinds == ["pii_leak", "secret_leak"]


@pytest.mark.parametrize(
    "text", ["x@anon.invalid.evil.example", "x@ANON.INVALID.evil.example", "x@anon.invalidity.io"]
)
def test_only_the_exact_anonymised_domain_is_exempt(text: str) -> None:
    assert [f.kind for f in scan({"note": text})] == ["pii_leak"]


def test_leaks_in_reports_each_kind_once() -> None:
    kinds = leaks_in("a@corp.example b@corp.example sk-abcdefghijklmnop")
    assert [k.kind for k in kinds] == ["pii_leak", "secret_leak"]


def _capture_with(email: str) -> Capture:
    return Capture(
        surface="chatgpt_enterprise_usage",
        request=RequestInfo("GET", "https://api.chatgpt.com/v1/x"),
        pages=(Page(200, "https://api.chatgpt.com/v1/x", body={"data": [{"note": email}]}),),
        captured_at="2026-05-01T00:00:00Z",
        key_fingerprint=None,
    )


def test_guard_refuses_the_write_naming_the_path_not_the_value(tmp_path: Path) -> None:
    target = tmp_path / "out" / "capture.json"
    with pytest.raises(RefusedError) as caught:
        save_capture(_capture_with("dana@corp.example"), target, guard=leak_guard())
    assert caught.value.exit_code == 1
    assert "data[].note" in caught.value.message
    assert "/pages/0/body/data/0/note" in caught.value.message
    assert "dana" not in caught.value.message
    assert not target.exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_guard_refuses_literal_secrets(tmp_path: Path) -> None:
    guard = leak_guard((CANARY_CODEX_KEY,))
    with pytest.raises(RefusedError) as caught:
        guard(orjson.dumps({"x": f"key={CANARY_CODEX_KEY}"}))
    assert CANARY_CODEX_KEY not in caught.value.message


def test_guard_lets_a_clean_capture_through(tmp_path: Path) -> None:
    target = tmp_path / "capture.json"
    save_capture(_capture_with("u-0123456789abcdef@anon.invalid"), target, guard=leak_guard())
    assert target.is_file()


def test_scan_paths_walks_directories_recursively_but_skips_hidden_dirs(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "a" / "b" / "deep.jsonl").write_text('{"e": "erin@corp.example"}\n')
    (tmp_path / ".git" / "config").write_text("erin@corp.example\n")
    (tmp_path / "clean.json").write_text("{}")
    report = scan_paths([tmp_path])
    assert report.sources == (
        str(tmp_path / "a" / "b" / "deep.jsonl"),
        str(tmp_path / "clean.json"),
    )
    assert [f.source for f in report.findings] == [str(tmp_path / "a" / "b" / "deep.jsonl")]
    assert report.verdict == "fail"
