"""Extreme amounts through `verify merge` (the whole CLI, whatever merge engine runs
underneath): a 201-digit integer, 1e400 and 1e-400, negative zero, a few hundred
fractional digits, 34 significant digits and sums of them. Each one ends either as the
exact sum in the output or as one line and exit 2, never a traceback and never a
silently rounded number.

The amounts are written as JSON number text into the documented costs capture, so the
reader sees exactly what a vendor could send."""

from __future__ import annotations

import decimal
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli_helpers import run_cli
from tests.conftest import DOCUMENTED_CAPTURES, ROOT

COSTS = "openai_org_costs.json"
AMOUNT_PATH = "data[].results[].amount.value"
COMMITTED_LOCKS = ROOT / "captures" / "locks"
_PLACEHOLDER = "__AMOUNT_{}__"


def _captures_with_amounts(folder: Path, amounts: list[str]) -> Path:
    """The documented captures, the costs results replaced by one result per amount
    (same user, same day), each amount written as the given JSON number text."""
    captures = folder / "captures"
    shutil.copytree(DOCUMENTED_CAPTURES, captures)
    path = captures / COSTS
    document = json.loads(path.read_text())
    results = document["pages"][0]["body"]["data"][0]["results"]
    template = results[0]  # user_id: the same person on the other surfaces
    results[:] = [
        {**template, "amount": {"value": _PLACEHOLDER.format(i), "currency": "usd"}}
        for i in range(len(amounts))
    ]
    text = json.dumps(document, indent=2)
    for i, amount in enumerate(amounts):
        text = text.replace(f'"{_PLACEHOLDER.format(i)}"', amount)
    path.write_text(text)
    return captures


def _merge(captures: Path, locks: Path, out: Path) -> Any:
    return run_cli(
        "merge", str(captures), "--out", str(out), "--format", "json", "--locks-dir", str(locks)
    )


def _accepted_locks(captures: Path, folder: Path) -> Path:
    """Locks of these very captures, as a reviewer accepts them (the amounts' magnitude
    differs from the documented one: a stated scale of 1 says they are dollars)."""
    locks = folder / "locks"
    result = run_cli(
        "lock", str(captures), "--locks-dir", str(locks), "--accept",
        "--scale", f"{AMOUNT_PATH}=1", "--reviewer", "tests",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return locks


def _api_costs(out: Path, user_id: str) -> list[str]:
    """The cost cells of the person whose results carry the amounts."""
    rows = orjson.loads(out.read_bytes())["rows"]
    return [row["api_cost_usd"] for row in rows if row["openai_user_id"] == user_id]


EXACT_CASES = {
    "negative zero": ["-0"],
    "negative zero with a fraction": ["-0.0"],
    "an exponent": ["1E+2"],
    "a lower-case exponent near the top": ["1e14"],
    "33 zeros after the point": ["0." + "0" * 32 + "1"],
    "34 significant digits": ["999999999999999.9999999999999999999"],
    "a sum wider than a double": [
        "12.5000000000000000000000000000001",
        "1" + "0" * 14 + ".0" + "0" * 17 + "1",
    ],
    "a sum wider than 34 digits": ["999999999999999.9999999999999999999"] * 3,
    "zeros of both signs": ["-0.000", "0", "-0"],
    "a sum that cancels": [
        "0.1000000000000000000000000000000001",
        "-0.1000000000000000000000000000000001",
    ],
}


@pytest.mark.parametrize("amounts", list(EXACT_CASES.values()), ids=list(EXACT_CASES))
def test_extreme_amounts_within_range_merge_exactly(tmp_path: Path, amounts: list[str]) -> None:
    captures = _captures_with_amounts(tmp_path, amounts)
    out = tmp_path / "spend.json"
    result = _merge(captures, _accepted_locks(captures, tmp_path), out)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    with decimal.localcontext(prec=200):  # the default 28 digits would round the sum here
        expected = sum((Decimal(a) for a in amounts), Decimal(0))
    user_id = json.loads((captures / COSTS).read_text())["pages"][0]["body"]["data"][0]["results"][
        0
    ]["user_id"]
    costs = _api_costs(out, user_id)
    # One user, one day: exactly one cost cell, equal to the exact sum (a rounded sum,
    # or the amounts added as doubles, differs in some digit).
    assert len(costs) == 1, costs
    assert Decimal(costs[0]) == expected, (costs[0], expected)
    assert "E" not in costs[0].upper() or Decimal(costs[0]).is_zero()


REFUSED_CASES = {
    "a 201-digit integer": "7" * 201,
    "a negative 201-digit integer": "-" + "7" * 201,
    "1e400": "1e400",
    "-1e400": "-1e400",
    "1e-400": "1e-400",
    "200 fractional digits": "0." + "1" * 200,
    "35 significant digits": "1.0000000000000000000000000000000001",
    "10^15": "1000000000000000",
    "10^15 written with an exponent": "1E+15",
}


def _one_line_bad_input(result: Any) -> None:
    assert result.code == 2, (result.code, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("verify: error: ")
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "1111111111" not in result.stderr and "7777777777" not in result.stderr  # described


@pytest.mark.parametrize("amount", list(REFUSED_CASES.values()), ids=list(REFUSED_CASES))
def test_amounts_out_of_range_are_one_line_exit_2(tmp_path: Path, amount: str) -> None:
    captures = _captures_with_amounts(tmp_path, [amount, "1.25"])
    out = tmp_path / "spend.json"
    result = _merge(captures, COMMITTED_LOCKS, out)
    if result.code == 1:
        # The gate may refuse first (the magnitude is far from the locked one): a
        # refusal, nothing written; the value itself is judged when a reviewer tries
        # to accept it, below.
        assert "merge refused, nothing written" in result.stderr
        assert "Traceback" not in result.stderr
    else:
        _one_line_bad_input(result)
    assert not out.exists()
    # Accepted by a reviewer (or refused by the lock already), the amount still never
    # reaches an output: the merge reads it as money and stops with one line.
    locks = tmp_path / "locks"
    accepted = run_cli(
        "lock", str(captures), "--locks-dir", str(locks), "--accept",
        "--scale", f"{AMOUNT_PATH}=1", "--reviewer", "tests",
    )  # fmt: skip
    if accepted.code != 0:
        _one_line_bad_input(accepted)
        return
    result = _merge(captures, locks, out)
    _one_line_bad_input(result)
    assert "the amount" in result.stderr and "10^-33 to below 10^15" in result.stderr
    assert not out.exists()
