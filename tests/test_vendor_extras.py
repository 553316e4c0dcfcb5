"""What the vendors send beyond the seed's fields, read as the consumer contract declares:
Codex `totals.cost_usd` (native dollars, its own column, never added to API dollars),
`models[]` / `clients[]` breakdowns (`--by model|client`), costs `user_email` as the
join fallback when a result has no `user_id`, and `organization_id` declared ignored."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import REFERENCE_PAYLOADS
from tests.drift_support import mutated, write_capture
from tests.merge_builders import bucket, cost_result, openai_body, source, users_body
from verifier.anonymise import anonymise_body
from verifier.consumer import CONTRACTS, is_consumed
from verifier.drift import run_diff
from verifier.errors import InputError, UsageError
from verifier.keys import key_from_text
from verifier.merge import merge_sources
from verifier.merge.core import MergedRow, MergeResult
from verifier.merge.focus import focus_records, write_focus
from verifier.merge.output import write_csv
from verifier.surfaces import get_surface

CODEX = "chatgpt_enterprise_usage"
COSTS = "openai_org_costs"
DAY1, DAY2 = 1777593600, 1777680000  # 2026-05-01, 2026-05-02 UTC
DAY = 86_400


def codex_row(
    user: str | None,
    credits: Any,
    *,
    start: int = DAY1,
    end: int | None = None,
    email: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    totals = {"credits": credits, "threads": 1, "turns": 1}
    if "cost_usd" in extra:
        totals["cost_usd"] = extra.pop("cost_usd")
    return {
        "object": "user.codex.usage.result",
        "start_time": start,
        "end_time": start + DAY if end is None else end,
        "user_id": user,
        "actor": {"type": "ACCOUNT_USER", "user_id": user, "email": email},
        "totals": totals,
        **extra,
    }


def codex_source(*rows: dict[str, Any]) -> Any:
    return source(
        CODEX, {"object": "page", "data": list(rows), "has_more": False, "next_page": None}
    )


def by_person(result: MergeResult) -> dict[tuple[str, str], MergedRow]:
    return {(row.date, row.person): row for row in result.rows}


# -- the consumer contract -----------------------------------------------------------------


def test_cost_usd_is_declared_as_optional_nullable_dollars_whose_absence_is_unknown() -> None:
    field = CONTRACTS[CODEX].field("cost_usd")
    assert field.paths == (("vendor", "data[].totals.cost_usd"),)
    assert field.types == frozenset({"number", "integer", "numeric-string"})
    assert (field.role, field.unit, field.nullable, field.absent, field.optional) == (
        "money",
        "usd",
        True,
        "unknown",
        True,
    )
    # The estimate is not the invoice: it stays unread.
    assert not is_consumed(CODEX, "data[].totals.estimated_cost_usd")


def test_breakdown_fields_are_the_ones_the_vendor_documents() -> None:
    contract = CONTRACTS[CODEX]
    declared = {f.name: f.candidate_paths for f in contract if f.optional and f.name != "cost_usd"}
    assert declared == {
        "models": ("data[].models",),
        "model": ("data[].models[].model",),
        "model_speed": ("data[].models[].speed",),
        "model_credits": ("data[].models[].credits",),
        "clients": ("data[].clients",),
        "client_id": ("data[].clients[].client_id",),
        "client_credits": ("data[].clients[].credits",),
        "client_threads": ("data[].clients[].threads",),
        "client_turns": ("data[].clients[].turns",),
    }
    assert contract.field("model_credits").unit == "credits"


def test_costs_declare_user_email_as_the_fallback_and_ignore_organization_id() -> None:
    contract = CONTRACTS[COSTS]
    email = contract.field("user_email")
    assert (email.candidate_paths, email.role, email.nullable, email.optional) == (
        ("data[].results[].user_email",),
        "email",
        True,
        True,
    )
    [attributed] = [a for a in contract.assumptions if a.attributed]
    assert attributed.fallbacks == ("user_email",)
    [ignored] = contract.ignored
    assert (
        ignored.path == "data[].results[].organization_id" and "one organization" in ignored.reason
    )
    assert not is_consumed(COSTS, "data[].results[].organization_id")
    assert contract.to_json()["ignored"] == [ignored.to_json()]


# -- native dollars --------------------------------------------------------------------------


def test_native_dollars_are_exact_their_own_column_and_never_api_dollars() -> None:
    codex = codex_source(
        codex_row("w1", 10, email="a@x.invalid", cost_usd="0.10000000000000000001"),
        codex_row("w2", 5, email="b@x.invalid", cost_usd=3),
        codex_row("w3", 7, email="c@x.invalid"),  # not sent: unknown
    )
    costs = source(COSTS, openai_body([bucket([cost_result("u1", "1.5")])]))
    directory = source("openai_org_users", users_body([("u1", "a@x.invalid")]))
    result = merge_sources([codex, costs, directory], credit_usd_rate=Decimal("0.04"))
    rows = by_person(result)
    a, b, c = (rows[("2026-05-01", f"{p}@x.invalid")] for p in "abc")
    assert a.codex_native_cost_usd == Decimal("0.10000000000000000001")
    assert b.codex_native_cost_usd == Decimal(3)
    assert c.codex_native_cost_usd is None
    # credits x rate and the total are what they were: native dollars are not in them.
    assert (a.codex_cost_usd, a.api_cost_usd, a.total_cost_usd) == (
        Decimal("0.40"),
        Decimal("1.5"),
        Decimal("1.90"),
    )
    assert result.coverage.dollars.total == Decimal("1.5")
    header, *lines = write_csv(result).decode().splitlines()
    assert header.split(",")[19] == "codex_native_cost_usd"
    cells = {line.split(",")[1]: line.split(",")[19] for line in lines}
    assert cells == {
        "a@x.invalid": "0.10000000000000000001",
        "b@x.invalid": "3",
        "c@x.invalid": "",
    }


def test_a_person_day_is_unknown_when_one_of_its_rows_lacks_native_dollars() -> None:
    half = DAY // 2
    codex = codex_source(
        codex_row("w1", 1, end=DAY1 + half, cost_usd="0.5"),
        codex_row("w1", 2, start=DAY1 + half, end=DAY1 + DAY),
        codex_row("w1", 3, start=DAY2, cost_usd="0.25"),
        codex_row("w2", 3, start=DAY2, cost_usd="0.75"),
    )
    rows = by_person(merge_sources([codex]))
    assert rows[("2026-05-01", "chatgpt:w1")].codex_native_cost_usd is None
    assert rows[("2026-05-02", "chatgpt:w1")].codex_native_cost_usd == Decimal("0.25")


def test_zero_only_where_the_capture_reports_native_dollars_at_all() -> None:
    costs = source(COSTS, openai_body([bucket([cost_result("u1", "1")])]))
    reported = merge_sources([codex_source(codex_row("w1", 1, cost_usd="0.5")), costs])
    unreported = merge_sources([codex_source(codex_row("w1", 1)), costs])
    # The API-only person used no Codex on a date the Codex capture covers.
    assert by_person(reported)[("2026-05-01", "openai:u1")].codex_native_cost_usd == 0
    assert by_person(unreported)[("2026-05-01", "openai:u1")].codex_native_cost_usd is None


def test_focus_bills_native_dollars_as_their_own_usd_charge() -> None:
    codex = codex_source(
        codex_row("w1", 10, email="a@x.invalid", cost_usd="1.25"),
        codex_row("w2", 10, email="b@x.invalid", cost_usd=0),
        codex_row("w3", 10, email="c@x.invalid"),
    )
    charges = list(focus_records(merge_sources([codex])))
    native = [c for c in charges if "natively" in (c["ChargeDescription"] or "")]
    assert len(native) == 1  # none for 0, none for unknown
    [charge] = native
    assert charge["x_Person"] == "a@x.invalid"
    assert (charge["BilledCost"], charge["BillingCurrency"], charge["PricingCurrency"]) == (
        "1.25",
        "USD",
        "USD",
    )
    assert charge["ServiceName"] == "ChatGPT Enterprise Codex"
    assert charge["ConsumedQuantity"] is None and charge["ConsumedUnit"] is None
    # The credits charge of the same person is unchanged (no rate: no dollar cost).
    [credits] = [
        c for c in charges if c["x_Person"] == "a@x.invalid" and c["PricingCurrency"] == "credits"
    ]
    assert credits["BilledCost"] is None and credits["PricingCurrencyEffectiveCost"] == "10"


def test_native_dollars_change_between_captures_is_a_restatement() -> None:
    older = codex_source(codex_row("w1", 1, cost_usd="0.5"))
    newer = source(
        CODEX,
        {"object": "page", "data": [codex_row("w1", 1, cost_usd="0.7")], "has_more": False,
         "next_page": None},
        captured_at="2026-05-03T00:00:00Z", name="newer.json",
    )  # fmt: skip
    result = merge_sources([older, newer])
    [restated] = result.restatements
    assert "cost_usd" in json.dumps(restated.to_json())
    assert result.rows[0].codex_native_cost_usd == Decimal("0.7")


# -- breakdowns ------------------------------------------------------------------------------


def peer_fixture_source() -> Any:
    """The peer's per-user rows with models[] (api-facts §2.1), in a page envelope."""
    rows = json.loads(
        (
            REFERENCE_PAYLOADS / "codex_analytics_usage__peer_fixture_rows_actor_models.json"
        ).read_text()
    )
    return codex_source(*rows)


