"""The observed-shape profile: types, nulls, presence, timestamp classes, values, money."""

from __future__ import annotations

from pathlib import Path

import pytest

from verifier.inputs import StreamedSource, load_inputs
from verifier.profile import (
    Profile,
    Profiler,
    classify_number,
    classify_string,
    expected_profile,
    profile_input,
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
    assert value.always_present
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
    profile, whole = profile_input(streamed)
    assert whole is None  # it really streamed
    assert profile == observed(PAYLOADS / name, surface)
