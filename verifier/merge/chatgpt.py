"""Parser for `chatgpt_enterprise_usage`: Codex credits and tokens per workspace user/day.

Reads the documented shape only (one row per user and day, RFC 3339 bucket edges);
drifted payloads are stopped by the gate before they get here."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.pages import data_arrays
from verifier.merge.timestamps import DayReader
from verifier.merge.values import (
    EXACT,
    ValueProblem,
    count,
    identifier,
    member,
    money,
    optional_member,
)
from verifier.surfaces import CHATGPT_ENTERPRISE_USAGE

SURFACE = CHATGPT_ENTERPRISE_USAGE

# The consumer contract: every path this parser reads (ancestors are implied).
CONSUMED_PATHS = frozenset(
    {
        "data",
        "has_more",
        "data[].start_time",
        "data[].end_time",
        "data[].user.email",
        "data[].user.id",
        "data[].credits",
        "data[].threads",
        "data[].turns",
        "data[].tokens.text_input",
        "data[].tokens.cached_input",
        "data[].tokens.output",
    }
)


class CodexDay:
    """One workspace user's Codex totals for one UTC date."""

    __slots__ = ("cached_input", "credits", "input", "output", "partial", "threads", "turns")

    def __init__(self) -> None:
        self.credits = Decimal(0)
        self.threads = 0
        self.turns = 0
        self.input = 0
        self.cached_input = 0
        self.output = 0
        self.partial = False


@dataclass
class CodexUsage:
    """Everything the merge needs from the ChatGPT surface, over all its sources."""

    days: dict[tuple[str, str], CodexDay] = field(default_factory=dict)  # (date, user id)
    emails: dict[str, str | None] = field(default_factory=dict)  # user id -> email
    credits_in: Decimal = Decimal(0)
    sources: list[str] = field(default_factory=list)


def parse(source: Source, into: CodexUsage | None = None) -> CodexUsage:
    usage = into if into is not None else CodexUsage()
    reader = DayReader(SURFACE, "data[].start_time", "data[].end_time")
    with localcontext(EXACT):  # credits add up exactly or the merge stops
        for prefix, rows in data_arrays(source):
            for index, row in enumerate(rows):
                try:
                    _accumulate(usage, reader, _read_fast(row) or _read_checked(row))
                except ValueProblem as problem:
                    raise problem.at(source.name, prefix, (index,)) from None
                except _Overlap as overlap:
                    raise InputError(
                        source.name,
                        f"{prefix}/data/{index}: a second row for the same workspace user and "
                        f"UTC date {overlap.day}; a merge would count that day twice",
                    ) from None
    usage.sources.append(source.name)
    return usage


class _Overlap(Exception):
    def __init__(self, day: str) -> None:
        self.day = day


# start, end, user id, email, credits, threads, turns, input, cached input, output
_Row = tuple[Any, Any, str, str | None, Decimal | int, int, int, int, int, int]


def _read_fast(row: Any) -> _Row | None:
    """The common case in a few dict lookups; None sends the row to `_read_checked`,
    which finds and names whatever is wrong (or reads the rarer string amounts)."""
    try:
        user, tokens = row["user"], row["tokens"]
        user_id, email, credits = user["id"], user.get("email"), row["credits"]
        threads, turns = row["threads"], row["turns"]
        text_input, cached, output = tokens["text_input"], tokens["cached_input"], tokens["output"]
        start, end = row["start_time"], row["end_time"]
    except (KeyError, TypeError, AttributeError):
        return None
    if (
        type(user_id) is not str
        or not user_id
        or (email is not None and type(email) is not str)
        or type(threads) is not int
        or type(turns) is not int
        or type(text_input) is not int
        or type(cached) is not int
        or type(output) is not int
        or threads < 0
        or turns < 0
        or text_input < 0
        or cached < 0
        or output < 0
    ):
        return None
    kind = type(credits)
    if kind is float or kind is Decimal:
        credits = Decimal(repr(credits)) if kind is float else credits
        if not credits.is_finite():
            return None
    elif kind is not int:
        return None
    return (start, end, user_id, email or None, credits, threads, turns, text_input, cached, output)


def _read_checked(row: Any) -> _Row:
    """Reads a row field by field, raising ValueProblem at the first unreadable one."""
    user = member(row, "user", "data[].user")
    user_id = identifier(member(user, "id", "data[].user.id"), "data[].user.id")
    if user_id is None:
        raise ValueProblem("data[].user.id", "expected a workspace user id, found an empty value")
    tokens = member(row, "tokens", "data[].tokens")
    return (
        member(row, "start_time", "data[].start_time"),
        member(row, "end_time", "data[].end_time"),
        user_id,
        identifier(optional_member(user, "email", "data[].user.email"), "data[].user.email"),
        money(member(row, "credits", "data[].credits"), "data[].credits"),
        count(member(row, "threads", "data[].threads"), "data[].threads"),
        count(member(row, "turns", "data[].turns"), "data[].turns"),
        count(member(tokens, "text_input", "data[].tokens.text_input"), "data[].tokens.text_input"),
        count(
            member(tokens, "cached_input", "data[].tokens.cached_input"),
            "data[].tokens.cached_input",
        ),
        count(member(tokens, "output", "data[].tokens.output"), "data[].tokens.output"),
    )


def _accumulate(usage: CodexUsage, reader: DayReader, values: _Row) -> None:
    start, end, user_id, email, credits, threads, turns, text_input, cached, output = values
    day, partial = reader.day(start, end)
    key = (day, user_id)
    totals = usage.days.get(key)
    if totals is None:
        totals = usage.days[key] = CodexDay()
    elif not (partial and totals.partial):
        # Two pieces of one day are fine only when both are clamped edge buckets.
        raise _Overlap(day)
    totals.partial = partial
    totals.credits += credits
    totals.threads += threads
    totals.turns += turns
    totals.input += text_input
    totals.cached_input += cached
    totals.output += output
    usage.credits_in += credits
    if email is not None or user_id not in usage.emails:
        usage.emails[user_id] = email
