"""Several fields of a row read in one step, for the rows where nothing is off.

A parser reads millions of rows, nearly all of them plain: every object on the way is a
dict holding the key, every value has the expected type. `compile_reads` turns a
parser's `FieldReader`s into one function for those rows: straight-line subscripts and
type tests, generated once per reading plan, returning every field's reading as a tuple,
or None as soon as anything is not plain (a missing required key, a null where a value
belongs, a string for a number, a count that is a float, money beyond the range checked
here ...). The parser then reads that row again through its `FieldReader`s, the careful
path, which decides what the row means or which error it is: the fast path never raises
and never decides anything the careful path would decide differently
(`tests/test_merge_compiled.py` checks both agree on every kind of odd row).

What each kind of read returns (the same as the `FieldReader` method of that name):

- `plain`: the raw value when it is a `str` or an `int` (exactly those types, so the
  caller may key a cache on it: `1 == 1.0 == True` never meets a `str` or an `int`);
- `count`: a non-negative `int`, or the field's reading of absent / null;
- `money`: `Decimal(repr(float))` or `Decimal(int)` of a number well inside the money
  range, or a finite `Decimal` inside it (ijson's numbers), times the plan's scale; or
  the field's reading of absent / null;
- `identifier`: a `str` (empty: None), or None for absent / null where the field allows.

The generated source holds no text from the plan: keys, scales and constants are names
bound in the function's namespace, so a key is never code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

from verifier.merge.fields import ABSENT, FieldReader
from verifier.merge.values import within_money_range

Kind = Literal["plain", "count", "money", "identifier"]
Reads = Callable[[Any], "tuple[Any, ...] | None"]

# The careful path decides this read: the generated code returns None for the row.
_CAREFUL: Any = object()
# An intermediate object read leniently (no field below it is required) that is absent:
# the fields below it read as absent, as the careful walk has it.
_NO_OBJECT: MappingProxyType[str, Any] = MappingProxyType({})

# Money read here: well inside the range `values.money` accepts (`MAX_MONEY_EXPONENT`
# 15, at least 10^-33 unless zero), so the careful checks would pass and give the same
# Decimal. A double's shortest form has at most 17 significant digits.
_FLOAT_MONEY = "1e-30 < {v} < 1e14 or -1e14 < {v} < -1e-30 or {v} == 0.0"
_INT_MONEY = "-1000000000000000 < {v} < 1000000000000000"


def compile_reads(reads: Sequence[tuple[FieldReader, Kind]]) -> Reads:
    """One function reading every (field, kind) of a plain row (see the module doc)."""
    source = _Source(reads)
    namespace: dict[str, Any] = {
        "ABSENT": ABSENT,
        "Decimal": Decimal,
        "NO_OBJECT": _NO_OBJECT,
        "in_range": within_money_range,
        **source.names,
    }
    exec(source.text(), namespace)  # the text is ours alone (see the module doc)
    reader: Reads = namespace["reads"]
    return reader


class _Source:
    """The text of the generated function and the names it uses."""

    def __init__(self, reads: Sequence[tuple[FieldReader, Kind]]) -> None:
        self.names: dict[str, Any] = {}
        self.walk: list[str] = []
        self.checks: list[str] = []
        self._objects: dict[tuple[str, ...], str] = {(): "row"}
        strict = {
            field.keys[:depth]
            for field, _ in reads
            if field.absent == "required"
            for depth in range(1, len(field.keys))
        }
        self._strict_objects = strict
        self.values = [
            self._field(position, field, kind) for position, (field, kind) in enumerate(reads)
        ]

    def text(self) -> str:
        lines = [
            "def reads(row):",
            "    try:",
            *(f"        {line}" for line in self.walk),
            "    except (KeyError, TypeError, AttributeError):",
            "        return None",
            *(f"    {line}" for line in self.checks),
            f"    return ({', '.join(self.values)},)",
        ]
        return "\n".join(lines) + "\n"

    def _name(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def _object(self, keys: tuple[str, ...]) -> str:
        """The variable holding the object at `keys` (read once per row)."""
        known = self._objects.get(keys)
        if known is not None:
            return known
        parent = self._object(keys[:-1])
        key = self._name("k", keys[-1])
        variable = f"o{len(self._objects)}"
        if keys in self._strict_objects:
            self.walk.append(f"{variable} = {parent}[{key}]")
        else:
            self.walk.append(f"{variable} = {parent}.get({key}, NO_OBJECT)")
        self._objects[keys] = variable
        return variable

    def _field(self, position: int, field: FieldReader, kind: Kind) -> str:
        parent = self._object(field.keys[:-1])
        key = self._name("k", field.keys[-1])
        v = f"v{position}"
        if field.absent == "required":
            self.walk.append(f"{v} = {parent}[{key}]")
        else:
            self.walk.append(f"{v} = {parent}.get({key}, ABSENT)")
        if kind == "plain":
            self.checks.append(f"if type({v}) is not str and type({v}) is not int:")
            self.checks.append("    return None")
            return v
        if kind == "count":
            self.checks.append(f"if type({v}) is not int or {v} < 0:")
        elif kind == "identifier":
            self.checks.append(f"if type({v}) is str:")
            self.checks.append(f"    {v} = {v} or None")
            self.checks.append("else:")
        else:
            # A stated scale multiplies an amount read, not the reading of a missing one.
            scaled = "" if field.scale is None else f" * {self._name('s', field.scale)}"
            self.checks.append(f"if type({v}) is float and ({_FLOAT_MONEY.format(v=v)}):")
            self.checks.append(f"    {v} = Decimal(repr({v})){scaled}")
            self.checks.append(f"elif type({v}) is int and {_INT_MONEY.format(v=v)}:")
            self.checks.append(f"    {v} = Decimal({v}){scaled}")
            # ijson's numbers (a capture read exactly, `read_exact`) are Decimals already.
            self.checks.append(
                f"elif isinstance({v}, Decimal) and {v}.is_finite() and in_range({v}):"
            )
            self.checks.append(f"    {v} = {v}{scaled}")
            self.checks.append("else:")
        self.checks.extend(f"    {line}" for line in self._missing(field, kind, v))
        return v

    def _missing(self, field: FieldReader, kind: Kind, v: str) -> list[str]:
        """Lines giving `v` the reading of absent or null (`FieldReader._missing`), or
        leaving the row to the careful path."""
        absent, null = _missing_reading(field, kind)
        lines: list[str] = []
        for marker, reading in (("ABSENT", absent), ("None", null)):
            if reading is not _CAREFUL:
                branch = "if" if not lines else "elif"
                # None and 0 as literals; a Decimal reading as a name bound to it.
                constant = (
                    repr(reading)
                    if type(reading) in (int, type(None))
                    else (self._name("m", reading))
                )
                lines += [f"{branch} {v} is {marker}:", f"    {v} = {constant}"]
        return [*lines, *(["else:", "    return None"] if lines else ["return None"])]


def _missing_reading(field: FieldReader, kind: Kind) -> tuple[Any, Any]:
    """What `kind` reads for an absent and for a null value of `field` (`_CAREFUL`:
    an error, or not decided here)."""
    if kind == "plain":
        return _CAREFUL, _CAREFUL
    reading: Any = 0 if field.absent == "zero" else None
    if kind == "identifier":
        reading = None
    elif kind == "money" and reading is not None:
        reading = Decimal(reading)
    absent = _CAREFUL if field.absent == "required" else reading
    null = reading if field.nullable else _CAREFUL
    return absent, null
