"""Merge library: values, timestamps, parsers, identity join, cost basis, allocation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.merge_builders import (
    DAY,
    DAY_SECONDS,
    PER_DAY_COSTS,
    bucket,
    chatgpt_body,
    chatgpt_row,
    cost_result,
    documented_plans,
    openai_body,
    rfc3339,
    source,
    unix,
    usage_result,
    users_body,
)
from verifier.errors import InputError, UsageError
from verifier.merge import MergedRow, MergeResult, merge_sources
from verifier.merge.allocate import split_exactly
from verifier.merge.spill import set_budget
from verifier.merge.values import parse_rate

CHATGPT = "chatgpt_enterprise_usage"
USAGE = "openai_org_usage_completions"
COSTS = "openai_org_costs"
USERS = "openai_org_users"


def rows_by_person(result: MergeResult) -> dict[str, MergedRow]:
    return {row.person: row for row in result.rows}


def test_joins_chatgpt_and_openai_by_email_case_insensitively() -> None:
    result = merge_sources(
        [
            source(
                CHATGPT, chatgpt_body([chatgpt_row("wsu_1", email="Dev@Example.com", credits=10)])
            ),
            source(USAGE, openai_body([bucket([usage_result("user-1", tokens_in=100, out=5)])])),
            source(COSTS, openai_body([bucket([cost_result("user-1", 0.25)])])),
            source(USERS, users_body([("user-1", "dev@example.com")])),
        ]
    )
    (row,) = result.rows
    assert (row.date, row.person, row.email) == ("2026-05-01", "dev@example.com", "dev@example.com")
    assert (row.chatgpt_user_id, row.openai_user_id) == ("wsu_1", "user-1")
    assert row.codex_credits == Decimal(10)
    assert (row.api_input_tokens, row.api_output_tokens) == (100, 5)
    assert (row.api_cost_usd, row.api_cost_basis, row.partial) == (Decimal("0.25"), "billed", False)
    assert result.coverage.credits.ratio == Decimal("1.0000")
    assert result.coverage.dollars.ratio == Decimal("1.0000")
    assert (result.coverage.people, result.coverage.people_joined) == (1, 1)


def test_people_without_email_stay_apart_and_userless_api_rows_are_unattributed() -> None:
    result = merge_sources(
        [
            source(CHATGPT, chatgpt_body([chatgpt_row("wsu_2", credits=7)])),
            source(
                USAGE,
                openai_body(
                    [bucket([usage_result("user-9", tokens_in=3), usage_result(None, out=4)])]
                ),
            ),
            source(
                COSTS, openai_body([bucket([cost_result("user-9", 1), cost_result(None, "2.5")])])
            ),
            source(USERS, users_body([("user-9", None)])),
        ]
    )
    rows = rows_by_person(result)
    assert set(rows) == {"chatgpt:wsu_2", "openai:user-9", "unattributed"}
    assert rows["chatgpt:wsu_2"].codex_credits == 7
    assert rows["chatgpt:wsu_2"].api_cost_usd == 0  # the costs cover the day: zero, billed
    assert rows["openai:user-9"].api_cost_basis == "billed"
    assert (rows["unattributed"].api_cost_usd, rows["unattributed"].api_cost_basis) == (
        Decimal("2.5"),
        "unattributed",
    )
    assert result.coverage.credits.ratio == 0
    assert result.coverage.people_joined == 0


def test_api_user_missing_from_the_users_list_is_an_openai_person() -> None:
    result = merge_sources([source(USAGE, openai_body([bucket([usage_result("user-x", out=1)])]))])
    assert [row.person for row in result.rows] == ["openai:user-x"]
    assert result.rows[0].api_cost_usd is None  # no costs capture: no figure, not zero
    assert result.rows[0].api_cost_basis is None


def test_per_day_costs_are_allocated_by_tokens_and_sum_exactly() -> None:
    result = merge_sources(
        [
            source(
                USAGE,
                openai_body(
                    [bucket([usage_result("u-a", tokens_in=1, out=0), usage_result("u-b", out=2)])]
                ),
            ),
            source(COSTS, openai_body([bucket([cost_result(None, "1.00")])]), query=PER_DAY_COSTS),
            source(USERS, users_body([("u-a", "a@x.invalid"), ("u-b", "b@x.invalid")])),
        ]
    )
    rows = rows_by_person(result)
    assert rows["a@x.invalid"].api_cost_usd == Decimal("0.333333")
    assert rows["b@x.invalid"].api_cost_usd == Decimal("0.666667")
    assert {row.api_cost_basis for row in result.rows} == {"allocated"}
    assert sum(row.api_cost_usd or 0 for row in result.rows) == Decimal("1.00")


def test_per_day_costs_without_api_tokens_stay_unattributed() -> None:
    result = merge_sources(
        [
            source(CHATGPT, chatgpt_body([chatgpt_row("wsu_1", credits=1)])),
            source(COSTS, openai_body([bucket([cost_result(None, 3)])]), query=PER_DAY_COSTS),
        ]
    )
    rows = rows_by_person(result)
    assert (rows["unattributed"].api_cost_usd, rows["unattributed"].api_cost_basis) == (
        Decimal(3),
        "unattributed",
    )
    assert rows["chatgpt:wsu_1"].api_cost_basis == "allocated"
    assert rows["chatgpt:wsu_1"].api_cost_usd == 0


def test_costs_naming_users_are_billed_even_without_the_query() -> None:
    result = merge_sources(
        [source(COSTS, openai_body([bucket([cost_result("user-1", 2)])]), query={})]
    )
    assert result.rows[0].api_cost_basis == "billed"


def test_clamped_edge_buckets_are_kept_and_flagged_partial() -> None:
    start = unix(DAY) + 17 * 3600
    result = merge_sources(
        [
            source(
                USAGE,
                openai_body(
                    [
                        bucket(
                            [usage_result("u", out=1)], start=start, end=unix(DAY) + DAY_SECONDS
                        ),
                        bucket([usage_result("u", out=2)], day=DAY + timedelta(days=1)),
                    ]
                ),
            ),
            source(
                CHATGPT,
                chatgpt_body([chatgpt_row("wsu", start="2026-05-01T17:00:00Z", credits=1)]),
            ),
        ]
    )
    flags = {(row.date, row.person): row.partial for row in result.rows}
    assert flags == {
        ("2026-05-01", "openai:u"): True,
        ("2026-05-01", "chatgpt:wsu"): True,
        ("2026-05-02", "openai:u"): False,
    }


def test_two_clamped_pieces_of_one_day_add_up_but_whole_duplicates_are_refused() -> None:
    noon = unix(DAY) + DAY_SECONDS // 2
    halves = openai_body(
        [
            bucket([usage_result("u", out=1)], start=unix(DAY), end=noon),
            bucket([usage_result("u", out=2)], start=noon, end=unix(DAY) + DAY_SECONDS),
        ]
    )
    assert merge_sources([source(USAGE, halves)]).rows[0].api_output_tokens == 3
    twice = openai_body([bucket([usage_result("u", out=1)]), bucket([usage_result("u", out=1)])])
    with pytest.raises(InputError, match="second bucket for UTC date 2026-05-01"):
        merge_sources([source(USAGE, twice)])
    rows = [chatgpt_row("wsu", credits=1), chatgpt_row("wsu", credits=1)]
    with pytest.raises(InputError, match="count that day twice"):
        merge_sources([source(CHATGPT, chatgpt_body(rows))])


def test_credit_rate_adds_dollar_columns_exactly() -> None:
    result = merge_sources(
        [
            source(CHATGPT, chatgpt_body([chatgpt_row("wsu", email="a@x.invalid", credits=1234)])),
            source(COSTS, openai_body([bucket([cost_result("u1", 0.1)])])),
            source(USERS, users_body([("u1", "a@x.invalid")])),
        ],
        credit_usd_rate=Decimal("0.04"),
    )
    (row,) = result.rows
    assert row.codex_cost_usd == Decimal("49.36")
    assert row.total_cost_usd == Decimal("49.46")
    assert result.credit_usd_rate == Decimal("0.04")


def test_without_a_rate_credits_never_become_dollars() -> None:
    result = merge_sources([source(CHATGPT, chatgpt_body([chatgpt_row("wsu", credits=5)]))])
    assert (result.rows[0].codex_cost_usd, result.rows[0].total_cost_usd) == (None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.13080438340307526, Decimal("0.13080438340307526")),
        ("0.10", Decimal("0.10")),
        (" 12.5 ", Decimal("12.5")),
        (3, Decimal(3)),
        (-0.5, Decimal("-0.5")),
    ],
)
def test_amounts_are_exact_decimals_from_numbers_or_numeric_strings(
    value: Any, expected: Decimal
) -> None:
    result = merge_sources([source(COSTS, openai_body([bucket([cost_result("u", value)])]))])
    assert result.rows[0].api_cost_usd == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("NaN", "not finite"),
        ("Infinity", "not finite"),
        ("-inf", "not finite"),
        ("12 dollars", "not a number"),
        (True, "found a boolean"),
        ({"v": 1}, "found an object"),
        (None, "found null"),
    ],
)
def test_unreadable_amounts_are_input_errors_with_a_pointer(value: Any, message: str) -> None:
    body = openai_body([bucket([cost_result("u", 1), cost_result("u", value)])])
    with pytest.raises(InputError, match=message) as caught:
        merge_sources([source(COSTS, body)])
    assert "data[].results[].amount.value at /pages/0/body/data/0/results/1/amount/value" in str(
        caught.value
    )


def test_a_currency_other_than_usd_is_refused() -> None:
    body = openai_body([bucket([cost_result("u", 1, currency="eur")])])
    with pytest.raises(InputError, match='expected usd, found "eur"'):
        merge_sources([source(COSTS, body)])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (chatgpt_row("wsu", start=1777593600), "expected a timestamp in rfc3339-"),
        (chatgpt_row("wsu", start="2026-05-01 00:00:00"), "rfc3339-z format .as recorded."),
        (chatgpt_row("wsu", end=rfc3339(DAY)), "ends before or when it starts"),
        (chatgpt_row("wsu", threads=-1), "data[].threads at /pages/0/body/data/0/threads"),
        (chatgpt_row("wsu", credits="lots"), "not a number"),
        ({"user": {"id": "w"}}, "required by the merge but absent"),
        ("a string row", "expected an object, found a string"),
        (
            {**chatgpt_row("wsu"), "user": "w"},
            "data[].user at /pages/0/body/data/0/user: expected an object, found a string",
        ),
    ],
)
def test_unreadable_chatgpt_rows_are_input_errors(row: Any, message: str) -> None:
    """Read as a lock of the documented captures says (the gate's plan)."""
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        merge_sources([source(CHATGPT, chatgpt_body([row]))], plans=documented_plans())


def test_openai_timestamps_must_be_unix_seconds() -> None:
    edge: Any = "2026-05-01T00:00:00Z"
    body = openai_body([bucket([usage_result("u")], start=edge)])
    with pytest.raises(InputError, match=r"unix-seconds format .as recorded., found a string"):
        merge_sources([source(USAGE, body)], plans=documented_plans())


def test_incomplete_captures_are_refused() -> None:
    truncated = chatgpt_body([chatgpt_row("wsu")], has_more=True)
    with pytest.raises(InputError, match="has_more=true"):
        merge_sources([source(CHATGPT, truncated)])
    rejected = {"error": {"message": "no", "type": "invalid_request_error"}}
    with pytest.raises(InputError, match="HTTP 400 answer"):
        merge_sources([source(COSTS, rejected, statuses=[400])])
    with pytest.raises(InputError, match="nothing to merge"):
        merge_sources([source(COSTS)])


def test_a_merge_needs_a_data_surface() -> None:
    with pytest.raises(InputError, match="no ChatGPT usage"):
        merge_sources([source(USERS, users_body([("u", "a@x.invalid")]))])


def test_a_user_listed_with_two_emails_is_ambiguous() -> None:
    users = users_body([("u", "a@x.invalid"), ("u", "b@x.invalid")])
    with pytest.raises(InputError, match="different emails"):
        merge_sources([source(USERS, users), source(USAGE, openai_body([]))])


def test_split_exactly_uses_largest_remainders_and_the_amounts_precision() -> None:
    assert split_exactly(Decimal("5"), {"a": 1, "b": 1, "c": 1}) == {
        "a": Decimal("1.666667"),
        "b": Decimal("1.666667"),
        "c": Decimal("1.666666"),
    }
    parts = split_exactly(Decimal("0.13080438340307527"), {"a": 1, "b": 1, "c": 1})
    assert sum(parts.values()) == Decimal("0.13080438340307527")
    assert split_exactly(Decimal("-1.00"), {"a": 2, "b": 1}) == {
        "a": Decimal("-0.666667"),
        "b": Decimal("-0.333333"),
    }
    with pytest.raises(ValueError, match="positive total"):
        split_exactly(Decimal(1), {"a": 0})


@pytest.mark.parametrize("text", ["0.04", "1", "0"])
def test_parse_rate_accepts_finite_non_negative_decimals(text: str) -> None:
    assert parse_rate(text) == Decimal(text)


@pytest.mark.parametrize("text", ["abc", "NaN", "inf", "-0.1", ""])
def test_parse_rate_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError, match="--credit-usd-rate"):
        parse_rate(text)