def test_by_model_reads_the_peer_fixture_parts() -> None:
    result = merge_sources([peer_fixture_source()], breakdown="model")
    got = [(r.date, r.person, r.labels, r.credits, r.basis) for r in result.parts]
    assert got == [
        ("2024-11-01", "a@wdts.com", ("gpt-5.3-codex", None), Decimal(7), "vendor"),
        ("2024-11-01", "a@wdts.com", ("gpt-5.3-codex-mini", None), Decimal(3), "vendor"),
        ("2024-11-02", "b@wdts.com", ("gpt-5.3-codex", None), Decimal(4), "vendor"),
    ]
    # The default table is the same with or without the breakdown.
    assert result.rows == merge_sources([peer_fixture_source()]).rows


def test_by_client_with_no_parts_gives_the_whole_credits_as_the_difference() -> None:
    result = merge_sources([peer_fixture_source()], breakdown="client")
    got = [(r.date, r.labels, r.credits, r.counts, r.basis) for r in result.parts]
    assert got == [
        ("2024-11-01", (None,), Decimal(10), (None, None), "difference to totals"),
        ("2024-11-02", (None,), Decimal(4), (None, None), "difference to totals"),
    ]


def test_parts_of_two_workspace_users_with_one_email_add_up() -> None:
    models = [{"model": "gpt-5-codex", "speed": "fast", "credits": "1.5"}]
    codex = codex_source(
        codex_row("w1", "1.5", email="a@x.invalid", models=models),
        codex_row("w2", "2", email="A@x.invalid", models=models),
    )
    [part, rest] = merge_sources([codex], breakdown="model").parts
    assert (part.person, part.chatgpt_user_id, part.credits) == ("a@x.invalid", "w1 w2", Decimal(3))
    assert (rest.basis, rest.credits) == ("difference to totals", Decimal("0.5"))


