"""Reading scalar values out of payloads: exact money, counts, identifiers.

The readers raise `ValueProblem(path, problem)`; the parser that called them turns it
into an `InputError` naming the source file and the JSON pointer of the value (the
pointer is only worked out on that error path, so the row loops stay cheap). A payload
the parsers cannot read is therefore a one-line error (exit 2), never a traceback and
never a silently wrong number."""

from __future__ import annotations

import decimal
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from verifier import paths
from verifier.errors import InputError, UsageError

# Money arithmetic runs in this context: wide enough that sums of API amounts (17
# significant digits each) never round, and `Inexact` trapped so that if one ever
# would, the merge stops instead of returning a number that is off in the last digit.
EXACT = decimal.Context(
    prec=200,
    Emax=100_000,
    Emin=-100_000,
    traps=[decimal.InvalidOperation, decimal.Inexact, decimal.DivisionByZero, decimal.Overflow],
)


class ValueProblem(Exception):
    """A value at a contract path the merge cannot read."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def at(self, source: str, prefix: str, indices: Sequence[int]) -> InputError:
        """The InputError for this problem at concrete array `indices` of `source`."""
        where = prefix + pointer_of(self.path, indices)
        return InputError(source, f"{self.path} at {where or '/'}: {self.problem}")


def pointer_of(path: str, indices: Sequence[int]) -> str:
    """`data[].results[].amount.value` + (3, 7) -> `/data/3/results/7/amount/value`."""
    parts: list[str | int] = []
    pending = iter(indices)
    for name in path.split("."):
        base = name.removesuffix("[]").removesuffix("[]")
        if base:
            parts.append(base)
        parts.extend(next(pending, 0) for _ in range(name.count("[]")))
    return paths.pointer(parts)


def describe(value: Any) -> str:
    """Name a value's JSON type without echoing it (it may be personal data)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return f"a string of {len(value)} character(s)"
    if isinstance(value, list):
        return "an array"
    return "an object"


def member(container: Any, name: str, path: str) -> Any:
    """`container[name]` of a JSON object that must be there."""
    if not isinstance(container, dict):
        raise ValueProblem(paths.parent(path), f"expected an object, found {describe(container)}")
    if name not in container:
        raise ValueProblem(path, "required by the merge but absent")
    return container[name]


def optional_member(container: Any, name: str, path: str) -> Any:
    """`container[name]` of a JSON object, None when the member is absent."""
    if not isinstance(container, dict):
        raise ValueProblem(paths.parent(path), f"expected an object, found {describe(container)}")
    return container.get(name)


def array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueProblem(path, f"expected an array, found {describe(value)}")
    return value


def money(value: Any, path: str) -> Decimal:
    """An exact amount from a JSON number or a numeric string.

    A float is converted through `repr`, the shortest text that reads back as the same
    double. Every capture file is written that way (orjson), so for captures this is
    the JSON text itself; files whose numbers carry more digits than a double holds are
    re-read with Decimal parsing by `verifier.merge.load` before they reach here.
    """
    if type(value) is float:  # the common case first (a million amounts)
        amount = Decimal(repr(value))
        # A double's shortest form has at most 17 significant digits: only its magnitude
        # can be out of range (the full check below says how).
        if amount.is_finite() and (
            -MAX_MONEY_DIGITS < amount.adjusted() < MAX_MONEY_EXPONENT or not amount
        ):
            return amount
    elif isinstance(value, bool):
        raise ValueProblem(path, "expected a number or a numeric string, found a boolean")
    elif isinstance(value, int):
        amount = Decimal(value)  # exact, but held to the same range as any other amount
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValueProblem(
                path, f"expected a numeric string, found {describe(value)} that is not a number"
            ) from None
    else:
        raise ValueProblem(path, f"expected a number or a numeric string, found {describe(value)}")
    if not amount.is_finite():
        raise ValueProblem(path, "the amount is not finite; money must be a finite number")
    if not within_money_range(amount):
        raise ValueProblem(path, f"the amount has {_digits(amount)}; {MONEY_RANGE_WORDS}")
    return amount


# Money the merge accepts: at most this many significant digits and a magnitude below
# 10**MAX_MONEY_EXPONENT (a quadrillion dollars or credits). Beyond that a value is not
# an amount but bad input, and sums could no longer stay exact (EXACT.prec).
MAX_MONEY_DIGITS = 34
MAX_MONEY_EXPONENT = 15
MONEY_RANGE_WORDS = (
    f"amounts must have at most {MAX_MONEY_DIGITS} significant digits and, unless zero, "
    f"a magnitude from 10^-{MAX_MONEY_DIGITS - 1} to below 10^{MAX_MONEY_EXPONENT}"
)


def within_money_range(amount: Decimal) -> bool:
    return (
        len(amount.as_tuple().digits) <= MAX_MONEY_DIGITS
        and amount.adjusted() < MAX_MONEY_EXPONENT
        and amount.adjusted() > -MAX_MONEY_DIGITS
    ) or amount.is_zero()


def _digits(amount: Decimal) -> str:
    return f"{len(amount.as_tuple().digits)} digit(s) and magnitude 10^{amount.adjusted()}"


def count(value: Any, path: str) -> int:
    """A non-negative integer count (tokens, requests, threads)."""
    if type(value) is int and value >= 0:
        return value
    # JSON Schema counts 12.0 as an integer, so the merge does too.
    whole = (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()
    )
    if whole and value >= 0:
        return int(value)
    raise ValueProblem(path, f"expected a non-negative integer, found {describe(value)}")


def optional_count(value: Any, path: str) -> int:
    """A documented-optional count: absent or null reads as 0."""
    return 0 if value is None else count(value, path)


def identifier(value: Any, path: str) -> str | None:
    """A string id or email; None when null, absent or empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    raise ValueProblem(path, f"expected a string or null, found {describe(value)}")


def identity(user_id: str | None) -> str | None:
    """A user id as the one string object kept for it: every row of a user names it, and
    the aggregates key on it per day (hundreds of thousands of keys, a few thousand ids)."""
    return None if user_id is None else sys.intern(user_id)


def flag(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueProblem(path, f"expected a boolean, found {describe(value)}")


def parse_rate(text: str) -> Decimal:
    """The `--credit-usd-rate` option: a finite, non-negative decimal number."""
    try:
        rate = Decimal(text.strip())
    except decimal.InvalidOperation:
        raise UsageError(f"--credit-usd-rate {text!r} is not a decimal number") from None
    if not rate.is_finite() or rate < 0:
        raise UsageError(f"--credit-usd-rate {text!r} must be a finite, non-negative number")
    if not within_money_range(rate):
        raise UsageError(f"--credit-usd-rate is out of range: {MONEY_RANGE_WORDS}")
    return rate


def money_text(amount: Decimal | None) -> str | None:
    """Money as a plain decimal string (never exponent notation); None stays None."""
    return None if amount is None else format(amount, "f")


N = TypeVar("N", int, Decimal)


def add_known(total: N | None, more: N | None) -> N | None:
    """A sum that stays unknown once one part is unknown."""
    return None if total is None or more is None else total + more
