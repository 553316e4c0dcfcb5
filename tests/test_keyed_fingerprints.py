"""Value fingerprints of raw payloads are keyed: a lock (a committed file) made from a raw
body cannot confirm a guessed personal value, yet stays deterministic for one key and
still recognises moves by values against inputs profiled under the same key. Anonymised
captures hold only pseudonyms, public vocabulary and numbers: their fingerprints stay
unkeyed, comparable on every machine (the committed locks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import ROOT
from tests.drift_support import write_body
from verifier.inputs import load_inputs
from verifier.keys import key_from_text
from verifier.moves import value_class
from verifier.profile import PathProfile, sketch_key, stable_hash, value_token

COSTS = "openai_org_costs"
USER_PATH = "data[].results[].user_id"
PHONE_PATH = "data[].results[].phone"
ZELDA = "user-zeldaquokka1971"
PHONE = 15550143998


def raw_body(user_id: str = ZELDA, member: str = "user_id") -> dict[str, Any]:
    """One cost result of one person: a leaf of one value is one hash in the lock."""
    result = {
        "object": "organization.costs.result",
        "amount": {"value": 0.37, "currency": "usd"},
        "line_item": None,
        member: user_id,
        "project_id": None,
        "phone": PHONE,  # a number at a path the schema does not know
    }
    bucket = {"object": "bucket", "start_time": 1777593600, "end_time": 1777680000}
    return {
        "object": "page",
        "data": [{**bucket, "results": [result]}],
        "has_more": False,
        "next_page": None,
    }


def lock_of(tmp_path: Path, body: dict[str, Any], env: dict[str, str], name: str) -> Any:
    source = write_body(tmp_path, f"{name}.json", body)
    locks = tmp_path / name
    result = run_cli("lock", str(source), "--surface", COSTS, "--locks-dir", str(locks), env=env)
    assert result.code == 0, result.stderr
    return json.loads((locks / f"{COSTS}.lock.json").read_text())


def sketch(lock: Any, path: str) -> dict[str, Any]:
    found: dict[str, Any] = lock["profile"]["paths"][path]["fingerprint"]["sketch"]
    return found


def test_a_lock_of_a_raw_body_cannot_confirm_a_guessed_value(tmp_path: Path) -> None:
    env = {"VERIFY_ANON_KEY": "keyed-fingerprint-test-key"}
    lock = lock_of(tmp_path, raw_body(), env, "locks")
    text = json.dumps(lock)
    user = sketch(lock, USER_PATH)
    guessed = f"{stable_hash(value_token(ZELDA)):016x}"  # what anyone can compute
    assert user["values"] != guessed
    assert guessed not in text
    assert user["key"] == key_from_text(env["VERIFY_ANON_KEY"]).fingerprint  # public
    # The number range of a raw leaf is a keyed hash too: a one-value leaf would show it.
    phone = lock["profile"]["paths"][PHONE_PATH]["fingerprint"]
    assert phone["numbers"] is None and phone["sketch"]["numbers"]
    assert str(PHONE) not in text and ZELDA not in text


def test_the_key_holder_can_still_compare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash is the BLAKE2b of the value keyed with a secret derived from the
    anonymisation key: whoever holds the key (the tool) gets the same number."""
    env = {"VERIFY_ANON_KEY": "keyed-fingerprint-test-key"}
    lock = lock_of(tmp_path, raw_body(), env, "locks")
    monkeypatch.setenv("VERIFY_ANON_KEY", env["VERIFY_ANON_KEY"])
    key = sketch_key(load_inputs([tmp_path / "locks.json"], COSTS))
    assert key is not None
    expected = f"{stable_hash(value_token(ZELDA), key.secret):016x}"
    assert sketch(lock, USER_PATH)["values"] == expected


def test_one_key_gives_the_same_lock_and_another_key_other_hashes(tmp_path: Path) -> None:
    one = {"VERIFY_ANON_KEY": "keyed-fingerprint-test-key"}
    other = {"VERIFY_ANON_KEY": "another-keyed-fingerprint-key"}
    first = lock_of(tmp_path, raw_body(), one, "first")
    again = lock_of(tmp_path, raw_body(), one, "again")
    elsewhere = lock_of(tmp_path, raw_body(), other, "elsewhere")
    assert first["profile"] == again["profile"]  # deterministic for one key
    assert sketch(first, USER_PATH)["values"] != sketch(elsewhere, USER_PATH)["values"]
    assert sketch(first, USER_PATH)["key"] != sketch(elsewhere, USER_PATH)["key"]


def test_a_move_is_still_recognised_by_its_values_under_one_key(tmp_path: Path) -> None:
    env = {"VERIFY_ANON_KEY": "keyed-fingerprint-test-key"}
    lock_of(tmp_path, raw_body(), env, "locks")
    live = write_body(tmp_path, "live.json", raw_body(member="member"))
    result = run_cli(
        "diff", str(live), "--surface", COSTS, "--against", "lock",
        "--locks-dir", str(tmp_path / "locks"), "--format", "json", env=env,
    )  # fmt: skip
    [moved] = [f for f in json.loads(result.stdout)["findings"] if f["kind"] == "field_moved"]
    assert moved["expected"] == f"at {USER_PATH}"
    assert "same 1 values in the same 1 rows" in moved["message"]


def test_sketches_under_different_keys_never_pair() -> None:
    def leaf(key: str | None) -> PathProfile:
        raw = {
            "types": {"string": 1},
            "nullable": False,
            "always_present": True,
            "present": 1,
            "parents": 1,
            "fingerprint": {
                "numbers": None,
                "sketch": {"size": 1, "values": "0" * 16, "rows": "1" * 16, "pairs": "2" * 16}
                | ({"key": key, "numbers": None} if key else {}),
            },
        }
        return PathProfile.from_json(USER_PATH, raw)

    assert value_class(leaf(None)) == value_class(leaf(None))
    assert value_class(leaf("sha256:aaaa")) != value_class(leaf(None))
    assert value_class(leaf("sha256:aaaa")) != value_class(leaf("sha256:bbbb"))


def test_anonymised_captures_keep_unkeyed_fingerprints_comparable_everywhere() -> None:
    """The committed locks come from anonymised captures: no sketch in them is keyed."""
    for path in sorted((ROOT / "captures" / "locks").glob("*.lock.json")):
        for leaf in json.loads(path.read_text())["profile"]["paths"].values():
            found = (leaf.get("fingerprint") or {}).get("sketch") or {}
            assert "key" not in found, path.name