def test_breakdown_writers_and_the_focus_refusal(tmp_path: Path) -> None:
    result = merge_sources([peer_fixture_source()], breakdown="model")
    header, first, *_ = write_csv(result).decode().splitlines()
    assert header == "date,person,email,chatgpt_user_id,model,speed,codex_credits,basis,partial"
    assert first == "2024-11-01,a@wdts.com,a@wdts.com,u1,gpt-5.3-codex,,7,vendor,false"
    with pytest.raises(UsageError, match="no --by model table"):
        write_focus(result)
    refused = run_cli(
        "merge", str(tmp_path), "--out", str(tmp_path / "x.csv"), "--by", "model", "--format",
        "focus",
    )  # fmt: skip
    assert refused.code == 2
    [line] = refused.stderr.splitlines()
    assert "--by model has no FOCUS form" in line
    assert not (tmp_path / "x.csv").exists()


def test_a_non_array_breakdown_is_a_one_line_input_error(tmp_path: Path) -> None:
    codex = codex_source(codex_row("w1", 1, models={"model": "gpt-5-codex"}))
    with pytest.raises(
        InputError, match=r"data\[\]\.models at /pages/0/body/data/0/models: expected an array"
    ):
        merge_sources([codex], breakdown="model")
    # The default table does not read the breakdown at all.
    assert merge_sources([codex]).rows[0].codex_credits == 1


