"""Reading a consumed field out of a row, at the path a reading plan gives.

Each parser reads its rows through `FieldReader`s built from a `ReadingPlan`
(`verifier.consumer.mapping`): the path is the one the lock (or, unlocked, the capture)
resolved for the field, relative to the row the parser walks, so a move a reviewer
accepted is followed without code changes. Absence and null follow the field's typed
declaration: `required` raises, `zero` reads 0, `unknown` reads None (shown as missing).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from verifier.consumer.mapping import FieldPlan, ReadingPlan
from verifier.errors import InputError
from verifier.merge.values import ValueProblem, count, describe, identifier, money

ABSENT: Any = object()


class FieldReader:
    """One field of a row: `raw(row)` is the value (ABSENT when missing; None when the
    value or an object above it is null)."""

    __slots__ = ("_get", "absent", "keys", "name", "nullable", "path", "scale")

    def __init__(self, plan: FieldPlan, row_path: str) -> None:
        self.name = plan.field.name
        self.path = plan.path
        self.absent = plan.field.absent
        self.nullable = plan.field.nullable
        self.scale = plan.scale
        self.keys = relative_keys(plan.path, row_path)
        self._get = _getter(self.keys)

    def raw(self, row: Any) -> Any:
        # The common case in one expression (millions of rows): every object on the way
        # is a dict holding the key. Anything else takes the careful walk below.
        try:
            return self._get(row)
        except (KeyError, TypeError):
            return self._walk(row)

    def _walk(self, row: Any) -> Any:
        node = row
        for depth, key in enumerate(self.keys):
            if not isinstance(node, dict):
                if node is None and depth:
                    return None  # a null object above the field: the field is null
                raise ValueProblem(
                    self._above(depth), f"expected an object, found {describe(node)}"
                )
            node = node.get(key, ABSENT)
            if node is ABSENT:
                return ABSENT
        return node

    def _above(self, depth: int) -> str:
        """The path of the object that should hold key number `depth`."""
        keys = self.keys[:depth]
        return self.path[: len(self.path) - len(".".join(self.keys))].rstrip(".") + "".join(
            f".{key}" for key in keys
        )

    def _missing(self, value: Any) -> Any:
        """The reading of an absent or null value, or a ValueProblem."""
        if value is ABSENT:
            if self.absent == "required":
                raise ValueProblem(self.path, "required by the merge but absent")
            return 0 if self.absent == "zero" else None
        if not self.nullable:
            raise ValueProblem(self.path, "found null, but the merge needs a value here")
        return 0 if self.absent == "zero" else None

    def value(self, row: Any) -> Any:
        """The raw value, required present and non-null."""
        value = self.raw(row)
        if value is ABSENT or value is None:
            return self._missing(value)
        return value

    def money(self, row: Any) -> Decimal | None:
        value = self.raw(row)
        if value is ABSENT or value is None:
            missing = self._missing(value)
            return None if missing is None else Decimal(missing)
        amount = money(value, self.path)
        return amount if self.scale is None else amount * self.scale

    def count(self, row: Any) -> int | None:
        value = self.raw(row)
        if type(value) is int and value >= 0:
            return value
        if value is ABSENT or value is None:
            missing: int | None = self._missing(value)
            return missing
        return count(value, self.path)

    def identifier(self, row: Any) -> str | None:
        value = self.raw(row)
        if type(value) is str:
            return value or None
        if value is ABSENT or value is None:
            self._missing(value)
            return None
        return identifier(value, self.path)


def _getter(keys: tuple[str, ...]) -> Callable[[Any], Any]:
    """`row[k1][k2]...` as one function: KeyError or TypeError when a step is not there."""
    if len(keys) == 1:
        return operator.itemgetter(keys[0])
    if len(keys) == 2:
        outer, inner = keys
        return lambda row: row[outer][inner]

    def walk(row: Any) -> Any:
        for key in keys:
            row = row[key]
        return row

    return walk


def relative_keys(path: str, row_path: str) -> tuple[str, ...]:
    """`data[].totals.credits` under row `data[]` -> ("totals", "credits")."""
    prefix = row_path + "."
    if not path.startswith(prefix) or "[]" in path[len(prefix) :]:
        raise InputError(
            "merge",
            f"{path} is not a member of each {row_path} item, so the merge cannot read it "
            "per row; map the field to a path inside the row (`verify lock --accept`)",
        )
    return tuple(path[len(prefix) :].split("."))


def readers(plan: ReadingPlan, *names: str) -> tuple[FieldReader, ...]:
    row = plan.contract.row
    return tuple(FieldReader(plan[name], row) for name in names)
