"""Masking of everything the tool shows: report fields, error lines, progress lines.

Findings and reports pass every text field through `mask` when they are built
(`verifier.findings`), so every renderer (text, json, markdown, junit, github, sarif,
html) and every file written from a report shows the masked text; the CLI passes its
stdout and stderr through `mask` as well (`verifier.cli.app`).

`mask` replaces, using the shared detector (`verifier.detect`): email addresses (also
encoded ones), `sk-` keys, bearer tokens, JWTs, and the literal secrets in use (the
credential variables and the anonymisation key, in any case, without prefix, tail only,
base64). Anonymised addresses (`u-<hex>@anon.invalid`) are kept.

`show_string` decides whether a payload value may be quoted at all: only a value that
is what the schema allows there (a documented enum or constant, a timestamp in a
timestamp field, a number in a number field, the public vocabulary); anything else is
described by type and length, never shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from verifier.detect import (
    DIGIT_RUN_PATTERN,
    IPV4_PATTERN,
    PHONE_PATTERN,
    decoded,
    detector,
    is_anonymised_address,
    literal_secrets,
)

EMAIL_WITHHELD = "<email withheld>"
SECRET_WITHHELD = "<secret withheld>"
_MAX_SHOWN = 60
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})?)?"
    r"|[0-9]{9,13}",
    re.ASCII,
)
_NUMBER = re.compile(
    r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{1,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,4})?"
)


NAME_WITHHELD = "<name withheld>"
# A member name shown in a path: a field name, not data used as a key (a phone number,
# an address, a date or an id as a member name is withheld like a value).
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}", re.ASCII)
_DIGIT_RUN = re.compile(r"[0-9]{5,}")
_INDEX = re.compile(r"[0-9]{1,9}")


_SHORT_NUMBER = re.compile(r"[0-9]{1,4}")  # an HTTP status or a small index as a key


def is_field_name(name: str) -> bool:
    if _SHORT_NUMBER.fullmatch(name):
        return True
    return (
        _FIELD_NAME.fullmatch(name) is not None
        and _DIGIT_RUN.search(name) is None
        and mask(name) == name
    )


_PLACEHOLDER = re.compile(r"<[a-z ]*withheld>|line [0-9]+|\(document\)")


def unsafe_segments(path: str, pointer: str) -> set[str]:
    """Member names in a path (`a.b[].c`) or pointer (`/a/0/c`) that are not field names
    (placeholders such as `<withheld>` and a text file's `line 3` are ours)."""
    names = [part.replace("[]", "") for part in path.split(".")] if path else []
    escaped: dict[str, str] = {}  # a name as the pointer spells it (`/` as `~1`)
    for part in pointer.split("/")[1:]:
        if _INDEX.fullmatch(part) is None:
            name = part.replace("~1", "/").replace("~0", "~")
            names.append(name)
            escaped[name] = part
    unsafe = {
        name
        for name in names
        if name and not is_field_name(name) and _PLACEHOLDER.fullmatch(name) is None
    }
    # Both spellings: the pointer (and text quoting it) holds the escaped one.
    return unsafe | {escaped[name] for name in unsafe if name in escaped}


def mask_path(path: str) -> str:
    """A contract path with every member name that is not a field name withheld."""
    if not path or _PLACEHOLDER.fullmatch(path):
        return path
    if all(is_field_name(p.replace("[]", "")) for p in path.split(".") if p):
        return path
    parts = []
    for part in path.split("."):
        name = part.replace("[]", "")
        kept = not name or is_field_name(name) or _PLACEHOLDER.fullmatch(name) is not None
        parts.append(part if kept else NAME_WITHHELD + "[]" * part.count("[]"))
    return ".".join(parts)


def secrets_in_use() -> tuple[str, ...]:
    return literal_secrets(os.environ)


def _replacement(match: re.Match[str]) -> str:
    if match.lastgroup == "email":
        return match.group(0) if is_anonymised_address(match) else EMAIL_WITHHELD
    return SECRET_WITHHELD


def mask(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """`text` with every email and secret replaced by a placeholder."""
    found_by = detector(secrets_in_use() if secrets is None else secrets)
    if not found_by.may_leak(text):
        return text
    masked = found_by.full.sub(_replacement, text)
    if not found_by.kinds(masked):
        return masked
    plain = found_by.full.sub(_replacement, decoded(masked))
    return plain if not found_by.kinds(plain) else f"<text of {len(text)} character(s) withheld>"


_NUMBERS_IN_PROSE = re.compile(f"{PHONE_PATTERN}|{IPV4_PATTERN}|{DIGIT_RUN_PATTERN}")
NUMBER_WITHHELD = "<number withheld>"


def mask_prose(text: str) -> str:
    """A message written by someone else (a vendor's error message): `mask`, and also
    phone numbers, IP addresses and long digit runs withheld."""
    return _NUMBERS_IN_PROSE.sub(NUMBER_WITHHELD, mask(text))


def describe_string(value: str) -> str:
    return f"a string of {len(value)} character(s) (value withheld)"


def show_string(value: str, allowed: Iterable[object] = (), shape: str | None = None) -> str:
    """A payload string as a report may show it: quoted when it is allowed where it was
    found (see the module docstring), otherwise described."""
    if _showable(value, allowed, shape) and mask(value) == value:
        shown = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."
        return f'string "{shown}"'
    return describe_string(value)


def _showable(value: str, allowed: Iterable[object], shape: str | None) -> bool:
    from verifier.vocabulary import is_public  # loads the schemas: only when needed

    if value in allowed or is_public(value):
        return True
    if shape == "timestamp":
        return _TIMESTAMP.fullmatch(value) is not None
    if shape == "number":
        return _NUMBER.fullmatch(value) is not None
    return False
