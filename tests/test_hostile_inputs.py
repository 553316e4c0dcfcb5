"""Hostile inputs, one class per case: hidden email forms, transformed secrets, values that
reports must not echo, malformed envelopes and option values at the edge of the contract.
Every case asserts the documented behaviour: the leak is found or masked, the exit code
is the contract's, the error is one line that quotes nothing from the file."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli_helpers import run_cli
from tests.conftest import CANARY_OPENAI_KEY, CANARY_WORKSPACE_ID, DOCUMENTED_CAPTURES, ROOT
from verifier.anonymise import anonymise_body, anonymise_text, is_pseudonym, pseudonym
from verifier.detect import leaks_in
from verifier.findings import Finding
from verifier.keys import key_from_text
from verifier.leakscan import scan_bytes
from verifier.redact import mask
from verifier.surfaces import get_surface

KEY = key_from_text("hostile-input-test-key")
COSTS = get_surface("openai_org_costs")
PERSON = "jane.doe"

HIDDEN_EMAILS = [
    "jörg.müller@bücher.example",  # non-ASCII local part and IDN domain
    "jane@xn--bcher-kva.example",  # punycode IDN
    '"jane doe"@corp.example',  # quoted local part
    "jane.doe&#64;corp.example",  # decimal HTML entity
    "jane.doe&#x40;corp.example",  # hex HTML entity
    "jane.doe&commat;corp.example",  # named HTML entity
    "jane.doe%40corp.example",  # percent-encoded once
    "jane.doe%2540corp.example",  # percent-encoded twice
    "jane.doe\\u0040corp.example",  # a JSON escape kept as text
    "jane.doe＠corp.example",  # noqa: RUF001 - full-width commercial at
    "jane.doe [at] corp.example",
    "o'brien@corp.example",
]


@pytest.mark.parametrize("hidden", HIDDEN_EMAILS)
def test_every_email_form_is_found_by_the_shared_detector(hidden: str) -> None:
    assert [k.kind for k in leaks_in(f"contact: {hidden}.")] == ["pii_leak"]


@pytest.mark.parametrize("hidden", HIDDEN_EMAILS)
def test_every_email_form_is_caught_by_the_scan_in_values_keys_and_text(hidden: str) -> None:
    for document in ({"note": hidden}, {hidden: 1}, {"error": {"message": f"user {hidden}"}}):
        found = scan_bytes(orjson.dumps(document), source="x", surface="")
        assert {f.kind for f in found} == {"pii_leak"}
    html_page = f"<html><body>Contact {hidden}</body></html>".encode()
    assert {f.kind for f in scan_bytes(html_page, source="x", surface="")} == {"pii_leak"}


@pytest.mark.parametrize("hidden", HIDDEN_EMAILS)
def test_every_email_form_is_anonymised_wherever_it_sits(hidden: str) -> None:
    body = {
        "object": "page",
        "data": [
            {
                "object": hidden,  # a schema-safe field
                "results": [{"line_item": f"for {hidden}", hidden: "key"}],
            }
        ],
        "error": {"message": f"no access for {hidden}"},
    }
    out = orjson.dumps(anonymise_body(COSTS, body, KEY))
    assert scan_bytes(out, source="x", surface="") == []
    assert PERSON.encode() not in out
    assert leaks_in(anonymise_text(f"<p>{hidden}</p>", KEY)) == []


def _secret_forms(secret: str) -> list[str]:
    return [
        secret.upper(),
        secret.removeprefix("sk-admin-"),
        secret[-12:],
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(b"Authorization: Bearer " + secret.encode()).decode(),
    ]


@pytest.mark.parametrize("form", _secret_forms(CANARY_OPENAI_KEY))
def test_transformed_secrets_in_use_are_found_and_masked(form: str) -> None:
    secrets = (CANARY_OPENAI_KEY, CANARY_WORKSPACE_ID)
    assert [k.kind for k in leaks_in(f"x {form} y", secrets)] == ["secret_leak"]
    assert leaks_in(mask(f"x {form} y", secrets), secrets) == []
    out = anonymise_text(f"x {form} y", KEY, secrets)
    assert leaks_in(out, secrets) == []


def test_workspace_id_without_dashes_or_upper_cased_is_masked() -> None:
    secrets = (CANARY_WORKSPACE_ID,)
    for form in (CANARY_WORKSPACE_ID.replace("-", ""), CANARY_WORKSPACE_ID.upper()):
        assert leaks_in(form, secrets)
        assert leaks_in(mask(form, secrets), secrets) == []


def test_header_names_with_ids_are_not_kept() -> None:
    from verifier.anonymise import _Anonymiser

    headers = {
        f"x-ratelimit-{CANARY_WORKSPACE_ID}": "1",
        "x-ratelimit-remaining-requests": "99",
        "x-request-id": "req_abc",
    }
    out = _Anonymiser(KEY, (CANARY_WORKSPACE_ID,)).headers(headers)
    assert "x-ratelimit-remaining-requests" in out
    assert not any(CANARY_WORKSPACE_ID[-8:] in name for name in out)


def test_findings_mask_whatever_built_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", CANARY_OPENAI_KEY)
    finding = Finding(
        surface="openai_org_costs",
        source="jane.doe@corp.example.json",
        kind="value_changed",
        path="object",
        pointer="/object",
        severity="breaking",
        expected="page",
        observed=f'string "{CANARY_OPENAI_KEY.upper()}"',
        message="jane.doe&#64;corp.example",
    )
    text = json.dumps(finding.to_json())
    assert leaks_in(text, (CANARY_OPENAI_KEY,)) == []
    assert PERSON not in text


def test_reports_echo_only_allowed_values(tmp_path: Path) -> None:
    body = {
        "object": "jane.doe@corp.example",
        "data": [
            {
                "object": "Jane Doe",
                "start_time": "+1 555 0100",
                "end_time": 1,
                "results": [{"object": "organization.costs.result", "amount": {"value": "0.13"}}],
            }
        ],
        "has_more": False,
        "next_page": None,
    }
    source = tmp_path / "body.json"
    source.write_text(json.dumps(body))
    for fmt in ("text", "json", "markdown", "junit", "github"):
        result = run_cli("check", "--surface", "openai_org_costs", str(source), "--format", fmt)
        assert result.code == 1
        for personal in ("jane.doe", "Jane Doe", "555 0100"):
            assert personal not in result.stdout
        assert '"0.13"' in result.stdout or "0.13" in result.stdout  # a number where one is due


def _capture(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": "verify-capture",
        "format_version": 1,
        "surface": "openai_org_costs",
        "captured_at": "2026-05-01T00:00:00Z",
        "anonymisation": {"method": "hmac-sha256/v1", "key_fingerprint": None},
        "request": {"method": "GET", "url_template": "https://x.example/v1", "query": {}},
        "pages": [{"status": 200, "url": "", "headers": {}, "body": {"data": []}}],
        "findings": [],
    }
    document.update(changes)
    return document


@pytest.mark.parametrize(
    "changes",
    [
        {"findings": ["jane.doe@corp.example"]},
        {"findings": [1, 2]},
        {"findings": "jane.doe@corp.example"},
        {"format_version": True},
        {"format_version": 1.0},
        {"format_version": "1"},
        {"pages": [{"status": "jane.doe@corp.example sk-admin-abcdefghijklmnop", "url": ""}]},
        {"surface": "jane.doe@corp.example"},
        {"pages": "jane.doe@corp.example"},
    ],
)
def test_malformed_capture_envelopes_are_one_line_input_errors(
    tmp_path: Path, changes: dict[str, Any]
) -> None:
    path = tmp_path / "capture.json"
    path.write_text(json.dumps(_capture(**changes)))
    for command in (["check"], ["diff"], ["scan"]):
        result = run_cli(*command, str(path))
        if command == ["scan"]:
            assert result.code in (0, 1)  # any file is scanned: a leak, never a crash
            continue
        assert result.code == 2, result.stderr
        assert result.stderr.count("\n") == 1
        assert "jane" not in result.stderr and "sk-admin" not in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_huge_integer_is_described_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_text('{"data": [], "has_more": false, "n": ' + "7" * 201 + "}")
    result = run_cli("check", "--surface", "openai_org_costs", str(path))
    assert result.code == 2
    assert "7777777" not in result.stderr and "201 digit(s)" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["sandbox", "--port", "70000"],
        ["capture", "--sandbox", "--start", "0001-01-01", "--end", "0001-01-02"],
        ["capture", "--sandbox", "--start", "9999-12-30", "--end", "9999-12-31"],
        ["merge", "x.json", "--out", "o.csv", "--credit-usd-rate", "1e400"],
    ],
)
def test_out_of_range_options_are_usage_errors(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.json").write_text(json.dumps(_capture()))
    result = run_cli(*args)
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "internal error" not in result.stderr


def test_missing_environment_variables_are_named_all_at_once(tmp_path: Path) -> None:
    env = {"OPENAI_ADMIN_KEY": "", "CODEX_ANALYTICS_KEY": "", "CHATGPT_WORKSPACE_ID": ""}
    result = run_cli(
        "capture", "--start", "2026-05-01", "--end", "2026-05-02", "--out", str(tmp_path), env=env
    )
    assert result.code == 2
    for name in env:
        assert name in result.stderr
    assert result.stderr.count("\n") == 1


def test_merge_out_to_an_unwritable_place_is_a_disk_error() -> None:
    result = run_cli(
        "merge",
        str(DOCUMENTED_CAPTURES),
        "--out",
        "/proc/version",
        "--locks-dir",
        str(ROOT / "captures" / "locks"),
    )
    assert result.code == 3, result.stderr
    assert "internal error" not in result.stderr and result.stderr.count("\n") == 1


def test_a_forged_fingerprint_does_not_turn_anonymisation_off(tmp_path: Path) -> None:
    env = {"VERIFY_ANON_KEY": "forged-fingerprint-test-key", "OPENAI_ADMIN_KEY": CANARY_OPENAI_KEY}
    forged = _capture(
        anonymisation={"method": "hmac-sha256/v1", "key_fingerprint": None},
        source=f"live for {PERSON}@corp.example",
        pages=[
            {
                "status": 200,
                "url": f"https://x.example/v1?email={PERSON}%40corp.example",
                "headers": {"set-cookie": f"s={CANARY_OPENAI_KEY}", "x-ratelimit-abc123": "1"},
                "body": {"data": [{"note": f"{PERSON}&#64;corp.example"}], "has_more": False},
            }
        ],
        findings=[{"kind": "http_status", "message": f"key {CANARY_OPENAI_KEY.upper()}"}],
    )
    from verifier.keys import key_from_text as make_key

    forged["anonymisation"]["key_fingerprint"] = make_key(env["VERIFY_ANON_KEY"]).fingerprint
    source = tmp_path / "forged.json"
    source.write_text(json.dumps(forged))
    out = tmp_path / "out"
    first = run_cli("anonymise", str(source), "--out", str(out), env=env)
    assert first.code == 0, first.stderr
    written = (out / "forged.json").read_text()
    assert PERSON not in written and CANARY_OPENAI_KEY[-8:].lower() not in written.lower()
    assert "set-cookie" not in written and "abc123" not in written
    again = run_cli(
        "anonymise", str(out / "forged.json"), "--out", str(tmp_path / "again"), env=env
    )
    assert again.code == 0
    assert (tmp_path / "again" / "forged.json").read_text() == written  # idempotent


def _users_capture(rows: list[dict[str, Any]], fingerprint: str | None) -> dict[str, Any]:
    return _capture(
        surface="openai_org_users",
        anonymisation={"method": "hmac-sha256/v2", "key_fingerprint": fingerprint},
        pages=[
            {
                "status": 200,
                "url": "",
                "headers": {},
                "body": {"object": "list", "data": rows, "has_more": False},
            }
        ],
    )


def _user(uid: str, name: str, email: str) -> dict[str, Any]:
    return {"object": "organization.user", "id": uid, "name": name, "email": email}


def test_raw_values_in_a_capture_claiming_the_current_fingerprint_are_replaced(
    tmp_path: Path,
) -> None:
    """A fingerprint is a claim: only pseudonyms whose keyed tag checks out are kept. Raw
    ids, names and addresses (also at the anonymised domain) and pseudonyms of another
    key are replaced; the real pseudonyms stay, so joins survive and a second run is
    byte-identical."""
    env = {"VERIFY_ANON_KEY": "forged-pseudonym-test-key"}
    key = key_from_text(env["VERIFY_ANON_KEY"])
    genuine_source = tmp_path / "genuine.json"
    genuine_source.write_text(
        json.dumps(
            _users_capture([_user("user-Q7hT2kPz9XwL4mNb", "Ada Lovelace", "ada@x.example")], None)
        )
    )
    assert (
        run_cli("anonymise", str(genuine_source), "--out", str(tmp_path / "g"), env=env).code == 0
    )
    genuine = json.loads((tmp_path / "g" / "genuine.json").read_text())["pages"][0]["body"]["data"][
        0
    ]
    other_key = key_from_text("some-other-key")
    forged_rows = [
        genuine,
        _user("user-RAWid0000zelda1234", "Zelda Quokka-Fitzgerald", "zelda.quokka@anon.invalid"),
        _user(
            pseudonym("user-Q7hT2kPz9XwL4mNb", "person_id", other_key),
            pseudonym("Ada Lovelace", "name", other_key),
            pseudonym("ada@x.example", "email", other_key),
        ),
    ]
    source = tmp_path / "forged.json"
    source.write_text(json.dumps(_users_capture(forged_rows, key.fingerprint)))
    first = run_cli("anonymise", str(source), "--out", str(tmp_path / "once"), env=env)
    assert first.code == 0, first.stderr
    written = (tmp_path / "once" / "forged.json").read_text()
    rows = json.loads(written)["pages"][0]["body"]["data"]
    assert rows[0] == genuine  # this key's pseudonyms are kept: idempotent, joins survive
    for raw in ("RAWid", "zelda", "Zelda", "Quokka"):
        assert raw not in written
    for member in ("id", "name", "email"):
        assert rows[2][member] != forged_rows[2][member]  # another key's: replaced
        assert is_pseudonym(rows[1][member], key) and is_pseudonym(rows[2][member], key)
    again = run_cli(
        "anonymise", str(tmp_path / "once" / "forged.json"), "--out", str(tmp_path / "twice"),
        env=env,
    )  # fmt: skip
    assert again.code == 0, again.stderr
    assert (tmp_path / "twice" / "forged.json").read_text() == written


def test_an_address_at_the_anonymised_domain_that_is_no_pseudonym_is_a_leak() -> None:
    """`jane.doe@anon.invalid` carries a name: the scan, the leak gate and report masking
    treat it like any address; only `u-<hex>@anon.invalid` is the anonymiser's."""
    forgeries = (
        f"{PERSON}@anon.invalid",
        f'"{PERSON}"@anon.invalid',
        f"{PERSON}%40anon.invalid",
        f"{PERSON}u-0123456789abcdef@anon.invalid",
        f"{PERSON}&#64;anon.invalid",
    )
    for forged in forgeries:
        assert [k.kind for k in leaks_in(f"user {forged}")] == ["pii_leak"], forged
        assert PERSON not in mask(f"user {forged} refused")
        found = scan_bytes(orjson.dumps({"note": forged}), source="x", surface="")
        assert {f.kind for f in found} == {"pii_leak"}
    for genuine in ("u-0123456789abcdef@anon.invalid", "u-0123456789abcdef01234567@anon.invalid"):
        assert leaks_in(f"user {genuine}") == []
        assert mask(f"user {genuine}") == f"user {genuine}"
    body = {"data": [{"note": f"{PERSON}@anon.invalid"}], "has_more": False}
    out = json.dumps(anonymise_body(COSTS, body, KEY))
    assert PERSON not in out


