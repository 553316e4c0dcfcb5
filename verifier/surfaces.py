"""The registry of analytics surfaces: endpoint, auth, pagination, vendor limits, schema.

Surface names are part of the public contract (see README)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from verifier.errors import UsageError

PaginationStyle = Literal["page", "after"]
TimeFormat = Literal["rfc3339-z", "unix-seconds"]


@dataclass(frozen=True, slots=True)
class Surface:
    name: str
    title: str
    base_url: str
    path: str  # may contain {workspace_id}
    auth_env: str  # env var holding the bearer key
    path_env: tuple[str, ...]  # env vars filling the path template
    pagination: PaginationStyle
    query: tuple[tuple[str, str], ...]  # documented fixed query parameters
    max_days_per_request: int | None  # vendor cap on daily buckets per request
    lookback_days: int | None  # vendor cap on how far back data can be asked for
    page_size: int | None  # `limit` per page
    time_format: TimeFormat
    money_unit: Literal["credits", "usd"] | None
    windowed: bool = True  # False: a list endpoint with no time window (users)

    @property
    def schema_file(self) -> str:
        return f"{self.name}.schema.json"

    @property
    def url_template(self) -> str:
        return self.base_url.rstrip("/") + self.path


CHATGPT_ENTERPRISE_USAGE = Surface(
    name="chatgpt_enterprise_usage",
    title="ChatGPT Enterprise Codex usage (credits)",
    base_url="https://api.chatgpt.com",
    path="/v1/analytics/codex/workspaces/{workspace_id}/usage",
    auth_env="CODEX_ANALYTICS_KEY",
    path_env=("CHATGPT_WORKSPACE_ID",),
    pagination="page",
    query=(("group_by", "day"),),
    max_days_per_request=None,
    lookback_days=90,
    page_size=1000,
    time_format="rfc3339-z",
    money_unit="credits",
)

OPENAI_ORG_USAGE_COMPLETIONS = Surface(
    name="openai_org_usage_completions",
    title="OpenAI organization usage: completions (tokens)",
    base_url="https://api.openai.com",
    path="/v1/organization/usage/completions",
    auth_env="OPENAI_ADMIN_KEY",
    path_env=(),
    pagination="page",
    query=(("bucket_width", "1d"), ("group_by", "user_id")),
    max_days_per_request=31,
    lookback_days=None,
    page_size=31,
    time_format="unix-seconds",
    money_unit=None,
)

OPENAI_ORG_COSTS = Surface(
    name="openai_org_costs",
    title="OpenAI organization costs (dollars)",
    base_url="https://api.openai.com",
    path="/v1/organization/costs",
    auth_env="OPENAI_ADMIN_KEY",
    path_env=(),
    pagination="page",
    query=(("bucket_width", "1d"), ("group_by", "user_id")),
    max_days_per_request=180,
    lookback_days=None,
    page_size=180,
    time_format="unix-seconds",
    money_unit="usd",
)

OPENAI_ORG_USERS = Surface(
    name="openai_org_users",
    title="OpenAI organization users (user_id -> email join)",
    base_url="https://api.openai.com",
    path="/v1/organization/users",
    auth_env="OPENAI_ADMIN_KEY",
    path_env=(),
    pagination="after",
    query=(),
    max_days_per_request=None,
    lookback_days=None,
    page_size=100,
    time_format="unix-seconds",
    money_unit=None,
    windowed=False,
)

SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        CHATGPT_ENTERPRISE_USAGE,
        OPENAI_ORG_USAGE_COMPLETIONS,
        OPENAI_ORG_COSTS,
        OPENAI_ORG_USERS,
    )
}
SURFACE_NAMES: tuple[str, ...] = tuple(SURFACES)


def get_surface(name: str) -> Surface:
    try:
        return SURFACES[name]
    except KeyError:
        known = ", ".join(SURFACE_NAMES)
        raise UsageError(f"unknown surface {name!r}; known surfaces: {known}") from None
