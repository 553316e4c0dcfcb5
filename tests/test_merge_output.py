"""Loading captures with exact money, and the output writers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tests.conftest import DOCUMENTED_CAPTURES
from tests.merge_builders import bucket, cost_result, openai_body, source, usage_result
from verifier.errors import InputError, UsageError
from verifier.merge import load_capture, merge_paths, merge_sources
from verifier.merge.focus import FOCUS_COLUMNS, focus_records
from verifier.merge.formats import write
from verifier.merge.output import COLUMNS, RATE_COLUMNS
from verifier.store import serialise


def costs_capture_text(amount_text: str) -> bytes:
    """A costs capture whose amount is exactly `amount_text` in the file."""
    document = source("openai_org_costs", openai_body([bucket([cost_result("u", 1)])])).capture
    assert document is not None
    text = serialise(document.to_json()).decode()
    return text.replace('"value": 1,', f'"value": {amount_text},').encode()


@pytest.mark.parametrize(
    "amount",
    ["0.10000000000000000001", "0.13080438340307526", "1234567.890123456789", "1e-20", "7"],
)
def test_money_is_read_from_the_json_text_exactly(tmp_path: Path, amount: str) -> None:
    path = tmp_path / "costs.json"
    path.write_bytes(costs_capture_text(amount))
    (row,) = merge_paths([path]).rows
    assert row.api_cost_usd == Decimal(amount)


def test_non_finite_amounts_in_a_file_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "costs.json"
    path.write_bytes(costs_capture_text("NaN"))
    with pytest.raises(InputError, match="NaN and Infinity are not JSON numbers"):
        merge_paths([path])


def test_raw_bodies_are_not_captures(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(orjson.dumps(openai_body([])))
    with pytest.raises(InputError, match="is not a capture file"):
        load_capture(path)


def test_csv_has_the_documented_columns_and_money_as_decimal_strings() -> None:
    result = merge_paths([DOCUMENTED_CAPTURES])
    table = list(csv.DictReader(io.StringIO(write(result, "csv").decode())))
    assert tuple(table[0]) == COLUMNS
    joined = next(row for row in table if row["openai_user_id"])
    assert joined["api_cost_usd"] == "0.13080438340307526"
    assert joined["partial"] == "false"


def test_rate_columns_appear_only_with_a_rate() -> None:
    plain = orjson.loads(write(merge_paths([DOCUMENTED_CAPTURES]), "json"))
    assert plain["metadata"]["credit_usd_rate"] is None
    assert not set(RATE_COLUMNS) & set(plain["rows"][0])
    rated = orjson.loads(
        write(merge_paths([DOCUMENTED_CAPTURES], credit_usd_rate=Decimal("0.04")), "json")
    )
    assert rated["metadata"]["credit_usd_rate"] == "0.04"
    assert rated["metadata"]["columns"][-2:] == list(RATE_COLUMNS)
    assert all(isinstance(row["codex_cost_usd"], str) for row in rated["rows"])


def test_jsonl_is_one_record_per_row_and_provisional_is_marked() -> None:
    result = merge_paths([DOCUMENTED_CAPTURES], provisional=True)
    lines = write(result, "jsonl").splitlines()
    records = [orjson.loads(line) for line in lines]
    assert len(records) == len(result.rows)
    assert all(record["provisional"] is True for record in records)
    assert orjson.loads(write(result, "json"))["metadata"]["provisional"] is True


def test_focus_rows_keep_credits_out_of_dollars_without_a_rate() -> None:
    result = merge_sources(
        [
            source(
                "openai_org_usage_completions",
                openai_body([bucket([usage_result("u", tokens_in=5, out=5, requests=1)])]),
            ),
            source("openai_org_costs", openai_body([bucket([cost_result("u", "0.5")])])),
        ]
    )
    (api,) = list(focus_records(result))
    assert (api["BilledCost"], api["BillingCurrency"], api["PricingCurrency"]) == (
        "0.5",
        "USD",
        "USD",
    )
    assert (api["ChargePeriodStart"], api["ChargePeriodEnd"]) == (
        "2026-05-01T00:00:00Z",
        "2026-05-02T00:00:00Z",
    )
    documented = list(focus_records(merge_paths([DOCUMENTED_CAPTURES])))
    codex = [r for r in documented if r["ServiceName"] == "ChatGPT Enterprise Codex"]
    assert codex and all(r["BilledCost"] is None for r in codex)
    assert all(r["PricingCurrency"] == "credits" for r in codex)
    assert all(set(r) == set(FOCUS_COLUMNS) for r in documented)


def test_unknown_output_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown merge output format"):
        write(merge_paths([DOCUMENTED_CAPTURES]), "xml")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"  \n", "file is empty"),
        (b'\xef\xbb\xbf{"a": 1}', "byte-order mark"),
        (b'{"a": "\xff"}', "is not valid UTF-8"),
        (b'{"a": NaN}', "NaN and Infinity are not JSON numbers"),
        (b'{"a": 1} {"b": 2}', "invalid JSON"),
        (b'{"a": 1,}', "invalid JSON"),
        (b"[" * 1100 + b"]" * 1100, "nested too deeply"),
    ],
)
def test_the_exact_reader_is_as_strict_as_the_tools_reader(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        load_capture(path)
    assert caught.value.message.startswith(str(path))
    assert "\n" not in caught.value.message