@pytest.mark.parametrize(
    "command",
    [
        ["check", "--surface", "openai_org_costs"],
        ["scan"],
        ["diff", "--surface", "openai_org_costs"],
    ],
)
def test_a_named_pipe_is_refused_never_read(tmp_path: Path, command: list[str]) -> None:
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    # Nobody ever writes to the pipe: reading it would block forever; the bound below
    # only keeps a regression from hanging the suite.
    done = subprocess.run(
        [sys.executable, "-m", "verifier", *command, str(pipe)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert b"not a regular file" in done.stderr and done.stderr.count(b"\n") == 1


def test_anonymise_writes_all_outputs_or_none(tmp_path: Path) -> None:
    reference = Path(__file__).parent / "data/reference"
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for path in (first, second):
        path.write_text((reference / "openai_costs__official_example_2026-08.json").read_text())
    out = tmp_path / "out"
    (out / "b.json").mkdir(parents=True)  # b's output cannot be written
    env = {"VERIFY_ANON_KEY": "all-or-nothing-test-key"}
    result = run_cli(
        "anonymise", "--surface", "openai_org_costs", str(first), str(second), "--out", str(out),
        env=env,
    )  # fmt: skip
    assert result.code == 3, result.stderr
    assert "nothing was written" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["b.json"]  # only what was there before


def test_values_at_discriminator_leaves_reach_a_lock_only_when_public(tmp_path: Path) -> None:
    """Found by the atheris run: a lock recorded the values seen under `type`, `status`
    and the like as they were (an IP address, a numeric id, a name). A lock is committed:
    it keeps public vocabulary and small numbers, anything else as a keyed hash, which
    still tells a new value from the locked ones."""
    body = orjson.loads(
        (ROOT / "tests" / "data" / "documented" / "openai_org_costs.json").read_bytes()
    )
    result = body["data"][0]["results"][0]
    planted = {"type": "203.0.113.77", "status": 91827364554637, "role": "Zelda Quokka"}
    result.update(planted)
    source = tmp_path / "body.json"
    source.write_bytes(orjson.dumps(body))
    locks = tmp_path / "locks"
    env = {"VERIFY_ANON_KEY": "discriminator-values-test-key"}
    locked = run_cli(
        "lock", str(source), "--surface", "openai_org_costs", "--locks-dir", str(locks), env=env
    )
    assert locked.code == 0, locked.stderr
    written = (locks / "openai_org_costs.lock.json").read_text()
    for value in planted.values():
        assert str(value) not in written and str(value) not in locked.stdout
    assert '"usd"' in written and '"organization.costs.result"' in written  # public: kept

    def value_findings(document: dict[str, Any]) -> list[str]:
        source.write_bytes(orjson.dumps(document))
        diffed = run_cli(
            "diff", str(source), "--surface", "openai_org_costs", "--against", "lock",
            "--locks-dir", str(locks), "--format", "json", env=env,
        )  # fmt: skip
        assert "203.0.113.77" not in diffed.stdout
        found = orjson.loads(diffed.stdout)["findings"]
        return [f["path"] for f in found if f["kind"] == "value_changed"]

    assert value_findings(body) == []  # the same values: no drift
    result["type"] = "198.51.100.3"
    assert value_findings(body) == ["data[].results[].type"]  # a new one is still seen


@pytest.mark.parametrize(
    "name", ["zelda.quokka%2540c//p.example", "zelda.quokka%40cor@@P~~p.example", "jane/doe~x"]
)
def test_a_member_name_with_slashes_or_tildes_is_withheld_from_pointers(name: str) -> None:
    """Found by the atheris run: a member name that is data was withheld from the path
    but not from the pointer, which spells `/` as `~1` and `~` as `~0`."""
    escaped = name.replace("~", "~0").replace("/", "~1")
    finding = Finding(
        surface="openai_org_users",
        source="x.json",
        kind="field_added",
        path=f"data[].{name}",
        pointer=f"/data/0/{escaped}",
        severity="info",
        expected="absent",
        observed="present",
        message=f"observed present at /data/0/{escaped}",
    )
    for text in (finding.path, finding.pointer, finding.message):
        assert "zelda" not in text and "jane" not in text, text
