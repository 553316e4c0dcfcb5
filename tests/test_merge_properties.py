"""Property tests: the merge never creates or loses credits, dollars or tokens, and
yields one row per (date, person), whatever the identities and cost grouping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.merge_builders import (
    DAY,
    PER_DAY_COSTS,
    bucket,
    chatgpt_body,
    chatgpt_row,
    cost_result,
    openai_body,
    source,
    usage_result,
    users_body,
)
from verifier.inputs import Source
from verifier.merge import MergeResult, merge_sources

DAYS = [DAY + timedelta(days=n) for n in range(3)]
EMAILS = [None, "a@x.invalid", "B@x.invalid", "b@x.invalid", "c@x.invalid"]
WORKSPACE_USERS = ["wsu_1", "wsu_2", "wsu_3", "wsu_4"]
OPENAI_USERS = [None, "user-1", "user-2", "user-3", "user-4"]

# Amounts with up to 17 decimal places (what the Costs API sends), sometimes as strings.
amounts = st.decimals(
    min_value=Decimal("-5"), max_value=Decimal("500"), places=17, allow_nan=False
).map(lambda d: d.normalize())
money_json = st.one_of(
    amounts.map(lambda d: (d, format(d, "f"))),  # numeric string: exact
    amounts.map(lambda d: (Decimal(repr(float(d))), float(d))),  # JSON number
    st.integers(min_value=0, max_value=10_000).map(lambda n: (Decimal(n), n)),
)
counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def scenario(draw: Callable[..., Any]) -> tuple[list[Source], dict[str, Any]]:
    """Random captures of all four surfaces plus the totals that went in."""
    totals: dict[str, Any] = {"credits": Decimal(0), "dollars": Decimal(0), "tokens": 0}
    emails = {uid: draw(st.sampled_from(EMAILS)) for uid in WORKSPACE_USERS}
    chat_rows = []
    for day in DAYS:
        for uid in draw(st.lists(st.sampled_from(WORKSPACE_USERS), unique=True, max_size=4)):
            credits, text = draw(money_json)
            tokens = (draw(counts), draw(counts), draw(counts))
            totals["credits"] += credits
            totals["tokens"] += sum(tokens)
            chat_rows.append(
                chatgpt_row(uid, day=day, email=emails[uid], credits=text, tokens=tokens)
            )
    grouped = draw(st.booleans())
    usage_buckets, cost_buckets = [], []
    for day in DAYS:
        results = []
        for uid in draw(st.lists(st.sampled_from(OPENAI_USERS), max_size=5)):
            tokens_in, out = draw(counts), draw(counts)
            totals["tokens"] += tokens_in + out
            results.append(usage_result(uid, tokens_in=tokens_in, out=out, requests=1))
        usage_buckets.append(bucket(results, day=day))
        costs = []
        for uid in draw(st.lists(st.sampled_from(OPENAI_USERS), max_size=5)):
            dollars, text = draw(money_json)
            totals["dollars"] += dollars
            costs.append(cost_result(uid if grouped else None, text))
        if costs or draw(st.booleans()):
            cost_buckets.append(bucket(costs, day=day))
    directory = [(uid, draw(st.sampled_from(EMAILS))) for uid in OPENAI_USERS[1:]]
    sources = [
        source("chatgpt_enterprise_usage", chatgpt_body(chat_rows)),
        source("openai_org_usage_completions", openai_body(usage_buckets)),
        source(
            "openai_org_costs",
            openai_body(cost_buckets),
            query=None if grouped else PER_DAY_COSTS,
        ),
        source("openai_org_users", users_body(draw(st.permutations(directory)))),
    ]
    totals["grouped"] = grouped
    return sources, totals


def merged(sources: list[Source]) -> MergeResult:
    return merge_sources(sources)


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_totals_are_preserved_exactly(case: tuple[list[Source], dict[str, Any]]) -> None:
    sources, totals = case
    result = merged(sources)
    rows = result.rows
    # An empty cell (the surface does not cover that date) holds nothing to add.
    assert sum((row.codex_credits or 0 for row in rows), Decimal(0)) == totals["credits"]
    assert sum((row.api_cost_usd or Decimal(0) for row in rows), Decimal(0)) == totals["dollars"]
    tokens = sum(
        (row.codex_input_tokens or 0)
        + (row.codex_cached_input_tokens or 0)
        + (row.codex_output_tokens or 0)
        + (row.api_input_tokens or 0)
        + (row.api_output_tokens or 0)
        for row in rows
    )
    assert tokens == totals["tokens"]
    assert result.coverage.credits.total == totals["credits"]
    assert result.coverage.dollars.total == totals["dollars"]


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_one_row_per_date_and_person_with_a_known_basis(
    case: tuple[list[Source], dict[str, Any]],
) -> None:
    sources, totals = case
    rows = merged(sources).rows
    keys = [(row.date, row.person) for row in rows]
    assert len(keys) == len(set(keys))
    assert keys == sorted(keys)
    expected = {"billed", "unattributed"} if totals["grouped"] else {"allocated", "unattributed"}
    assert {row.api_cost_basis for row in rows} <= expected | {None}
    for row in rows:
        date.fromisoformat(row.date)
        if row.email is not None:
            assert row.person == row.email == row.email.lower()
        else:
            assert row.person == "unattributed" or row.person.startswith(("chatgpt:", "openai:"))
