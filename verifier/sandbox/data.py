"""Deterministic fake organisation: people, and their usage per day.

Everything is a pure function of (user count, day): the same person has the same
email, OpenAI id (`user-` + 24 alphanumerics) and ChatGPT id (`wsu_...`) on every
surface, so captures of the four surfaces join exactly like real ones. Numbers come
from SHA-256 of a label, never from `random`, so every run and platform agrees.
Emails use the reserved `sandbox.example` domain: no real person can be named.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

DAY_SECONDS = 86_400
_ALNUM = string.ascii_letters + string.digits
EMAIL_DOMAIN = "sandbox.example"
MODELS = ("gpt-5.3-codex", "gpt-5.3-codex-mini")
CLIENTS = ("CODEX_CLI", "CODEX_WEB", "CODEX_DESKTOP_APP")
# Dollars per token, only so that costs move with usage; not a real price list.
USD_PER_INPUT_TOKEN = Decimal("0.00000125")
USD_PER_OUTPUT_TOKEN = Decimal("0.00001")
# One person-day in CODEX_IDLE_ONE_IN has no Codex usage, one in API_IDLE_ONE_IN no API
# usage: a benchmark sizes the organisation from these to get a number of rows.
CODEX_IDLE_ONE_IN = 5
API_IDLE_ONE_IN = 4


def digest_int(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big")


def pseudo_id(label: str, length: int) -> str:
    """`length` alphanumerics derived from `label` (same label -> same id)."""
    raw = hashlib.sha256(label.encode()).digest()
    while len(raw) < length:
        raw += hashlib.sha256(raw).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in raw[:length])


@dataclass(frozen=True, slots=True)
class Person:
    index: int  # 1-based: dev1, dev2, ...
    email: str
    openai_id: str  # user-<24 alnum>, joins usage/costs user_id to the users list
    chatgpt_id: str  # wsu_<...>, the ChatGPT workspace user id
    name: str
    added_at: int
    email_in_chatgpt: bool  # some workspaces withhold email from per-user rows


@lru_cache(maxsize=64)
def people(count: int) -> tuple[Person, ...]:
    return tuple(_person(i) for i in range(1, count + 1))


def _person(index: int) -> Person:
    return Person(
        index=index,
        email=f"dev{index}@{EMAIL_DOMAIN}",
        openai_id="user-" + pseudo_id(f"openai:{index}", 24),
        chatgpt_id="wsu_" + pseudo_id(f"chatgpt:{index}", 12),
        name=f"Sandbox Developer {index}",
        added_at=1_704_067_200 + index * 3_600,  # 2024-01-01 plus an hour per person
        email_in_chatgpt=index % 3 != 0,
    )


def day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def day_of(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


def days_between(start: date, end: date) -> list[date]:
    """Days in [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


@dataclass(frozen=True, slots=True)
class CodexDay:
    """One person's Codex usage on one day (credits are ChatGPT credits)."""

    person: Person
    day: date
    threads: int
    turns: int
    credits: int
    text_input: int
    cached_input: int
    output: int
    client: str
    model: str


@dataclass(frozen=True, slots=True)
class ApiDay:
    """API usage on one day for one person, or for no person (`person is None`)."""

    person: Person | None
    day: date
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    requests: int

    @property
    def cost_usd(self) -> Decimal:
        uncached = self.input_tokens - self.cached_tokens
        cost = uncached * USD_PER_INPUT_TOKEN + self.output_tokens * USD_PER_OUTPUT_TOKEN
        return cost.quantize(Decimal("0.000001"))


def codex_day(person: Person, day: date) -> CodexDay | None:
    """None on days the person did not use Codex (about one day in five)."""
    seed = digest_int(f"codex:{person.index}:{day.isoformat()}")
    if seed % CODEX_IDLE_ONE_IN == 0:
        return None
    turns = 4 + seed % 60
    text_input = 2_000 * turns + (seed >> 8) % 5_000
    return CodexDay(
        person=person,
        day=day,
        threads=1 + (seed >> 16) % 12,
        turns=turns,
        credits=turns * 3 + (seed >> 24) % 40,
        text_input=text_input,
        cached_input=text_input // 4,
        output=300 * turns + (seed >> 32) % 900,
        client=CLIENTS[(seed >> 40) % len(CLIENTS)],
        model=MODELS[(seed >> 44) % len(MODELS)],
    )


def api_day(person: Person | None, day: date) -> ApiDay | None:
    """API usage of one person (or of keys owned by no person) on one day."""
    who = "none" if person is None else str(person.index)
    seed = digest_int(f"api:{who}:{day.isoformat()}")
    if person is not None and seed % API_IDLE_ONE_IN == 0:
        return None
    requests = 5 + seed % 400
    input_tokens = requests * 300 + (seed >> 12) % 10_000
    return ApiDay(
        person=person,
        day=day,
        input_tokens=input_tokens,
        cached_tokens=input_tokens // 8,
        output_tokens=requests * 20 + (seed >> 24) % 3_000,
        requests=requests,
    )


def codex_page(count: int, days: list[date], offset: int, size: int) -> tuple[list[CodexDay], int]:
    """Rows `offset` to `offset + size` of the Codex rows of the first `count` people on
    `days`, ordered by day then person (the vendor's order), and how many rows there are
    in all. Only the days the page touches are made: a million rows asked for a thousand
    at a time would otherwise be made a thousand times."""
    total = sum(codex_day_count(count, day) for day in days)
    page: list[CodexDay] = []
    skip = offset
    for day in days:
        if len(page) >= size:
            break
        rows_today = codex_day_count(count, day)
        if skip >= rows_today:
            skip -= rows_today
            continue
        page.extend(_codex_day_rows(count, day)[skip : skip + size - len(page)])
        skip = 0
    return page, total


@lru_cache(maxsize=4096)
def codex_day_count(count: int, day: date) -> int:
    """How many of the first `count` people used Codex on `day`."""
    return len(_codex_day_rows(count, day))


def _codex_day_rows(count: int, day: date) -> list[CodexDay]:
    return [row for person in people(count) if (row := codex_day(person, day)) is not None]


def api_rows(count: int, day: date) -> list[ApiDay]:
    """One day's API usage: each active person, then usage without a user."""
    owners: list[Person | None] = [*people(count), None]
    return [row for owner in owners if (row := api_day(owner, day)) is not None]
