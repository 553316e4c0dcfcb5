"""`verify scan` and `verify anonymise` end to end: exit codes, output, no canary anywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.cli_helpers import CliResult, run_cli
from tests.conftest import (
    CANARY_CODEX_KEY,
    CANARY_OPENAI_KEY,
    CANARY_WORKSPACE_ID,
    REFERENCE_PAYLOADS,
    ROOT,
    assert_no_canary,
)
from verifier.keys import key_from_text
from verifier.store import capture_from_json

PAYLOADS = REFERENCE_PAYLOADS
ANON_KEY_TEXT = "scan-cli-test-anonymisation-key-0123456789"
SURFACE_BY_PREFIX = {
    "chatgpt_": "chatgpt_enterprise_usage",
    "codex_": "chatgpt_enterprise_usage",
    "openai_costs": "openai_org_costs",
    "openai_error": "openai_org_costs",
    "openai_usage": "openai_org_usage_completions",
    "openai_users": "openai_org_users",
}


@pytest.fixture(autouse=True)
def isolated_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never touch the real config dir; a fixed key makes outputs comparable."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("VERIFY_ANON_KEY", ANON_KEY_TEXT)


def assert_clean_output(result: CliResult) -> None:
    assert_no_canary(result.stdout)
    assert_no_canary(result.stderr)


def one_error_line(result: CliResult) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# ------------------------------------------------------------------ verify scan


@pytest.mark.usefixtures("canary_env")
def test_every_committed_capture_scans_clean() -> None:
    result = run_cli("scan", str(ROOT / "captures"), "--format", "json")
    assert result.code == 0, result.stdout
    report = orjson.loads(result.stdout)
    assert report["verdict"] == "pass"
    assert report["findings"] == []
    assert len(report["sources"]) >= 4
    assert_clean_output(result)


def test_a_planted_email_fails_and_names_the_path(tmp_path: Path) -> None:
    capture = orjson.loads((ROOT / "captures/documented/openai_org_users.json").read_bytes())
    capture["pages"][0]["body"]["data"][0]["email"] = "planted.person@corp.example"
    planted = tmp_path / "planted.json"
    planted.write_bytes(orjson.dumps(capture))
    result = run_cli("scan", str(planted))
    assert result.code == 1
    assert "pii_leak data[].email" in result.stdout
    assert "/pages/0/body/data/0/email" in result.stdout
    assert str(planted) in result.stdout
    assert "planted.person" not in result.stdout + result.stderr


def test_scan_json_report_follows_the_contract(tmp_path: Path) -> None:
    raw = tmp_path / "raw.json"
    raw.write_text('{"data": [{"actor": {"email": "x.y@corp.example"}}]}', encoding="utf-8")
    result = run_cli("scan", str(raw), "--format", "json")
    assert result.code == 1
    (finding,) = orjson.loads(result.stdout)["findings"]
    assert finding["kind"] == "pii_leak"
    assert finding["path"] == "data[].actor.email"
    assert finding["pointer"] == "/data/0/actor/email"
    assert finding["severity"] == "breaking"
    assert finding["source"] == str(raw)


def test_scan_finds_the_keys_in_use_without_printing_them(
    tmp_path: Path, canary_env: dict[str, str]
) -> None:
    leaked = tmp_path / "merged.csv"
    leaked.write_text(f"date,note\n2026-05-01,{CANARY_WORKSPACE_ID}\n", encoding="utf-8")
    result = run_cli("scan", str(tmp_path))
    assert result.code == 1
    assert "secret_leak" in result.stdout
    assert "line 2" in result.stdout
    assert_clean_output(result)


@pytest.mark.parametrize("make", ["missing", "empty_dir"])
def test_scan_bad_input_exits_2_with_one_line(tmp_path: Path, make: str) -> None:
    target = tmp_path / "nothing-here"
    if make == "empty_dir":
        target.mkdir()
    result = run_cli("scan", str(target))
    assert result.code == 2
    assert str(target) in one_error_line(result)


def test_scan_runs_as_a_real_process(tmp_path: Path) -> None:
    planted = tmp_path / "p.json"
    planted.write_text('{"user_email": "proc@corp.example"}', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "verifier", "scan", str(planted)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert "user_email" in proc.stdout
    assert "proc@corp.example" not in proc.stdout + proc.stderr


# ------------------------------------------------------------------ verify anonymise


def reference_copies(tmp_path: Path) -> dict[str, list[Path]]:
    """The shared reference payloads copied into tmp, grouped by surface."""
    groups: dict[str, list[Path]] = {}
    (tmp_path / "in").mkdir()
    for path in sorted(PAYLOADS.glob("*.json")):
        copy = Path(shutil.copy(path, tmp_path / "in" / path.name))
        surface = next(s for p, s in SURFACE_BY_PREFIX.items() if path.name.startswith(p))
        groups.setdefault(surface, []).append(copy)
    return groups


def test_anonymise_every_reference_payload(tmp_path: Path, canary_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    groups = reference_copies(tmp_path)
    for surface, files in groups.items():
        result = run_cli("anonymise", "--surface", surface, *map(str, files), "--out", str(out))
        assert result.code == 0, result.stderr
        assert_clean_output(result)
    written = sorted(out.glob("*.json"))
    assert len(written) == sum(len(files) for files in groups.values())
    fingerprint = key_from_text(ANON_KEY_TEXT).fingerprint
    for path in written:
        capture = capture_from_json(orjson.loads(path.read_bytes()), str(path))
        assert capture.key_fingerprint == fingerprint
        assert capture.source == "imported"
    scan = run_cli("scan", str(out))
    assert scan.code == 0, scan.stdout
    users = orjson.loads((out / "openai_users_list__official_example.json").read_bytes())
    assert users["pages"][0]["body"]["data"][0]["email"].endswith("@anon.invalid")


def test_anonymise_keeps_raw_shape_with_raw_flag(tmp_path: Path) -> None:
    source = PAYLOADS / "openai_costs__peer_fixture_result_extra_fields_langwatch.json"
    result = run_cli(
        "anonymise", "--raw", "--surface", "openai_org_costs", str(source), "--out", str(tmp_path)
    )
    assert result.code == 0, result.stderr
    body = orjson.loads((tmp_path / source.name).read_bytes())
    assert body["amount"] == {"value": 0.0025945, "currency": "usd"}
    assert body["user_email"].endswith("@anon.invalid")
    assert body["organization_id"] != "org_acme"


def test_anonymise_a_capture_file_needs_no_surface(
    tmp_path: Path, canary_env: dict[str, str]
) -> None:
    capture = orjson.loads((ROOT / "captures/documented/openai_org_users.json").read_bytes())
    capture["anonymisation"]["key_fingerprint"] = None
    page = capture["pages"][0]
    page["url"] = (
        f"https://api.openai.com/v1/organization/users?after=user-abcdefgh12345678&k={CANARY_OPENAI_KEY}"
    )
    page["headers"] = {"Authorization": f"Bearer {CANARY_OPENAI_KEY}", "set-cookie": "s=1"}
    page["body"]["data"][0]["email"] = "live.person@corp.example"
    page["body"]["data"][0]["note"] = f"codex key {CANARY_CODEX_KEY}"
    raw = tmp_path / "live.json"
    raw.write_bytes(orjson.dumps(capture))
    result = run_cli("anonymise", str(raw), "--out", str(tmp_path / "out"), "--format", "json")
    assert result.code == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["key_fingerprint"] == key_from_text(ANON_KEY_TEXT).fingerprint
    written = (tmp_path / "out" / "live.json").read_bytes()
    assert_no_canary(written)
    assert b"live.person" not in written
    assert b"user-abcdefgh12345678" not in written
    assert_clean_output(result)


def test_raw_body_without_surface_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    source = PAYLOADS / "openai_users_list__official_example.json"
    result = run_cli("anonymise", str(source), "--out", str(tmp_path / "out"))
    assert result.code == 2
    assert "--surface" in one_error_line(result)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"{not json", "invalid JSON"), (b"", "empty"), (b"\xef\xbb\xbf{}", "byte-order mark")],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, content: bytes, problem: str) -> None:
    good = tmp_path / "good.json"
    good.write_bytes((PAYLOADS / "openai_users_list__official_example.json").read_bytes())
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    out = tmp_path / "out"
    result = run_cli(
        "anonymise", "--surface", "openai_org_users", str(good), str(bad), "--out", str(out)
    )
    assert result.code == 2
    assert problem in one_error_line(result)
    assert not out.exists()


def test_anonymise_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    source = tmp_path / "users.json"
    source.write_bytes((PAYLOADS / "openai_users_list__official_example.json").read_bytes())
    result = run_cli(
        "anonymise", "--surface", "openai_org_users", str(source), "--out", str(tmp_path)
    )
    assert result.code == 2
    assert "overwrite" in one_error_line(result)
    assert b"user@example.com" in source.read_bytes()


def test_anonymise_refuses_a_capture_made_with_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documented = ROOT / "captures/documented/openai_org_costs.json"
    result = run_cli("anonymise", str(documented), "--out", str(tmp_path))
    assert result.code == 2
    assert "already anonymised" in one_error_line(result)
    assert not list(tmp_path.glob("*.json"))


def test_unknown_surface_is_a_usage_error(tmp_path: Path) -> None:
    source = PAYLOADS / "openai_users_list__official_example.json"
    result = run_cli("anonymise", "--surface", "nope", str(source), "--out", str(tmp_path / "o"))
    assert result.code == 2
    assert "unknown surface" in one_error_line(result)


def test_key_file_is_created_in_the_config_dir_when_no_env_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERIFY_ANON_KEY")
    source = PAYLOADS / "openai_users_list__official_example.json"
    result = run_cli(
        "anonymise", "--surface", "openai_org_users", str(source), "--out", str(tmp_path / "o")
    )
    assert result.code == 0, result.stderr
    key_file = tmp_path / "xdg" / "verifier" / "anon.key"
    assert key_file.is_file()
    key_text = key_file.read_text(encoding="utf-8").strip()
    assert key_text not in result.stdout + result.stderr
    assert key_text.encode() not in (tmp_path / "o" / source.name).read_bytes()


def test_an_input_named_after_an_email_gets_a_safe_output_name(tmp_path: Path) -> None:
    source = tmp_path / "ann.lee@corp.example.json"
    source.write_bytes((PAYLOADS / "openai_users_list__official_example.json").read_bytes())
    out = tmp_path / "out"
    result = run_cli("anonymise", "--surface", "openai_org_users", str(source), "--out", str(out))
    assert result.code == 0, result.stderr
    (written,) = out.iterdir()
    assert written.suffix == ".json"
    assert "ann.lee" not in written.name and "@" not in written.name
    assert "ann.lee@corp.example" not in result.stdout + result.stderr
    assert run_cli("scan", str(out)).code == 0


def test_text_report_of_a_scan_names_its_group(tmp_path: Path) -> None:
    leaky = tmp_path / "leak.json"
    leaky.write_text('{"email": "someone@corp.test"}')
    result = run_cli("scan", str(leaky))
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "(files of no known surface)"
    assert lines[1].strip() == str(leaky)
    assert "someone@corp.test" not in result.stdout
