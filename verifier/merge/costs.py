"""Parser for `openai_org_costs`: API dollars per day, per user when the capture is
grouped by `user_id`.

`amount.value` is DOLLARS, read exactly (Decimal) from a JSON number or a numeric
string; any currency but `usd` is refused rather than added to dollars."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.pages import buckets
from verifier.merge.timestamps import DayReader
from verifier.merge.values import (
    EXACT,
    ValueProblem,
    describe,
    identifier,
    member,
    money,
    optional_member,
)
from verifier.surfaces import OPENAI_ORG_COSTS

SURFACE = OPENAI_ORG_COSTS

# The consumer contract: every path this parser reads (ancestors are implied).
CONSUMED_PATHS = frozenset(
    {
        "data",
        "has_more",
        "data[].start_time",
        "data[].end_time",
        "data[].results",
        "data[].results[].amount.value",
        "data[].results[].amount.currency",
        "data[].results[].user_id",
    }
)


@dataclass
class CostDay:
    """One UTC date of costs. `by_user` holds billed amounts (key None: a result with
    no user); `pooled` is a per-day/per-project total the merge allocates by tokens."""

    by_user: dict[str | None, Decimal] = field(default_factory=dict)
    pooled: Decimal = Decimal(0)
    grouped_by_user: bool = True
    partial: bool = False


@dataclass
class ApiCosts:
    days: dict[str, CostDay] = field(default_factory=dict)
    bucket_days: dict[str, bool] = field(default_factory=dict)
    dollars_in: Decimal = Decimal(0)
    sources: list[str] = field(default_factory=list)


def parse(source: Source, into: ApiCosts | None = None) -> ApiCosts:
    costs = into if into is not None else ApiCosts()
    reader = DayReader(SURFACE, "data[].start_time", "data[].end_time")
    pages = list(buckets(source, reader, costs.bucket_days))
    grouped = _grouped_by_user(source, pages)
    with localcontext(EXACT):  # dollars add up exactly or the merge stops
        for prefix, index, day, partial, results in pages:
            cost_day = costs.days.get(day)
            if cost_day is None:
                cost_day = costs.days[day] = CostDay(grouped_by_user=grouped)
            elif cost_day.grouped_by_user != grouped:
                raise InputError(
                    source.name,
                    f"{prefix}/data/{index}: costs for {day} come from captures grouped "
                    "differently (by user and not); merge one grouping per day",
                )
            cost_day.partial = cost_day.partial or partial
            for position, result in enumerate(results):
                try:
                    _add_result(costs, cost_day, result)
                except ValueProblem as problem:
                    raise problem.at(source.name, prefix, (index, position)) from None
    costs.sources.append(source.name)
    return costs


def _grouped_by_user(source: Source, pages: list[tuple[str, int, str, bool, list[Any]]]) -> bool:
    """Grouped by user when the capture asked for it, or when any result names a user."""
    if source.capture is not None and "user_id" in _group_by(source.capture.request.query):
        return True
    return any(
        isinstance(result, Mapping) and isinstance(result.get("user_id"), str)
        for *_, results in pages
        for result in results
    )


def _group_by(query: Mapping[str, Any]) -> set[str]:
    raw = query.get("group_by", query.get("group_by[]", ()))
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    return {part.strip() for value in values for part in str(value).split(",")}


def _add_result(costs: ApiCosts, cost_day: CostDay, result: Any) -> None:
    user_id, value = _read_fast(result) or _read_checked(result)
    if cost_day.grouped_by_user:
        by_user = cost_day.by_user
        by_user[user_id] = by_user[user_id] + value if user_id in by_user else value
    else:
        cost_day.pooled += value
    costs.dollars_in += value


def _read_fast(result: Any) -> tuple[str | None, Decimal] | None:
    """The common case (a float amount in usd); None sends the result to `_read_checked`."""
    try:
        amount, user_id = result["amount"], result.get("user_id")
        value, currency = amount["value"], amount["currency"]
    except (KeyError, TypeError, AttributeError):
        return None
    if currency != "usd" or (user_id is not None and (type(user_id) is not str or not user_id)):
        return None
    kind = type(value)
    if kind is float:
        value = Decimal(repr(value))
    elif kind is int:
        return user_id, Decimal(value)
    elif kind is not Decimal:
        return None
    return (user_id, value) if value.is_finite() else None


def _read_checked(result: Any) -> tuple[str | None, Decimal]:
    """Reads a result field by field, raising ValueProblem at the first unreadable one."""
    path = "data[].results[]."
    amount = member(result, "amount", path + "amount")
    currency = member(amount, "currency", path + "amount.currency")
    if not isinstance(currency, str) or currency.lower() != "usd":
        shown = f'"{currency}"' if isinstance(currency, str) and len(currency) <= 8 else None
        raise ValueProblem(
            path + "amount.currency",
            f"expected usd, found {shown or describe(currency)}; only dollars are merged",
        )
    value = money(member(amount, "value", path + "amount.value"), path + "amount.value")
    user_id = identifier(optional_member(result, "user_id", path + "user_id"), path + "user_id")
    return user_id, value
