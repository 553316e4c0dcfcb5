"""JSON numbers kept exactly as the vendor wrote them, from response to capture file.

orjson reads every number with a fraction into a double, and a double keeps about 17
significant digits: `0.1234567890123456789012345` would be written back as
`0.12345678901234568`, and the capture would no longer hold what the vendor sent.

`loads_exact` parses with the standard library's C scanner, which hands each number's
text to a hook: a number whose text orjson would write back byte for byte stays a float
(the fast, common case); any other (more digits than a double holds, `1.50`, `1E-8`, an
integer beyond 64 bits) becomes a `JsonNumber`, a `Decimal` that remembers its text.
`dumps_default` (orjson's `default=`) writes a `JsonNumber` back as that very text and
any other finite `Decimal` as its own digits, so nothing goes through a double.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

_INT64_DIGITS = 18  # any integer text this short fits orjson's 64-bit integers


class JsonNumber(Decimal):
    """A JSON number with its original text (a Decimal for arithmetic and comparison)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


def float_or_exact(text: str) -> float | JsonNumber:
    value = float(text)
    if orjson.dumps(value) == text.encode():
        return value
    return JsonNumber(text)


def int_or_exact(text: str) -> int | JsonNumber:
    if len(text.lstrip("-")) <= _INT64_DIGITS:
        return int(text)
    return JsonNumber(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_exact(data: bytes | str) -> Any:
    """A JSON document whose numbers are written back digit for digit by `dumps_default`.

    orjson runs first as the strictness guard (UTF-8, no NaN/Infinity, no trailing data,
    nesting); its JSONDecodeError propagates for callers that fall back on invalid JSON."""
    orjson.loads(data)  # its document is dropped at once: one page is not held twice
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        return json.loads(
            text,
            parse_float=float_or_exact,
            parse_int=int_or_exact,
            parse_constant=_refuse_constant,
        )
    except RecursionError:  # valid for orjson (<= 1024 levels) but deeper than Python's stack
        return orjson.loads(data)


def dumps_default(value: Any) -> Any:
    """orjson `default=`: exact numbers as their text; anything else is not JSON."""
    if isinstance(value, JsonNumber):
        return orjson.Fragment(value.text)
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(format(value, "f") if _plain(value) else str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _plain(value: Decimal) -> bool:
    """Whether fixed-point text is short enough (no 1E+100000 written out in full)."""
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and -30 <= exponent <= 30


_WHITESPACE = b" \t\r\n"


def same_text(text: str, items: list[Any]) -> bool:
    """Whether `text` (JSON items as a file holds them, separated by commas) is, but for
    whitespace, what orjson writes for `items` as orjson decoded them. Then every number
    in it is written exactly as its double's shortest form, so `Decimal(repr(float))` is
    the number the text says, digit for digit; a number the vendor sent with more digits
    than a double holds (kept in the capture as its text) makes this False, and the caller
    reads the file with exact decimals instead. All C: about 3 ms per MB (2 for a capture
    file, whose items are indented as orjson indents them: `_same_layout`)."""
    try:
        if _same_layout(text, items):
            return True
        written = orjson.dumps(items)
        given = text.encode()
    except (TypeError, UnicodeEncodeError):  # pragma: no cover - the reader refused these
        return False
    # Whitespace inside strings goes from both sides alike, so strings still compare.
    return given.translate(None, _WHITESPACE) == written[1:-1].translate(None, _WHITESPACE)


def _same_layout(text: str, items: list[Any]) -> bool:
    """Whether `text` is byte for byte orjson's 2-space indented form of `items`, nested
    as deep as its last line says (a capture file's row slice). Indenting adds
    whitespace outside strings only (a line break inside a string is written `\\n`), so
    this implies the comparison of `same_text`; anything else is left to it."""
    newline = text.rfind("\n")
    if not items or newline < 0 or not text.endswith("}"):
        return False
    indent = len(text) - newline - 2  # of the last item's closing brace
    written = orjson.dumps(items, option=orjson.OPT_INDENT_2)  # `[\n  {...},\n  {...}\n]`
    return text.encode() == written[4:-2].replace(b"\n", b"\n" + b" " * (indent - 2))
