"""The observed-shape profile: types, nulls, presence, timestamp classes, values, money."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from verifier import paths
from verifier.inputs import StreamedSource, load_inputs
from verifier.profile import (
    SKETCH_LIMIT,
    Profile,
    Profiler,
    ProfileSink,
    classify_number,
    classify_string,
    expected_profile,
    profile_input,
    sketch_key,
)
from verifier.surfaces import get_surface

from .drift_support import (
    PAYLOADS,
    SURFACE_NAMES,
    documented_capture,
    mutated,
    observed,
    write_body,
)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("2026-05-01T00:00:00Z", "rfc3339-z"),
        ("2026-05-01T00:00:00.123Z", "rfc3339-z-fraction"),
        ("2026-05-01T00:00:00+00:00", "rfc3339-offset"),
        ("2026-05-01T02:00:00.5-05:30", "rfc3339-offset"),
        ("2026-05-01T00:00:00", "datetime-naive"),
        ("2026-05-01", "date"),
        ("12.50", "numeric-string"),
        ("0.8958740000000000", "numeric-string"),
        ("-3", "numeric-string"),
        ("user@example.com", None),
        ("wsu_abc123", None),
        ("", None),
    ],
)
def test_classify_string(text: str, fmt: str | None) -> None:
    assert classify_string(text) == fmt


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        (1777593600, "unix-seconds"),
        (1777593600000, "unix-millis"),
        (1777593600.5, "unix-seconds"),
        (48, None),
        (100000, None),
    ],
)
def test_classify_number(value: float, fmt: str | None) -> None:
    assert classify_number(value) == fmt


def test_documented_chatgpt_capture_profile() -> None:
    profile = observed(documented_capture("chatgpt_enterprise_usage"))
    rows = profile.paths["data[]"]
    assert rows.present == 2
    start = profile.paths["data[].start_time"]
    assert start.types == {"string": 2}
    assert start.formats == {"rfc3339-z": 2}
    assert start.first_pointer == "/pages/0/body/data/0/start_time"
    assert start.always_present
    email = profile.paths["data[].user.email"]
    assert (email.present, email.parents) == (1, 2)
    assert not email.always_present
    assert email.absent_pointer == "/pages/0/body/data/1/user/email"
    assert email.values is None  # personal data is never recorded
    credits = profile.paths["data[].credits"]
    assert credits.money is not None
    assert credits.money.count == 2
    assert credits.unit == "credits"
    assert profile.paths["next_page"].nullable
    assert profile.bodies == 1


def test_discriminator_values_nulls_and_numeric_strings(tmp_path: Path) -> None:
    body = mutated("openai_org_costs")
    result = body["data"][0]["results"][0]
    result["amount"]["value"] = "12.50"
    second = {**result, "amount": {"value": "0.25", "currency": "usd"}, "user_id": None}
    body["data"][0]["results"].append(second)
    profile = observed(write_body(tmp_path, "costs.json", body), "openai_org_costs")
    kinds = profile.paths["data[].results[].object"]
    assert kinds.value_set == frozenset({"organization.costs.result"})
    value = profile.paths["data[].results[].amount.value"]
    assert value.types == {"string": 2}
    assert value.formats == {"numeric-string": 2}
    assert value.money is not None
    assert value.money.mean == pytest.approx((12.5 + 0.25) / 2)
    assert not value.money.integral
    user = profile.paths["data[].results[].user_id"]
    assert user.nulls == 1
    assert user.type_pointers["null"] == "/data/0/results/1/user_id"


def test_new_member_in_a_later_object_is_absent_from_the_first(tmp_path: Path) -> None:
    body = mutated("chatgpt_enterprise_usage")
    body["data"][1]["tokens"]["reasoning"] = 7
    profile = observed(write_body(tmp_path, "b.json", body), "chatgpt_enterprise_usage")
    reasoning = profile.paths["data[].tokens.reasoning"]
    assert (reasoning.present, reasoning.parents) == (1, 2)
    assert reasoning.absent_pointer == "/data/0/tokens/reasoning"
    assert reasoning.first_pointer == "/data/1/tokens/reasoning"


def test_mixed_types_keep_the_first_pointer_of_each() -> None:
    profiler = Profiler(get_surface("openai_org_costs"))
    profiler.add_body({"data": [{"start_time": 1}, {"start_time": "x"}, {"start_time": None}]})
    start = profiler.result().paths["data[].start_time"]
    assert start.types == {"integer": 1, "string": 1}
    assert start.type_pointers == {
        "integer": "/data/0/start_time",
        "string": "/data/1/start_time",
        "null": "/data/2/start_time",
    }


def test_expected_profile_reads_the_schema() -> None:
    profile = expected_profile(get_surface("openai_org_costs"))
    assert profile.documented
    value = profile.paths["data[].results[].amount.value"]
    assert value.type_set == {"number"}
    assert value.unit == "usd"
    assert not value.always_present  # the official spec requires only `object`
    start = profile.paths["data[].start_time"]
    assert start.format_set == {"unix-seconds"}
    assert start.is_timestamp
    discriminator = profile.paths["data[].results[].object"]
    assert discriminator.value_set == frozenset({"organization.costs.result"})
    assert profile.paths["next_page"].nullable
    assert not profile.paths["data[].results[].user_id"].always_present


@pytest.mark.parametrize("surface", SURFACE_NAMES)
def test_profile_round_trips_through_json(surface: str) -> None:
    profile = observed(documented_capture(surface))
    assert Profile.from_json(profile.to_json()) == profile


STREAMABLE = [
    ("chatgpt_daily_usage__peer_transcription_2026-10.json", "chatgpt_enterprise_usage"),
    ("codex_analytics_usage__peer_fixture_page1.json", "chatgpt_enterprise_usage"),
    ("openai_costs__official_example_2026-08.json", "openai_org_costs"),
    ("openai_costs__official_example_2024-12_typo_discriminator.json", "openai_org_costs"),
    ("openai_usage_completions__official_example_2026-08.json", "openai_org_usage_completions"),
    ("openai_users_list__official_example.json", "openai_org_users"),
]


@pytest.mark.parametrize(("name", "surface"), STREAMABLE)
def test_streamed_profile_equals_whole_profile(name: str, surface: str) -> None:
    [streamed] = load_inputs([PAYLOADS / name], surface, stream_min_bytes=0)
    assert isinstance(streamed, StreamedSource)
    sink = ProfileSink(streamed.surface, sketch_key([streamed]))  # a raw body: keyed
    streamed.stream_bodies(sink)  # it really streams (NotStreamable otherwise)
    assert sink.profiler.result() == observed(PAYLOADS / name, surface)
    assert profile_input(streamed) == (sink.profiler.result(), [])


# -- The column-wise walk equals the obvious one-value-at-a-time walk ----------------------

_POOL: list[Any] = [
    None,
    True,
    0,
    7,
    1.5,
    1777593600,  # Unix seconds
    1777593600000,  # Unix milliseconds
    "",
    " 12",
    "!x",
    "+1",
    "12.5",
    "2026-05-01",
    "2026-05-01T00:00:00Z",
    "usd",
    "user_abc",
]


def _random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return _random_object(rng, depth + 1)
    if depth < 3 and roll < 0.25:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(_POOL)


def _random_object(rng: random.Random, depth: int) -> dict[str, Any]:
    keys = rng.sample(["a", "b", "c", "object", "credits"], rng.randint(0, 4))
    return {key: _random_value(rng, depth) for key in keys}


def _rows(rng: random.Random, uniform: bool) -> list[Any]:
    template = _random_object(rng, 1)
    rows = []
    for _ in range(rng.randint(1, 30)):
        if uniform:  # same members (in another order, now and then), random values
            keys = list(template)
            if rng.random() < 0.2:
                rng.shuffle(keys)
            rows.append({key: _random_value(rng, 2) for key in keys})
        else:
            rows.append(_random_object(rng, 1) if rng.random() < 0.9 else rng.choice(_POOL))
    return rows


def _naive(body: Any) -> dict[str, dict[str, Any]]:
    """Per path, one value at a time in document order."""
    out: dict[str, dict[str, Any]] = {}
    parents: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def visit(path: str, value: Any, pointer: str) -> None:
        seen = out.setdefault(
            path,
            {
                "types": {},
                "nulls": 0,
                "present": 0,
                "type_pointers": {},
                "first": pointer,
                "formats": {},
                "format_pointers": {},
            },
        )
        seen["present"] += 1
        name = {
            bool: "boolean",
            int: "integer",
            float: "number",
            str: "string",
            dict: "object",
            list: "array",
            type(None): "null",
        }[type(value)]
        if value is None:
            seen["nulls"] += 1
        else:
            seen["types"][name] = seen["types"].get(name, 0) + 1
        seen["type_pointers"].setdefault(name, pointer)
        fmt = None
        if name == "string":
            fmt = classify_string(value)
        elif name in ("integer", "number"):
            fmt = classify_number(value)
        if fmt is not None:
            seen["formats"][fmt] = seen["formats"].get(fmt, 0) + 1
            seen["format_pointers"].setdefault(fmt, pointer)
        if name == "object":
            parents.setdefault(path, []).append((pointer, value))
            for key, member in value.items():
                visit(paths.child(path, key), member, f"{pointer}/{paths.escape_token(key)}")
        elif name == "array":
            for i, item in enumerate(value):
                visit(paths.item(path), item, f"{pointer}/{i}")

    visit("", body, "")
    for parent, objects in parents.items():
        for key in dict.fromkeys(k for _p, o in objects for k in o):
            child = out[paths.child(parent, key)]
            child["parents"] = len(objects)
            lacking = [p for p, o in objects if key not in o]
            child["absent"] = f"{lacking[0]}/{paths.escape_token(key)}" if lacking else None
    return out


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("seed", range(40))
def test_column_walk_equals_the_naive_walk(seed: int, uniform: bool) -> None:
    rng = random.Random(seed)
    data = _rows(rng, uniform)
    body = {"object": "page", "data": data, "has_more": False}
    expected = _naive(body)
    surface = get_surface("openai_org_costs")
    whole = Profiler(surface)
    whole.add_body(body)
    streamed = Profiler(surface)  # rows in batches, as a large file is read
    for index, row in enumerate(data):
        streamed.add_row(index, row)
    streamed.add_body({**body, "data": []})
    for profile in (whole.result(), streamed.result()):
        assert set(profile.paths) == set(expected) - {""}
        for path, got in profile.paths.items():
            want = expected[path]
            assert dict(got.types) == want["types"], path
            assert (got.nulls, got.present) == (want["nulls"], want["present"]), path
            assert dict(got.type_pointers) == want["type_pointers"], path
            assert got.first_pointer == want["first"], path
            assert dict(got.formats) == want["formats"], path
            assert dict(got.format_pointers) == want["format_pointers"], path
            if "parents" in want:
                assert got.parents == want["parents"], path
                assert got.absent_pointer == want["absent"], path


# -- Value fingerprints ----------------------------------------------------------------------


def _fingerprinted(rows: list[dict[str, Any]]) -> Profile:
    profiler = Profiler(get_surface("openai_org_costs"))
    profiler.add_body({"object": "page", "data": rows, "has_more": False})
    return profiler.result()


def test_fingerprint_counts_numbers_exactly_and_hashes_the_rest() -> None:
    rows = [{"n": i, "x": 0.1, "s": f"id-{i % 3}", "b": i % 2 == 0} for i in range(30)]
    rows[4]["n"] = None
    profile = _fingerprinted(rows)
    n = profile.paths["data[].n"]
    assert (n.values_seen, n.nulls) == (29, 1)
    assert n.fingerprint is not None and n.fingerprint.numbers is not None
    numbers = n.fingerprint.numbers
    assert (numbers.count, numbers.minimum, numbers.maximum) == (29, 0, 29)
    assert numbers.total == sum(range(30)) - 4
    x = profile.paths["data[].x"].fingerprint
    assert x is not None and x.numbers is not None
    assert x.numbers.total == 3.0  # 30 x 0.1, correctly rounded, not 2.9999999999999996
    s = profile.paths["data[].s"].fingerprint
    assert s is not None and s.numbers is None and s.sketch is not None
    assert s.sketch.size == 30
    assert "id-1" not in json.dumps(profile.to_json())  # hashes, never the strings


def test_fingerprint_ignores_order_but_not_rows() -> None:
    rows = [{"v": f"u{i}"} for i in range(10)]
    same = _fingerprinted(rows).paths["data[].v"].fingerprint
    shuffled = _fingerprinted(rows[::-1]).paths["data[].v"].fingerprint
    assert same is not None and shuffled is not None
    assert same.sketch is not None and shuffled.sketch is not None
    assert same.sketch.values == shuffled.sketch.values
    assert same.sketch.rows == shuffled.sketch.rows
    assert same.sketch.pairs != shuffled.sketch.pairs  # the same values in other rows


def test_fingerprint_sees_through_a_type_change() -> None:
    numbers = _fingerprinted([{"v": 12.5}, {"v": 3}]).paths["data[].v"].fingerprint
    strings = _fingerprinted([{"v": "12.50"}, {"v": "3"}]).paths["data[].v"].fingerprint
    assert numbers is not None and strings is not None
    assert numbers.sketch == strings.sketch


def test_fingerprint_sketch_is_bounded() -> None:
    rows = [{"v": i} for i in range(3000)]
    fingerprint = _fingerprinted(rows).paths["data[].v"].fingerprint
    assert fingerprint is not None and fingerprint.sketch is not None
    assert fingerprint.sketch.size == SKETCH_LIMIT
    assert fingerprint.numbers is not None and fingerprint.numbers.count == 3000