# -- costs user_email ------------------------------------------------------------------------


def test_emails_are_pseudonymised_identically_on_every_surface() -> None:
    """The anonymiser keys an email by its (lower-cased) address only, never by its path
    or surface: the costs `user_email`, the users list `email` and the Codex
    `actor.email` of one person get one pseudonym, so the fallback join survives."""
    key = key_from_text("vendor-extras-key-0123456789abcdef0123456789abcdef")
    address = "Jane.Doe@Corp.example"
    costs = anonymise_body(
        get_surface(COSTS),
        openai_body([bucket([{**cost_result(None, "2.5"), "user_email": address}])]),
        key,
    )
    users = anonymise_body(
        get_surface("openai_org_users"), users_body([("user-1", address.lower())]), key
    )
    codex = anonymise_body(
        get_surface(CODEX),
        {"object": "page", "data": [codex_row("w1", 4, email=address.upper())],
         "has_more": False, "next_page": None},
        key,
    )  # fmt: skip
    pseudonyms = {
        costs["data"][0]["results"][0]["user_email"],
        users["data"][0]["email"],
        codex["data"][0]["actor"]["email"],
    }
    [pseudonym] = pseudonyms
    assert "corp" not in pseudonym.lower() and pseudonym.endswith("@anon.invalid")
    result = merge_sources(
        [source(COSTS, costs), source("openai_org_users", users), source(CODEX, codex)]
    )
    [row] = result.rows
    ids = (users["data"][0]["id"], codex["data"][0]["user_id"])
    assert (row.person, row.openai_user_id, row.chatgpt_user_id) == (pseudonym, *ids)
    assert (row.api_cost_usd, row.api_cost_basis, row.codex_credits) == (
        Decimal("2.5"),
        "billed",
        Decimal(4),
    )


def test_user_id_wins_over_user_email_and_neither_is_unattributed() -> None:
    results = [
        {**cost_result("u1", "1"), "user_email": "other@x.invalid"},
        {**cost_result(None, "2"), "user_email": "b@x.invalid"},
        {**cost_result(None, "4"), "user_email": None},
        cost_result(None, "8"),
    ]
    directory = source("openai_org_users", users_body([("u1", "a@x.invalid")]))
    rows = by_person(merge_sources([source(COSTS, openai_body([bucket(results)])), directory]))
    assert {person: row.api_cost_usd for (_d, person), row in rows.items()} == {
        "a@x.invalid": Decimal(1),
        "b@x.invalid": Decimal(2),
        "unattributed": Decimal(12),
    }
    assert rows[("2026-05-01", "unattributed")].api_cost_basis == "unattributed"


def _costs_capture(tmp_path: Path, *, email: bool) -> Path:
    body = mutated(COSTS)
    for result in body["data"][0]["results"]:
        del result["user_id"]
        if email:
            result["user_email"] = "someone@x.invalid"
    return write_capture(tmp_path, COSTS, [body])


def test_user_email_keeps_costs_attributable_when_user_id_is_gone(tmp_path: Path) -> None:
    report = run_diff([_costs_capture(tmp_path, email=True)])
    [finding] = [f for f in report.findings if f.path == "data[].results[].user_id"]
    assert finding.severity == "warning"
    assert "attributed by user_email" in finding.message
    # Without either there is nothing to attribute by: breaking, as before.
    other = tmp_path / "neither"
    other.mkdir()
    report = run_diff([_costs_capture(other, email=False)])
    assert any(
        f.path == "data[].results[].user_id" and f.severity == "breaking" for f in report.findings
    )


def test_a_capture_without_the_optional_fields_raises_no_finding_about_them(tmp_path: Path) -> None:
    """The documented shapes carry no cost_usd, models, clients or user_email: that is
    no drift (the vendor documents them as optional)."""
    optional = {
        path
        for surface in (CODEX, COSTS)
        for field in CONTRACTS[surface]
        if field.optional
        for path in field.candidate_paths
    }
    for surface in (CODEX, COSTS):
        capture = write_capture(tmp_path, surface, [mutated(surface)])
        paths = {f.path for f in run_diff([capture]).findings}
        assert not paths & optional, sorted(paths & optional)
