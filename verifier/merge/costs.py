"""Parser for `openai_org_costs`: API dollars per day, per user when the capture is
grouped by `user_id`.

`amount.value` is DOLLARS, read exactly (Decimal) from a JSON number or a numeric
string (times the scale a reviewer stated in the lock); any currency but `usd` is
refused rather than added to dollars. Fields are read through the consumer contract
(`verifier.consumer.declared.OPENAI_ORG_COSTS`) at the paths the reading plan gives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from verifier.consumer.declared import OPENAI_ORG_COSTS as CONTRACT
from verifier.consumer.mapping import ReadingPlan
from verifier.errors import InputError
from verifier.inputs import Source
from verifier.merge.fields import FieldReader, readers
from verifier.merge.pages import buckets
from verifier.merge.timestamps import day_reader
from verifier.merge.values import EXACT, ValueProblem, describe
from verifier.surfaces import OPENAI_ORG_COSTS

SURFACE = OPENAI_ORG_COSTS


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


def parse(source: Source, plan: ReadingPlan, into: ApiCosts | None = None) -> ApiCosts:
    costs = into if into is not None else ApiCosts()
    fields = readers(plan, "user_id", "amount", "currency")
    pages = list(buckets(source, day_reader(plan, "data[]"), costs.bucket_days))
    grouped = _grouped_by_user(source, pages, fields[0])
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
                    _add_result(costs, cost_day, fields, result)
                except ValueProblem as problem:
                    raise problem.at(source.name, prefix, (index, position)) from None
    costs.sources.append(source.name)
    return costs


def _grouped_by_user(
    source: Source, pages: list[tuple[str, int, str, bool, list[Any]]], user: FieldReader
) -> bool:
    """Grouped by user when the capture asked for it, or when any result names a user."""
    if source.capture is not None and "user_id" in _group_by(source.capture.request.query):
        return True
    return any(
        isinstance(result, Mapping) and isinstance(user.raw(result), str)
        for *_, results in pages
        for result in results
    )


def _group_by(query: Mapping[str, Any]) -> set[str]:
    raw = query.get("group_by", query.get("group_by[]", ()))
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    return {part.strip() for value in values for part in str(value).split(",")}


def _add_result(
    costs: ApiCosts, cost_day: CostDay, fields: tuple[FieldReader, ...], result: Any
) -> None:
    user, amount, currency = fields
    code = currency.value(result)
    if not isinstance(code, str) or code.lower() != "usd":
        shown = f'"{code}"' if isinstance(code, str) and len(code) <= 8 else describe(code)
        raise ValueProblem(
            currency.path,
            f"expected usd, found {shown}; the merge assumes dollars and never converts",
        )
    value = amount.money(result)
    assert value is not None  # required: money() raised otherwise
    user_id = user.identifier(result)
    if cost_day.grouped_by_user:
        by_user = cost_day.by_user
        by_user[user_id] = by_user[user_id] + value if user_id in by_user else value
    else:
        cost_day.pooled += value
    costs.dollars_in += value


__all__ = ["CONTRACT", "SURFACE", "ApiCosts", "CostDay", "parse"]