def test_two_workspace_users_sharing_an_email_are_one_person_whose_codex_adds_up() -> None:
    """Both users' Codex totals of a date go into the one row of the email's person (in
    memory and read back from a spill alike)."""
    sources = [
        source(
            CHATGPT,
            chatgpt_body(
                [
                    chatgpt_row("wsu_a", email="Dev@Example.com", credits="1.25", threads=2),
                    chatgpt_row("wsu_b", email="dev@example.com", credits="0.5", turns=3),
                    chatgpt_row("wsu_c", email="other@example.com", credits=4, tokens=(5, 1, 2)),
                ]
            ),
        ),
        source(USAGE, openai_body([bucket([usage_result("user-1", tokens_in=9, requests=1)])])),
        source(USERS, users_body([("user-1", "DEV@example.com")])),
    ]
    held = merge_sources(sources)
    with set_budget(1):
        spilled = merge_sources(sources)
    assert spilled.rows == held.rows
    rows = rows_by_person(held)
    assert list(rows) == ["dev@example.com", "other@example.com"]
    dev = rows["dev@example.com"]
    assert (dev.chatgpt_user_id, dev.openai_user_id) == ("wsu_a wsu_b", "user-1")
    assert (dev.codex_credits, dev.codex_threads, dev.codex_turns) == (Decimal("1.75"), 2, 3)
    assert (dev.api_input_tokens, dev.api_requests) == (9, 1)
    other = rows["other@example.com"]
    assert (other.codex_input_tokens, other.codex_cached_input_tokens) == (5, 1)
    assert (other.api_input_tokens, other.api_requests) == (0, 0)  # usage covers the date
