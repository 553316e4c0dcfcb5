"""Largest-remainder split of one amount in proportion to integer weights.

The split is done in whole units of the amount's own last decimal place (at least
1e-6 dollars), so the parts always add up to the amount exactly: floor every share,
then hand the leftover units one each to the largest fractional remainders (ties go
to the earlier key, so the result is deterministic)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

MIN_PLACES = 6  # split to at least micro-dollars so small shares are not rounded to 0


def split_exactly(amount: Decimal, weights: Mapping[K, int]) -> dict[K, Decimal]:
    """Parts of `amount` per key, proportional to `weights` (positive total), summing
    exactly to `amount`. Keys are taken in the mapping's order for tie-breaks."""
    total_weight = sum(weights.values())
    if total_weight <= 0 or any(weight < 0 for weight in weights.values()):
        raise ValueError("weights must be non-negative with a positive total")
    places = amount.as_tuple().exponent
    if not isinstance(places, int):
        raise ValueError("only finite amounts can be split")
    exponent = min(places, -MIN_PLACES)
    units = int(amount.scaleb(-exponent))  # exact: amount has at most -exponent places
    sign, units = (-1 if units < 0 else 1), abs(units)

    floors: dict[K, int] = {}
    remainders: list[tuple[int, int, K]] = []
    for order, (key, weight) in enumerate(weights.items()):
        share, remainder = divmod(units * weight, total_weight)
        floors[key] = share
        remainders.append((-remainder, order, key))
    leftover = units - sum(floors.values())
    for _, _, key in sorted(remainders)[:leftover]:
        floors[key] += 1
    return {key: Decimal(sign * share).scaleb(exponent) for key, share in floors.items()}
