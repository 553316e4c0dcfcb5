"""FinOps FOCUS 1.2 export of a merge result (CSV with FOCUS column names).

Each merged row becomes up to three charge rows: a Codex row (ChatGPT Enterprise, priced
in credits), a Codex row for what the vendor billed natively in dollars (its
`totals.cost_usd`, separate from credits: only when it is non-zero) and an OpenAI API
row (priced in dollars); a side with no activity and no cost gives no row. Where FOCUS
needs a value the APIs do not give, the choice is below and in docs/merge.md:

- BilledCost / EffectiveCost / ListCost / ContractedCost: the API's dollar amount for
  API rows (the Costs API reports one amount, no list or negotiated price, so all four
  carry it). Codex rows: credits x `--credit-usd-rate` when a rate is given; otherwise
  EMPTY (null): credits have no fixed dollar rate and the tool never invents one,
  although FOCUS declares these columns non-null. The credits are always in
  PricingCurrencyEffectiveCost with PricingCurrency `credits` (a virtual currency,
  allowed since FOCUS 1.2).
- BillingAccountId: the payloads carry no account id (the workspace id is a secret the
  tool never writes), so a fixed label per service: `chatgpt-enterprise-workspace`,
  `openai-organization`. BillingAccountName and SubAccount* are null.
- BillingPeriodStart/End: the calendar month of the charge (invoices are monthly).
- ChargePeriodStart/End: the UTC day of the row. A partial (clamped) bucket still
  reports the whole day; `x_Partial` says so.
- ChargeClass: `Correction` on a charge whose figures come from a bucket the vendor
  restated (a `value_restated` finding for that service, day and person); else null.
- ConsumedQuantity: tokens (Codex: input + cached input + output; API: input, cached
  included, + output), ConsumedUnit `Tokens`. PricingQuantity/Unit: credits / `Credits`
  for Codex, tokens / `Tokens` for the API.
- The native-dollar Codex row: BilledCost and the other costs = `cost_usd`, PricingCurrency
  `USD`, no quantities (the row's tokens and credits are on the credits row; the vendor
  does not split them between the two ways of billing).
- Person, ids, token breakdown, cost basis and flags are `x_` custom columns.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, BinaryIO

from verifier.errors import UsageError
from verifier.merge.chatgpt import SURFACE as CHATGPT_SURFACE
from verifier.merge.core import HeldTable, MergedRow, MergeResult, Table
from verifier.merge.output import CsvOut, cell_texts
from verifier.merge.values import money_text

FOCUS_VERSION = "1.2"

FOCUS_COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingCurrency",
    "PricingCurrencyEffectiveCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SubAccountId",
    "SubAccountName",
    "x_Person",
    "x_Email",
    "x_ChatGPTUserId",
    "x_OpenAIUserId",
    "x_Credits",
    "x_CreditUsdRate",
    "x_CostBasis",
    "x_InputTokens",
    "x_CachedInputTokens",
    "x_OutputTokens",
    "x_Threads",
    "x_Turns",
    "x_Requests",
    "x_Partial",
    "x_Provisional",
)

CHATGPT = CHATGPT_SURFACE.name
_COMMON = {
    "BillingAccountName": None,
    "BillingCurrency": "USD",
    "ChargeCategory": "Usage",
    "ChargeClass": None,
    "ChargeFrequency": "Usage-Based",
    "InvoiceIssuerName": "OpenAI",
    "ProviderName": "OpenAI",
    "PublisherName": "OpenAI",
    "ServiceCategory": "AI and Machine Learning",
    "ServiceSubcategory": "Generative AI",
    "SubAccountId": None,
    "SubAccountName": None,
    "ConsumedUnit": "Tokens",
}
_CODEX = {
    "BillingAccountId": "chatgpt-enterprise-workspace",
    "BillingAccountType": "ChatGPT Enterprise workspace",
    "ChargeDescription": "Codex usage billed in ChatGPT Enterprise credits",
    "PricingCurrency": "credits",
    "PricingUnit": "Credits",
    "ServiceName": "ChatGPT Enterprise Codex",
}
_CODEX_NATIVE = {
    **_CODEX,
    "ChargeDescription": "Codex usage billed natively in US dollars (the vendor's cost_usd, "
    "separate from credits)",
    "PricingCurrency": "USD",
    "PricingUnit": None,
    "ConsumedUnit": None,
}
_API = {
    "BillingAccountId": "openai-organization",
    "BillingAccountType": "OpenAI API organization",
    "ChargeDescription": "OpenAI API completions usage",
    "PricingCurrency": "USD",
    "PricingUnit": "Tokens",
    "ServiceName": "OpenAI API",
}


def write_focus(result: MergeResult) -> bytes:
    buffer = io.BytesIO()
    write_focus_table(HeldTable(result), buffer)
    return buffer.getvalue()


def write_focus_table(table: Table, handle: BinaryIO) -> None:
    """The FOCUS CSV of a table into an open file as its batches are made."""
    head = table.head
    if head.breakdown is not None:
        raise UsageError(
            f"--format focus writes charges per person and day; it has no --by "
            f"{head.breakdown} table (use csv, jsonl or json)"
        )
    out = CsvOut(handle, FOCUS_COLUMNS)
    restated = restated_charges(head)
    for batch in table.batches():
        out.rows(
            [
                cell_texts(record[name] for name in FOCUS_COLUMNS)
                for record in _records(batch, head, restated)
            ]
        )


def focus_records(result: MergeResult) -> Iterator[dict[str, Any]]:
    """FOCUS rows as dicts (column -> value), for callers that want them unwritten."""
    return _records(result.rows, result, restated_charges(result))


def _records(
    rows: Iterable[MergedRow], result: MergeResult, restated: set[tuple[str, str, str]]
) -> Iterator[dict[str, Any]]:
    for row in rows:
        for charge in _charges(row, result):
            if _corrects(charge, row, restated):
                charge["ChargeClass"] = "Correction"
            yield charge


def restated_charges(result: MergeResult) -> set[tuple[str, str, str]]:
    """(service name, day, surface user id) of every restated person-day."""
    out = set()
    for finding in result.restatements:
        details = finding.details or {}
        service = _CODEX["ServiceName"] if finding.surface == CHATGPT else _API["ServiceName"]
        out.add((service, str(details.get("day")), str(details.get("person"))))
    return out


def _corrects(charge: dict[str, Any], row: MergedRow, restated: set[tuple[str, str, str]]) -> bool:
    if not restated:
        return False
    service = charge["ServiceName"]
    ids = row.chatgpt_user_id if service == _CODEX["ServiceName"] else row.openai_user_id
    people = (ids or "").split() or [row.person]
    return any((service, row.date, person) in restated for person in people)


def _charges(row: MergedRow, result: MergeResult) -> Iterator[dict[str, Any]]:
    parts = (row.codex_input_tokens, row.codex_cached_input_tokens, row.codex_output_tokens)
    # A count the vendor did not send stays missing (None), never 0.
    codex_tokens = None if None in parts else sum(p or 0 for p in parts)
    if row.codex_credits or codex_tokens or row.codex_threads or row.codex_turns:
        cost = money_text(row.codex_cost_usd)
        yield {
            **_shared(row, result),
            **_CODEX,
            **_costs(cost),
            "ConsumedQuantity": codex_tokens,
            "PricingCurrencyEffectiveCost": money_text(row.codex_credits),
            "PricingQuantity": money_text(row.codex_credits),
            "x_InputTokens": row.codex_input_tokens,
            "x_CachedInputTokens": row.codex_cached_input_tokens,
            "x_OutputTokens": row.codex_output_tokens,
            "x_Threads": row.codex_threads,
            "x_Turns": row.codex_turns,
            "x_Requests": None,
            "x_CostBasis": None,
        }
    if row.codex_native_cost_usd:  # the tokens and credits are on the row above
        native = money_text(row.codex_native_cost_usd)
        yield {
            **_shared(row, result),
            **_CODEX_NATIVE,
            **_costs(native),
            "ConsumedQuantity": None,
            "PricingCurrencyEffectiveCost": native,
            "PricingQuantity": None,
            "x_InputTokens": None,
            "x_CachedInputTokens": None,
            "x_OutputTokens": None,
            "x_Threads": None,
            "x_Turns": None,
            "x_Requests": None,
            "x_CostBasis": None,
        }
    api_tokens = (row.api_input_tokens or 0) + (row.api_output_tokens or 0)
    if api_tokens or row.api_requests or (row.api_cost_usd or Decimal(0)) != 0:
        cost = money_text(row.api_cost_usd)
        yield {
            **_shared(row, result),
            **_API,
            **_costs(cost),
            "ConsumedQuantity": api_tokens,
            "PricingCurrencyEffectiveCost": cost,
            "PricingQuantity": api_tokens,
            "x_InputTokens": row.api_input_tokens,
            "x_CachedInputTokens": row.api_cached_input_tokens,
            "x_OutputTokens": row.api_output_tokens,
            "x_Threads": None,
            "x_Turns": None,
            "x_Requests": row.api_requests,
            "x_CostBasis": row.api_cost_basis,
        }


def _costs(cost: str | None) -> dict[str, str | None]:
    return {"BilledCost": cost, "EffectiveCost": cost, "ListCost": cost, "ContractedCost": cost}


def _shared(row: MergedRow, result: MergeResult) -> dict[str, Any]:
    day = date.fromisoformat(row.date)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return {
        **_COMMON,
        "BillingPeriodStart": _stamp(month),
        "BillingPeriodEnd": _stamp(next_month),
        "ChargePeriodStart": _stamp(day),
        "ChargePeriodEnd": _stamp(day + timedelta(days=1)),
        "x_Person": row.person,
        "x_Email": row.email,
        "x_ChatGPTUserId": row.chatgpt_user_id,
        "x_OpenAIUserId": row.openai_user_id,
        "x_Credits": money_text(row.codex_credits),
        "x_CreditUsdRate": money_text(result.credit_usd_rate),
        "x_Partial": row.partial,
        "x_Provisional": result.provisional,
    }


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"
