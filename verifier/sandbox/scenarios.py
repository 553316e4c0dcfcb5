"""The sandbox's scenarios and its configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from verifier.errors import UsageError
from verifier.sandbox.shapes import Shape


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    shape: Shape
    description: str
    faults: bool = False  # inject 429/500/502/slow/truncated/cursor-loop answers
    rejects_user_grouping: bool = False  # costs answers 400 to group_by=user_id


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("documented", "documented", "exactly the documented shapes"),
        Scenario(
            "vendor-docs",
            "vendor-docs",
            "the shapes the vendors' references describe (Unix seconds, totals, actor, "
            "object discriminators, string amounts, extra cost fields)",
        ),
        Scenario(
            "faults",
            "documented",
            "documented shapes behind 429 + Retry-After, 500, a 502 HTML page, a slow "
            "answer, a truncated body, a cursor loop and has_more without a cursor",
            faults=True,
        ),
        Scenario(
            "rejects-user-grouping",
            "documented",
            "documented shapes, but costs answers 400 to group_by=user_id",
            rejects_user_grouping=True,
        ),
    )
}
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIO_NAMES)
        raise UsageError(f"unknown sandbox scenario {name!r}; known scenarios: {known}") from None


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """What the sandbox serves. Data exists for the `days` days before `anchor`
    (exclusive); `anchor` plays the role of "today" for look-back limits."""

    scenario: Scenario
    users: int
    days: int
    anchor: date
    api_keys: frozenset[str] = field(repr=False)
    # People with ChatGPT Codex usage (the first N; default: `users`). The Codex API looks
    # back 90 days, the OpenAI surfaces 180: a benchmark that wants as many rows on every
    # surface needs more people on this one.
    codex_users: int | None = None
    latency: float = 0.0  # seconds added to every answer
    slow_seconds: float = 3.0  # how long the `faults` slow answer stalls
    retry_after_ms: int = 50  # the `faults` 429 also sends Retry-After: 1 (whole seconds)
    # `faults` caps page sizes so every surface has several pages to go wrong on.
    fault_page_cap: int = 2

    @property
    def people_in_chatgpt(self) -> int:
        return self.users if self.codex_users is None else self.codex_users
