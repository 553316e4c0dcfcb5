"""How each scenario dresses the same data: the documented shapes or the vendor-docs ones.

`documented` follows `schemas/*.schema.json` exactly (the documented sample's ChatGPT
rows: RFC 3339 strings, `user{email,id}`, top-level credits). `vendor-docs` follows what
the vendors' own references describe (api-facts §2.1 and §1.2): Unix seconds, `object`
discriminators, identity under `actor`, metrics under `totals`, cost amounts as numeric
strings and extra fields on cost results.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from verifier.sandbox.data import (
    DAY_SECONDS,
    ApiDay,
    CodexDay,
    Person,
    day_start,
    pseudo_id,
)

Shape = Literal["documented", "vendor-docs"]
ORGANIZATION_ID = "org-" + pseudo_id("sandbox-org", 24)


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- ChatGPT Enterprise Codex usage ------------------------------------------------------


def codex_row(row: CodexDay, shape: Shape) -> dict[str, Any]:
    start = day_start(row.day)
    if shape == "documented":
        return _codex_row_documented(row, start)
    return _codex_row_vendor_docs(row, start)


def _codex_row_documented(row: CodexDay, start: int) -> dict[str, Any]:
    user: dict[str, Any] = {"id": row.person.chatgpt_id}
    if row.person.email_in_chatgpt:
        user = {"email": row.person.email, **user}
    return {
        "start_time": rfc3339(start),
        "end_time": rfc3339(start + DAY_SECONDS),
        "user": user,
        "credits": row.credits,
        "threads": row.threads,
        "turns": row.turns,
        "tokens": {
            "text_input": row.text_input,
            "cached_input": row.cached_input,
            "output": row.output,
        },
    }


def _codex_row_vendor_docs(row: CodexDay, start: int) -> dict[str, Any]:
    email = row.person.email if row.person.email_in_chatgpt else None
    return {
        "object": "user.codex.usage.result",
        "start_time": start,
        "end_time": start + DAY_SECONDS,
        "user_id": row.person.chatgpt_id,
        "actor": {"type": "ACCOUNT_USER", "user_id": row.person.chatgpt_id, "email": email},
        "totals": {
            "threads": row.threads,
            "turns": row.turns,
            "credits": row.credits,
            "uncached_text_input_tokens": row.text_input,
            "cached_text_input_tokens": row.cached_input,
            "text_output_tokens": row.output,
            "text_total_tokens": row.text_input + row.cached_input + row.output,
        },
        "clients": [
            {
                "client_id": row.client,
                "threads": row.threads,
                "turns": row.turns,
                "credits": row.credits,
            }
        ],
        "models": [{"model": row.model, "speed": "standard", "credits": row.credits}],
    }


def codex_page(
    rows: list[dict[str, Any]], has_more: bool, next_page: str | None, shape: Shape
) -> dict[str, Any]:
    envelope: dict[str, Any] = {"data": rows, "has_more": has_more, "next_page": next_page}
    if shape == "vendor-docs":
        envelope = {"object": "page", **envelope}
    return envelope


# -- OpenAI organization usage and costs -------------------------------------------------


def bucket(start: int, end: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "bucket", "start_time": start, "end_time": end, "results": results}


def usage_result(row: ApiDay, shape: Shape) -> dict[str, Any]:
    result: dict[str, Any] = {
        "object": "organization.usage.completions.result",
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "input_cached_tokens": row.cached_tokens,
        "num_model_requests": row.requests,
        "user_id": None if row.person is None else row.person.openai_id,
        "model": None,
        "project_id": None,
        "api_key_id": None,
        "batch": None,
    }
    if shape == "vendor-docs":
        result |= {"input_audio_tokens": 0, "output_audio_tokens": 0, "service_tier": None}
    return result


def cost_result(row: ApiDay, shape: Shape) -> dict[str, Any]:
    user_id = None if row.person is None else row.person.openai_id
    if shape == "documented":
        return {
            "object": "organization.costs.result",
            "amount": {"value": float(row.cost_usd), "currency": "usd"},
            "line_item": None,
            "user_id": user_id,
            "project_id": None,
        }
    return {
        "object": "organization.costs.result",
        # Live answers carry the amount as a numeric string (api-facts §1.2 item 1).
        "amount": {"value": f"{row.cost_usd:.10f}", "currency": "usd"},
        "line_item": None,
        "project_id": None,
        "organization_id": ORGANIZATION_ID,
        "user_id": user_id,
        "user_email": None if row.person is None else row.person.email,
        "api_key_id": None,
        "quantity": None,
        "quantity_unit": None,
    }


def openai_page(
    buckets: list[dict[str, Any]], has_more: bool, next_page: str | None
) -> dict[str, Any]:
    return {"object": "page", "data": buckets, "has_more": has_more, "next_page": next_page}


# -- OpenAI organization users -----------------------------------------------------------


def user_object(person: Person, shape: Shape) -> dict[str, Any]:
    user: dict[str, Any] = {
        "object": "organization.user",
        "id": person.openai_id,
        "name": person.name,
        "email": person.email,
        "role": "owner" if person.index == 1 else "reader",
        "added_at": person.added_at,
    }
    if shape == "vendor-docs":
        user |= {
            "is_default": False,
            "is_service_account": False,
            "is_scim_managed": False,
            "api_key_last_used_at": None,
        }
    return user


def users_page(users: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": users,
        "first_id": users[0]["id"] if users else None,
        "last_id": users[-1]["id"] if users else None,
        "has_more": has_more,
    }
