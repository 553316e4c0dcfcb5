"""The sandbox over real loopback HTTP: auth, vendor validation, cursors, deterministic data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from tests.conftest import CANARY_CODEX_KEY, CANARY_OPENAI_KEY, assert_no_canary
from verifier.errors import UsageError
from verifier.sandbox import RunningSandbox, running_sandbox
from verifier.sandbox.data import codex_day, codex_page, days_between, people
from verifier.sandbox.endpoints import bucket_bounds

ANCHOR = date(2026, 5, 11)  # data for 2026-05-01 .. 2026-05-10
START = 1_777_593_600  # 2026-05-01T00:00:00Z
DAY = 86_400
USAGE = "/v1/organization/usage/completions"
COSTS = "/v1/organization/costs"
USERS = "/v1/organization/users"
CODEX = "/v1/analytics/codex/workspaces/ws-1/usage"
KEYS = (CANARY_OPENAI_KEY, CANARY_CODEX_KEY)


@pytest.fixture(scope="module")
def box() -> Iterator[RunningSandbox]:
    with running_sandbox(
        scenario="documented", users=4, days=10, api_key=KEYS, anchor=ANCHOR
    ) as running:
        yield running


@pytest.fixture(scope="module")
def vendor_box() -> Iterator[RunningSandbox]:
    with running_sandbox(
        scenario="vendor-docs", users=4, days=10, api_key=KEYS, anchor=ANCHOR
    ) as running:
        yield running


def get(
    box: RunningSandbox, path: str, key: str = CANARY_OPENAI_KEY, **params: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(box.base_url + path, params=params, headers=headers, trust_env=False)


def window(days: int = 3, **extra: Any) -> dict[str, Any]:
    return {"start_time": START, "end_time": START + days * DAY, **extra}


def all_pages(box: RunningSandbox, path: str, **params: Any) -> list[dict[str, Any]]:
    pages = [get(box, path, **params).json()]
    while pages[-1].get("has_more"):
        cursor = (
            {"page": pages[-1]["next_page"]}
            if "next_page" in pages[-1]
            else {"after": pages[-1]["last_id"]}
        )
        pages.append(get(box, path, **params, **cursor).json())
    return pages


# -- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "sk-wrong"])
def test_bad_or_missing_key_is_401_openai_envelope(box: RunningSandbox, key: str) -> None:
    response = get(box, USERS, key=key)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert set(error) == {"message", "type", "param", "code"}
    assert "sk-wrong" not in response.text


def test_either_configured_key_is_accepted(box: RunningSandbox) -> None:
    assert get(box, CODEX, key=CANARY_CODEX_KEY, **window()).status_code == 200
    assert get(box, USERS, key=CANARY_OPENAI_KEY).status_code == 200


def test_the_sandbox_needs_a_key() -> None:
    with pytest.raises(UsageError), running_sandbox(api_key=""):
        pass


def test_unknown_path_is_404(box: RunningSandbox) -> None:
    assert get(box, "/v1/nothing").status_code == 404


# -- vendor validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        (COSTS, window(bucket_width="1h"), 400, "Supported values are: '1d'"),
        (COSTS, window(limit=181), 400, "less than or equal to 180"),
        (COSTS, window(limit=0), 400, "at least 1"),
        (COSTS, {"end_time": START}, 400, "Missing required parameter: 'start_time'"),
        (COSTS, window(start_time="yesterday"), 400, "Invalid type for 'start_time'"),
        (COSTS, window(group_by="bogus"), 400, "'user_id'"),
        (USAGE, window(limit=32), 400, "less than or equal to 31"),
        (USAGE, window(group_by="line_item"), 400, "Invalid value for 'group_by'"),
        (USERS, {"limit": 101}, 400, "less than or equal to 100"),
        (USERS, {"after": "user-unknown"}, 400, "after"),
        (COSTS, window(page="page_garbage!"), 400, "cursor"),
    ],
)
def test_openai_parameter_validation(
    box: RunningSandbox, path: str, params: dict[str, Any], status: int, words: str
) -> None:
    response = get(box, path, **params)
    assert response.status_code == status
    assert words in response.json()["error"]["message"]


def test_limit_error_matches_the_live_envelope(box: RunningSandbox) -> None:
    error = get(box, COSTS, **window(limit=366)).json()["error"]
    assert error == {
        "message": "Invalid limit provided: 366. Limit must be less than or equal to 180.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request_error",
    }


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"start_time": START - 200 * DAY, "end_time": START}, "90 days"),
        (window(limit=30_001), "less than or equal to 30000"),
        (window(group_by="month"), "'day' or 'week'"),
    ],
)
def test_codex_validation_is_fastapi_422(
    box: RunningSandbox, params: dict[str, Any], words: str
) -> None:
    response = get(box, CODEX, key=CANARY_CODEX_KEY, **params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert words in detail[0]["msg"]
    assert detail[0]["loc"][0] == "query"


def test_a_cursor_is_bound_to_its_query(box: RunningSandbox) -> None:
    first = get(box, COSTS, **window(days=5, limit=2)).json()
    replay = get(box, COSTS, **window(days=6, limit=2), page=first["next_page"])
    assert replay.status_code == 400
    assert "does not belong to this query" in replay.json()["error"]["message"]


# -- pagination and buckets -----------------------------------------------------------------------


def test_buckets_are_daily_and_clamped_at_the_edges() -> None:
    assert bucket_bounds(START + 3600, START + DAY + 60) == [
        (START + 3600, START + DAY),
        (START + DAY, START + DAY + 60),
    ]


def test_bucket_pagination_covers_every_day_once(box: RunningSandbox) -> None:
    pages = all_pages(box, USAGE, **window(days=7, limit=3, group_by="user_id"))
    assert len(pages) == 3
    starts = [b["start_time"] for p in pages for b in p["data"]]
    assert starts == [START + n * DAY for n in range(7)]
    assert pages[-1]["next_page"] is None
    assert all(p["object"] == "page" for p in pages)


def test_users_paginate_with_after(box: RunningSandbox) -> None:
    pages = all_pages(box, USERS, limit=3)
    ids = [u["id"] for p in pages for u in p["data"]]
    assert ids == [p.openai_id for p in people(4)]
    assert pages[0]["last_id"] == ids[2]


def test_codex_rows_paginate(box: RunningSandbox) -> None:
    params = window(days=10, limit=7)
    pages = [get(box, CODEX, key=CANARY_CODEX_KEY, **params).json()]
    while pages[-1]["has_more"]:
        pages.append(
            get(box, CODEX, key=CANARY_CODEX_KEY, **params, page=pages[-1]["next_page"]).json()
        )
    rows = [r for p in pages for r in p["data"]]
    assert len(pages) == -(-len(rows) // 7)
    assert rows[0]["start_time"] == "2026-05-01T00:00:00Z"


def test_a_codex_page_is_the_slice_of_every_row() -> None:
    days = days_between(date(2026, 5, 1), date(2026, 5, 8))
    every = [r for d in days for p in people(9) if (r := codex_day(p, d)) is not None]
    for offset, size in ((0, 5), (3, 11), (7, 100), (len(every) - 2, 5), (len(every), 3)):
        page, total = codex_page(9, days, offset, size)
        assert (page, total) == (every[offset : offset + size], len(every))


def test_codex_users_adds_people_to_chatgpt_only() -> None:
    with running_sandbox(
        scenario="documented", users=2, days=10, api_key=KEYS, anchor=ANCHOR, codex_users=6
    ) as wide:
        rows = all_pages(wide, CODEX, key=CANARY_CODEX_KEY, **window(days=10, limit=1000))
        ids = {r["user"]["id"] for p in rows for r in p["data"]}
        listed = [u["id"] for p in all_pages(wide, USERS, limit=100) for u in p["data"]]
    assert ids == {p.chatgpt_id for p in people(6)}
    assert listed == [p.openai_id for p in people(2)]


def test_days_outside_the_history_have_empty_buckets(box: RunningSandbox) -> None:
    body = get(box, COSTS, start_time=START - 2 * DAY, end_time=START + DAY).json()
    assert [len(b["results"]) > 0 for b in body["data"]] == [False, False, True]


def test_no_group_by_gives_one_result_per_bucket(box: RunningSandbox) -> None:
    body = get(box, USAGE, **window(days=1)).json()
    (result,) = body["data"][0]["results"]
    assert result["user_id"] is None


# -- deterministic, joinable data -----------------------------------------------------------------


def test_same_configuration_gives_identical_bodies(box: RunningSandbox) -> None:
    with running_sandbox(
        scenario="documented", users=4, days=10, api_key=KEYS, anchor=ANCHOR
    ) as other:
        for path, params in [(COSTS, window(group_by="user_id")), (USERS, {}), (CODEX, window())]:
            assert get(box, path, **params).content == get(other, path, **params).content


def test_people_join_across_surfaces(box: RunningSandbox) -> None:
    users = get(box, USERS).json()["data"]
    user_ids = {u["id"] for u in users}
    emails = {u["email"] for u in users}
    assert emails == {f"dev{n}@sandbox.example" for n in range(1, 5)}
    assert all(u["id"].startswith("user-") and len(u["id"]) == 29 for u in users)
    usage = get(box, USAGE, **window(group_by="user_id")).json()
    costs = get(box, COSTS, **window(group_by="user_id")).json()
    for body in (usage, costs):
        seen = {r["user_id"] for b in body["data"] for r in b["results"]}
        assert None in seen, "some API usage has no user"
        assert seen - {None} <= user_ids
        assert len(seen - {None}) >= 2
    codex = get(box, CODEX, key=CANARY_CODEX_KEY, **window()).json()["data"]
    assert all(row["user"]["id"].startswith("wsu_") for row in codex)
    codex_emails = {row["user"].get("email") for row in codex}
    assert None in codex_emails, "some ChatGPT rows withhold the email"
    assert codex_emails - {None} <= emails


def test_documented_shapes(box: RunningSandbox) -> None:
    row = get(box, CODEX, key=CANARY_CODEX_KEY, **window()).json()["data"][0]
    assert set(row) == {"start_time", "end_time", "user", "credits", "threads", "turns", "tokens"}
    assert set(row["tokens"]) == {"text_input", "cached_input", "output"}
    cost = get(box, COSTS, **window(group_by="user_id")).json()["data"][0]["results"][0]
    assert isinstance(cost["amount"]["value"], float)


def test_vendor_docs_shapes(vendor_box: RunningSandbox) -> None:
    body = get(vendor_box, CODEX, key=CANARY_CODEX_KEY, **window()).json()
    assert body["object"] == "page"
    row = body["data"][0]
    assert row["object"] == "user.codex.usage.result"
    assert isinstance(row["start_time"], int) and row["end_time"] - row["start_time"] == DAY
    assert row["actor"]["type"] == "ACCOUNT_USER" and row["actor"]["user_id"] == row["user_id"]
    assert {"credits", "uncached_text_input_tokens", "text_output_tokens"} <= set(row["totals"])
    assert "user" not in row and "credits" not in row
    cost = get(vendor_box, COSTS, **window(group_by="user_id")).json()["data"][0]["results"][0]
    assert isinstance(cost["amount"]["value"], str)
    float(cost["amount"]["value"])
    assert cost["organization_id"].startswith("org-")
    assert "user_email" in cost


def test_both_shapes_carry_the_same_numbers(
    box: RunningSandbox, vendor_box: RunningSandbox
) -> None:
    documented = get(box, CODEX, key=CANARY_CODEX_KEY, **window()).json()["data"]
    vendor = get(vendor_box, CODEX, key=CANARY_CODEX_KEY, **window()).json()["data"]
    assert [r["credits"] for r in documented] == [r["totals"]["credits"] for r in vendor]


def test_rejects_user_grouping_scenario() -> None:
    with running_sandbox(
        scenario="rejects-user-grouping", users=2, days=3, api_key=KEYS, anchor=ANCHOR
    ) as box:
        rejected = get(box, COSTS, **window(group_by="user_id"))
        allowed = get(box, COSTS, **window(group_by="project_id"))
        usage = get(box, USAGE, **window(group_by="user_id"))
    assert rejected.status_code == 400
    assert rejected.json()["error"]["param"] == "group_by"
    assert allowed.status_code == 200 and usage.status_code == 200


def test_response_headers_look_like_the_vendor(box: RunningSandbox) -> None:
    response = get(box, USERS)
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["openai-organization"].startswith("org-")
    assert_no_canary(str(response.headers))


def test_lookback_is_counted_from_the_anchor(box: RunningSandbox) -> None:
    anchor_start = START + (ANCHOR - date(2026, 5, 1)).days * DAY
    for days_back, status in [(90, 200), (91, 422)]:
        response = get(
            box,
            CODEX,
            key=CANARY_CODEX_KEY,
            start_time=anchor_start - days_back * DAY,
            end_time=anchor_start,
        )
        assert response.status_code == status


def test_unknown_scenario_is_a_usage_error() -> None:
    with (
        pytest.raises(UsageError, match="known scenarios"),
        running_sandbox(scenario="nope", api_key="k"),
    ):
        pass
