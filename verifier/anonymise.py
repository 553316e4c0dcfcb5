"""The pure anonymiser: payload in, new payload out, keyed pseudonyms that still join.

Rules, in the order they are applied to a string:

* The schema annotations of the surface (`verifier.schemas.surface_nodes`, plus the
  error bodies: the OpenAI error envelope, a bare-string `error`, FastAPI `detail`)
  say what a path holds. A path marked safe (`x-pii: none`, a timestamp with
  `x-timestamp-format`, a `const`/`enum` field) keeps its value, scrubbed of anything
  the leak gate would flag. A PII path (`email`, `person_id`, `project_id`, `key_id`,
  `name`, `cursor`) gets a pseudonym; `free_text` keeps its words with emails, keys,
  tokens and ids inside it replaced.
* Default-deny: a string at a path the schema does not know is pseudonymised, so a
  field that appears live (`user_email`, `actor.email`, `organization_id`) never
  survives. Two exceptions keep what the drift engine reads and carry no identity:
  strings shaped like a timestamp or a number (RFC 3339, dates, numeric strings) and
  dotted lowercase discriminators in a member named `object`.
* Numbers, booleans and nulls are never touched; member names are kept unless they
  look sensitive themselves.

Pseudonyms are HMAC-SHA256 of the value under the anonymisation key and depend on the
value only, never on the path: the same email on the ChatGPT surface and in the OpenAI
users list, or the same `user-...` id in usage, costs and the users list, map to the same
pseudonym across files and runs. Emails become `u-<hex>@anon.invalid` (normalised to
lowercase first, as mail systems compare them); ids keep a known prefix (`user-`,
`wsu_`, `proj_`, ...), their length, and the character class at every position.

Every pseudonym carries a keyed tag (hmac-sha256/v2): the last hex digits of an address,
the last letters and digits of a token are an HMAC, under the same key, of the rest of
the pseudonym. So the anonymiser can tell "a pseudonym made with this key" from anything
else, without a list: it keeps the first as it is (anonymising again is idempotent, joins
survive) and replaces the second, even in a file that claims this key's fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from verifier import paths
from verifier.detect import (
    ANON_EMAIL_DOMAIN,
    DIGIT_RUN_PATTERN,
    EMAIL_PATTERN,
    IPV4_PATTERN,
    JWT_PATTERN,
    PHONE_PATTERN,
    decoded,
    detector,
    leaks_in,
    literal_alternative,
)
from verifier.errors import RefusedError, UsageError
from verifier.findings import finding_from_json
from verifier.keys import AnonKey
from verifier.redact import is_field_name
from verifier.schemas import SchemaNode, flatten, load_schema, surface_nodes
from verifier.store import Capture, Page, RequestInfo
from verifier.surfaces import SURFACES, Surface, get_surface
from verifier.vocabulary import is_public, is_public_discriminator, is_public_text

ID_PREFIXES = ("user-", "user_", "wsu_", "proj_", "key_", "org-", "org_", "page_", "req_")
SAFE = "safe"  # x-pii none: kept as free text (emails, keys, ids, phones inside replaced)
SAFE_ENUM = "safe-enum"  # a const/enum: kept when it is public vocabulary, else replaced
SAFE_TIME = "safe-time"  # a timestamp: kept when it is shaped like one, else replaced

REDACTED_KEY = "[redacted-key]"
REDACTED_TOKEN = "[redacted-token]"
REDACTED_SECRET = "[redacted]"
_PLACEHOLDERS = frozenset({REDACTED_KEY, REDACTED_TOKEN, REDACTED_SECRET})

ROWS_PATH = paths.item(paths.child(paths.ROOT, "data"))  # a body's rows: `data[]`
_EMAIL_HEX = 16
_EMAIL_TAG_HEX = 8
_STREAM_CONTEXT = b"verify-anon/v1/token\x00"
_EMAIL_CONTEXT = b"verify-anon/v1/email\x00"
_TAG_CONTEXT = b"verify-anon/v2/tag\x00"
_EMAIL_TAG_CONTEXT = b"verify-anon/v2/email-tag\x00"
# The tag of a token: its last letters and digits, at most this many and at most half
# of them (at least one): the rest carries the value's own HMAC, which the joins need. A
# value that is not a pseudonym passes for one with a chance of about one in 26**8
# (letters) or 10**8 (digits); a short value has a short tag (docs/security.md).
TAG_CHARS = 8
_MAX_ATTEMPTS = 16
_MAX_MEMO = 10_000

# What the drift engine reads as formats: timestamps (every contract format name) and
# numbers sent as strings. Such strings carry no identity and are kept at any path.
_FORMATTED = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}:?\d{2})?)?"
    r"|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?",
    re.ASCII,
)
# k-anonymity: a timestamp- or number-shaped string at a path the schema does not know is
# kept only when the same value is seen in the rows of at least this many distinct people
# (a usage day, a bucket boundary); anything rarer (a date of birth, a phone number, a
# numeric id) is replaced, digits by digits.
K_ANONYMITY = 3
# A number with a fractional part sent as a string is an amount (`"12.50"`), never a phone
# number, an id or a date: kept so that money stays exact wherever it moves.
# At an `x-pii: none` path a number sent as a string is kept when it reads as an amount:
# a fraction, or at most 6 integer digits (a numeric id or a phone number has more).
_SAFE_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,15}\.[0-9]{1,15}|[0-9]{1,6})", re.ASCII)
_DECIMAL = re.compile(r"[+-]?[0-9]{1,15}\.[0-9]{1,15}", re.ASCII)
IDENTITY_MEMBERS = frozenset({"user_id", "email", "user_email", "actor_id", "account_id"})
_IDENTITY_CLASSES = frozenset({"email", "person_id"})
_UUID = (
    r"(?<![0-9A-Fa-f])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
    r"-[0-9a-fA-F]{12}(?![0-9A-Fa-f])"
)
# An id inside free text: a known prefix and a body that looks generated (a digit, or
# long), so words such as `user_id` or `org_ids` in a vendor message stay readable.
_TEXT_ID = (
    r"(?<![A-Za-z0-9_\-])(?:"
    + "|".join(re.escape(p) for p in ID_PREFIXES)
    + r")(?=[A-Za-z0-9]*[0-9]|[A-Za-z0-9]{12})[A-Za-z0-9]+"
)
# Redaction matches a superset of what the leak gate detects (see verifier.leakscan).
_SK_ANY = r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_*.\-]+"
_BEARER_ANY = r"(?<![A-Za-z0-9])(?i:bearer)\s+[A-Za-z0-9._~+/=\-]+"

# Response headers kept in captures; everything else (Authorization, Cookie,
# Set-Cookie, OpenAI-Organization, OpenAI-Project, ...) is dropped.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "openai-version",
        "openai-processing-ms",
    }
)
# Rate-limit headers are kept only under their documented names: a name is data too
# (`x-ratelimit-<workspace id>` would carry an identifier in the clear).
KEPT_HEADER_NAME = re.compile(
    r"x-ratelimit-(?:limit|remaining|reset)-(?:project-)?(?:requests|tokens|input-tokens"
    r"|output-tokens|images)"
)
PSEUDONYMISED_HEADERS = frozenset({"x-request-id"})

# Query parameters by what they hold (names without a trailing `[]`).
SAFE_QUERY = frozenset(
    {
        "start_time",
        "end_time",
        "bucket_width",
        "group_by",
        "group",
        "limit",
        "batch",
        "models",
        "order",
        "service_tier",
    }
)
QUERY_CLASSES = {
    "page": "cursor",
    "after": "cursor",
    "before": "cursor",
    "user_ids": "person_id",
    "project_ids": "project_id",
    "api_key_ids": "key_id",
    "emails": "email",
}
_QS = "[]:,{}"  # characters left unescaped in rebuilt query values
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


# ---------------------------------------------------------------- pseudonyms


def _digest(context: bytes, value: str, key: AnonKey) -> bytes:
    data = context + value.encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates
    return hmac.new(key.secret, data, hashlib.sha256).digest()


_EMAIL_FULL = re.compile(EMAIL_PATTERN)
_ANON_DOMAIN = re.compile(rf"(?:@|%40){re.escape(ANON_EMAIL_DOMAIN)}", re.IGNORECASE)


# What an address or an encoding that hides an `@` needs (see `detect.decoded`): an ASCII
# string with none of these is no address, and decodes to itself.
_MAY_HIDE_AN_ADDRESS = re.compile(r"[@&%\\\[(]|[^\x00-\x7f]")


def is_email(value: str) -> bool:
    """The whole value is one address, as written or once decoded (`jane&#64;corp.com`)."""
    if _MAY_HIDE_AN_ADDRESS.search(value) is None:
        return False  # most strings: ids, timestamps, models (tests/test_anonymise.py)
    stripped = value.strip()
    return (
        _EMAIL_FULL.fullmatch(stripped) is not None
        or _EMAIL_FULL.fullmatch(decoded(stripped)) is not None
    )


_ANON_ADDRESS = re.compile(
    rf"u-([0-9a-f]{{{_EMAIL_HEX}}})([0-9a-f]{{{_EMAIL_TAG_HEX}}})@{re.escape(ANON_EMAIL_DOMAIN)}"
)


def _email_tag(body: str, key: AnonKey) -> str:
    return _digest(_EMAIL_TAG_CONTEXT, body, key).hex()[:_EMAIL_TAG_HEX]


def is_pseudonym_email(value: str, key: AnonKey) -> bool:
    """`value` is an address this key made (its tag checks out), not one that only
    looks like it (`jane@anon.invalid`, or `u-<hex>` of another key or hand-written)."""
    match = _ANON_ADDRESS.fullmatch(value)
    return match is not None and hmac.compare_digest(
        match.group(2), _email_tag(match.group(1), key)
    )


def pseudonym_email(value: str, key: AnonKey) -> str:
    """`u-<16 hex><8 hex tag>@anon.invalid`; an address this key made is kept as it is."""
    normalised = decoded(value.strip()).lower()
    if is_pseudonym_email(normalised, key):
        return normalised
    body = _digest(_EMAIL_CONTEXT, normalised, key).hex()[:_EMAIL_HEX]
    return f"u-{body}{_email_tag(body, key)}@{ANON_EMAIL_DOMAIN}"


def _split_prefix(value: str) -> tuple[str, str]:
    for prefix in ID_PREFIXES:
        if value.startswith(prefix):
            return prefix, value[len(prefix) :]
    return "", value


_OTHER_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_HEX_LOWER = frozenset("0123456789abcdef")
_HEX_UPPER = frozenset("0123456789ABCDEF")


def _alphabets(body: str) -> tuple[str, str, str]:
    """(digits, lowercase, uppercase) target alphabets; hex stays hex."""
    alnum = {c for c in body if c.isascii() and c.isalnum()}
    has_digit = any(c.isdigit() for c in alnum)
    if has_digit and alnum <= _HEX_LOWER and alnum - set(string.digits):
        return string.digits, "abcdef", string.ascii_uppercase
    if has_digit and alnum <= _HEX_UPPER and alnum - set(string.digits):
        return string.digits, string.ascii_lowercase, "ABCDEF"
    return string.digits, string.ascii_lowercase, string.ascii_uppercase


def _map_chars(body: str, stream: bytes, *, digits_only: bool = False) -> str:
    """Replace every letter and digit by a keyed one of the same class; keep the rest.

    `digits_only` keeps letters: a timestamp- or number-shaped value (at a PII path) keeps
    its `T`, `Z` or exponent `e`, and so its format class."""
    digits, lower, upper = _alphabets(body)
    out = []
    for char, byte in zip(body, stream, strict=False):
        if char.isdigit():
            # Other scripts' digits stay non-ASCII digits: an ASCII one could make the
            # token read as a number or timestamp.
            alphabet = digits if char.isascii() else _OTHER_DIGITS
            out.append(alphabet[byte % len(alphabet)])
        elif digits_only:
            out.append(char)
        elif char.isalpha():
            # Non-ASCII letters become ASCII ones. Test isalpha() first: symbols such as
            # U+1F130 are "uppercase" without being letters, and must stay symbols.
            alphabet = upper if char.isupper() else lower
            out.append(alphabet[byte % len(alphabet)])
        elif char == "@":
            out.append("_")  # a token never reads as an email address
        else:
            out.append(char)
    return "".join(out)


def _mappable(char: str, digits_only: bool) -> bool:
    return char.isdigit() or (not digits_only and char.isalpha())


def _tag_positions(body: str, digits_only: bool) -> list[int]:
    """Where a token's tag sits: its last TAG_CHARS letters and digits (digits only for
    a timestamp- or number-shaped value), at most half of them. The same positions in
    a value and in its pseudonym, since every character keeps its class."""
    positions = [i for i, char in enumerate(body) if _mappable(char, digits_only)]
    count = min(TAG_CHARS, max(1, len(positions) // 2)) if positions else 0
    return positions[len(positions) - count :]


def _tagged(
    prefix: str, body: str, positions: list[int], key: AnonKey, alphabets: tuple[str, str, str]
) -> str:
    """`body` with the tag written at `positions`: an HMAC of the prefix and of the rest
    of the body, each character drawn from the class of the character it replaces."""
    chars = list(body)
    for position in positions:
        chars[position] = "\0"
    stream = _digest(_TAG_CONTEXT, prefix + "".join(chars), key)
    digits, lower, upper = alphabets
    for byte, position in zip(stream, positions, strict=False):
        char = body[position]
        if char.isdigit():
            alphabet = digits if char.isascii() else _OTHER_DIGITS
        else:
            alphabet = upper if char.isupper() else lower
        chars[position] = alphabet[byte % len(alphabet)]
    return "".join(chars)


# Every choice `_alphabets` can make: the one a token was made with is not always the one
# its own letters suggest (a token of a non-hex value can come out hex-looking by chance).
_ALPHABET_CHOICES = (
    (string.digits, string.ascii_lowercase, string.ascii_uppercase),
    (string.digits, "abcdef", string.ascii_uppercase),
    (string.digits, string.ascii_lowercase, "ABCDEF"),
)


def is_pseudonym_token(value: str, key: AnonKey) -> bool:
    """`value` is a token this key made: its tag checks out. The anonymiser's own
    placeholders and a value without a letter or digit (nothing to replace) count too."""
    if value in _PLACEHOLDERS:
        return True
    prefix, body = _split_prefix(value)
    positions = _tag_positions(body, _is_formatted(value))
    if not positions:
        return True
    given = body.encode("utf-8", "surrogatepass")
    likely = _alphabets(body)
    return any(
        hmac.compare_digest(
            _tagged(prefix, body, positions, key, alphabets).encode("utf-8", "surrogatepass"),
            given,
        )
        for alphabets in (likely, *(a for a in _ALPHABET_CHOICES if a != likely))
    )


def _acceptable(candidate: str, original: str) -> bool:
    """A pseudonym must never look like a leak or change the value's format class."""
    if leaks_in(candidate):
        return False
    return _is_formatted(candidate) == _is_formatted(original)


def _is_formatted(value: str) -> bool:
    return _FORMATTED.fullmatch(value) is not None


def pseudonym_token(value: str, key: AnonKey, keep_own: bool = True) -> str:
    """Format-preserving token: known prefix kept, same length, same class per position,
    the last letters and digits a keyed tag. A token this key made is kept as it is
    (`keep_own`); raw data is never taken for one (`keep_own=False`): a short raw id
    carries a valid short tag by chance (about 1 in 40,000 with 8 letters and digits)."""
    if not value or (keep_own and is_pseudonym_token(value, key)):
        return value
    prefix, body = _split_prefix(value)
    formatted = _is_formatted(value)
    positions = _tag_positions(body, formatted)
    alphabets = _alphabets(body)
    digest = _digest(_STREAM_CONTEXT, value, key)
    for attempt in range(_MAX_ATTEMPTS):
        stream = hashlib.shake_256(digest + bytes([attempt])).digest(len(body))
        mapped = _map_chars(body, stream, digits_only=formatted)
        candidate = prefix + _tagged(prefix, mapped, positions, key, alphabets)
        if _acceptable(candidate, value):
            return candidate
    return REDACTED_SECRET


def is_pseudonym(value: str, key: AnonKey) -> bool:
    """`value` is a pseudonym (an address or a token) that `key` made."""
    if is_email(value):
        return is_pseudonym_email(decoded(value.strip()).lower(), key)
    return is_pseudonym_token(value, key)


def pseudonym(value: str, pii_class: str, key: AnonKey) -> str:
    """Keyed, deterministic, format-preserving pseudonym of one string.

    The result depends on the value and the key only (an email is recognised by its
    shape whatever the class says), so joins survive across paths and surfaces.
    `free_text` keeps the words and replaces what is sensitive inside them."""
    if pii_class == "free_text":
        return _Anonymiser(key).free_text(value)
    if is_email(value):
        return pseudonym_email(value, key)
    return pseudonym_token(value, key)


# ---------------------------------------------------------------- schema rules


_FASTAPI_ERROR_RULES = {
    "detail": "free_text",  # a string detail; a list gets the rules below
    "detail[].msg": "free_text",
    "detail[].type": SAFE,
    "detail[].loc[]": "free_text",
}


def _rule_of(node: SchemaNode) -> str | None:
    if node.pii and node.pii != "none":
        return node.pii
    if node.values is not None:
        return SAFE_ENUM
    if node.timestamp_format:
        return SAFE_TIME
    if node.pii == "none":
        return SAFE
    # `error` is anyOf(object, string): the annotation sits on the string variant.
    for variant in node.schema.get("anyOf", node.schema.get("oneOf", ())):
        if isinstance(variant, Mapping) and variant.get("type") == "string":
            pii = variant.get("x-pii")
            if isinstance(pii, str):
                return SAFE if pii == "none" else pii
    return None


@cache
def error_rules() -> dict[str, str]:
    rules = {
        path: rule
        for path, node in flatten(load_schema("openai_error.schema.json")).items()
        if path and (rule := _rule_of(node)) is not None
    }
    rules.update(_FASTAPI_ERROR_RULES)
    # The vendor's error vocabulary (`type`, `code`, `param`) is prose of the vendor's:
    # kept as free text, with whatever personal or secret inside it replaced.
    return {path: "free_text" if rule == SAFE else rule for path, rule in rules.items()}


class PathRules:
    """Contract path -> rule (`safe` or a PII class) for the bodies of one surface.

    A path the schema does not know exactly may still be the tail of a known one: a
    fragment saved by other means (one cost result, a bucket array) has paths such as
    `amount.currency` or `[].results[].user_id`. Such a path takes the rule of the known
    paths it ends, when they all agree; anything else gets no rule (default-deny)."""

    def __init__(self, exact: Mapping[str, str], tails: Mapping[str, str]) -> None:
        self._exact = dict(exact)
        self._tails = dict(tails)
        self._memo: dict[str, str | None] = {}

    def get(self, path: str) -> str | None:
        if path in self._exact:
            return self._exact[path]
        if path in self._memo:
            return self._memo[path]
        rule = self._by_tail(path)
        if len(self._memo) < _MAX_MEMO:  # bounded: paths of odd payloads are unbounded
            self._memo[path] = rule
        return rule

    def _by_tail(self, path: str) -> str | None:
        if not path:
            return None
        glue = "" if path.startswith("[]") else "."
        found = {rule for known, rule in self._tails.items() if known.endswith(glue + path)}
        return found.pop() if len(found) == 1 else None


NO_RULES = PathRules({}, {})


@cache
def surface_rules(surface: Surface) -> PathRules:
    body_rules = {}
    for path, node in surface_nodes(surface).items():
        rule = _rule_of(node)
        if rule is not None:
            body_rules[path] = rule
    return PathRules({**error_rules(), **body_rules}, body_rules)


@cache
def _template_literals() -> frozenset[str]:
    words: set[str] = set()
    for surface in SURFACES.values():
        words.update(s for s in surface.path.split("/") if s and not s.startswith("{"))
    return frozenset(words)


# ---------------------------------------------------------------- the anonymiser


class Pseudonyms:
    """The pseudonyms one key made, shared by the anonymisers of one run (the pages of a
    capture): an id or an address repeated on every page costs its HMACs once per run,
    not once per page. A pseudonym depends on the value and the key only, so sharing
    changes no output. Bounded: past `_MAX_PSEUDONYMS` it starts over (memory stays flat
    however many people the organisation has); it lives as long as the run."""

    def __init__(self, key: AnonKey) -> None:
        self.key = key
        self.made: dict[str, str] = {}


_MAX_PSEUDONYMS = 1 << 15  # a few MB at most


class _Anonymiser:
    """One key, the literal secrets in use, and a memo of pseudonyms already made."""

    def __init__(
        self,
        key: AnonKey,
        secrets: Sequence[str] = (),
        pseudonyms: Pseudonyms | None = None,
        keep_own: bool = True,
    ) -> None:
        self.key = key
        # Keep tokens whose tag this key made: only in data that says it was anonymised
        # with this key (re-anonymising is idempotent); raw data has none to keep.
        self.keep_own = keep_own
        literals = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        literal = literal_alternative(literals)
        literal_alt = [literal] if literal else []
        leak_alts = [
            f"(?P<sk>{_SK_ANY})",
            f"(?P<bearer>{_BEARER_ANY})",
            f"(?P<jwt>{JWT_PATTERN})",
            f"(?P<email>{EMAIL_PATTERN})",
        ]
        id_alts = [
            f"(?P<uuid>{_UUID})",
            f"(?P<id>{_TEXT_ID})",
            f"(?P<ip>{IPV4_PATTERN})",
            f"(?P<phone>{PHONE_PATTERN})",
            f"(?P<digits>{DIGIT_RUN_PATTERN})",
        ]
        self._scrub_re = re.compile("|".join(literal_alt + leak_alts))
        self._free_re = re.compile("|".join(literal_alt + leak_alts + id_alts))
        # Most kept strings (timestamps, enums) hold nothing to scrub: test that cheaply.
        self._detector = detector(literals)
        shared = pseudonyms is not None and pseudonyms.key is key and not keep_own
        self._memo: dict[str, str] = pseudonyms.made if pseudonyms and shared else {}
        self._applied: dict[tuple[str | None, str, bool], str] = {}
        self._names: dict[str, str] = {}  # member names repeat in every row
        self._shared: frozenset[str] = frozenset()  # see K_ANONYMITY

    # -- strings

    def token(self, value: str) -> str:
        cached = self._memo.get(value)
        if cached is None:
            if is_email(value):
                cached = pseudonym_email(value, self.key)
            else:
                cached = pseudonym_token(value, self.key, self.keep_own)
            if len(self._memo) >= _MAX_PSEUDONYMS:
                self._memo.clear()
            self._memo[value] = cached
        return cached

    def _replace(self, match: re.Match[str]) -> str:
        group = match.lastgroup
        text = match.group(0)
        if group == "literal":
            return REDACTED_SECRET
        if group == "sk":
            return REDACTED_KEY
        if group == "bearer":
            return text.split()[0] + " " + REDACTED_TOKEN
        if group == "jwt":
            return REDACTED_TOKEN
        if group == "email":
            return pseudonym_email(text, self.key)  # one this key made is kept
        return self.token(text)  # uuid or prefixed id

    def scrub(self, text: str) -> str:
        """Replace only what the leak gate would flag (for strings kept as they are), and
        any address at the anonymised domain that this key did not make."""
        if not self._detector.may_leak(text) and _ANON_DOMAIN.search(text) is None:
            return text
        return self._decoded_fallback(self._scrub_re.sub(self._replace, text), self._scrub_re)

    def free_text(self, text: str) -> str:
        """Keep the words; replace secrets, emails, UUIDs and generated ids inside."""
        return self._decoded_fallback(self._free_re.sub(self._replace, text), self._free_re)

    def _decoded_fallback(self, text: str, pattern: re.Pattern[str]) -> str:
        """A leak hidden by an encoding (`&#64;`, `%2540`, `\\u0040`) has no place in the
        text to replace: the text is then kept in its decoded form, scrubbed."""
        if not self._detector.kinds(text):
            return text
        plain = pattern.sub(self._replace, decoded(text))
        # Whatever still looks like a leak after decoding is not kept at all.
        return plain if not self._detector.kinds(plain) else self.token(plain)

    def apply(self, rule: str | None, value: str, member: str | None) -> str:
        """The anonymised string for `value` under `rule` (memoised: rows repeat values)."""
        key = (rule, value, member == "object")
        done = self._applied.get(key)
        if done is None:
            done = self._apply(rule, value, member)
            if len(self._applied) < _MAX_MEMO * 10:
                self._applied[key] = done
        return done

    def _apply(self, rule: str | None, value: str, member: str | None) -> str:
        if rule == "free_text":
            return self.free_text(value)
        if rule == SAFE:
            # `x-pii: none` (model, service_tier, role, line_item): the vocabulary, or
            # words of it; anything else (a name where a model was) gets a pseudonym.
            # A number sent as a string (an amount) keeps its digits: money stays exact.
            kept = is_public_text(value) or _SAFE_NUMBER.fullmatch(value) is not None
            return self.scrub(value) if kept else self.token(value)
        if rule == SAFE_ENUM and (is_public(value) or is_public_discriminator(value)):
            return self.scrub(value)
        if rule == SAFE_TIME and _is_formatted(value):
            return self.scrub(value)
        if rule is None and (
            _DECIMAL.fullmatch(value) is not None  # an amount sent as a string: money stays exact
            or is_public(value)
            or (member == "object" and is_public_discriminator(value))
            or value in self._shared
        ):
            return self.scrub(value)
        # Every letter and digit of a token is replaced, so nothing secret survives it.
        return self.token(value)

    # -- JSON

    def member_name(self, name: str) -> str:
        """Member names are field names; one that is itself an email, a secret, a UUID or
        a generated id (a map keyed by user) is replaced like a value."""
        done = self._names.get(name)
        if done is None:
            sensitive = (
                self._free_re.search(name) or self._detector.kinds(name) or not is_field_name(name)
            )
            done = self.token(name) if sensitive else name
            if len(self._names) < _MAX_MEMO:
                self._names[name] = done
        return done

    def json(self, document: Any, rules: PathRules) -> Any:
        """A new document: iterative (no recursion limit), input untouched."""
        self.begin_document(shared_values(document, rules))
        return self.walk(document, rules)

    def begin_document(self, shared: frozenset[str]) -> None:
        """Before the parts of one document: its k-anonymous values (`shared_values`)."""
        self._shared = shared
        self._applied.clear()  # what is shared differs per document

    def walk(
        self,
        document: Any,
        rules: PathRules,
        path: str = paths.ROOT,
        member: str | None = None,
    ) -> Any:
        """A new copy of `document`, a part of the current document found at `path` (the
        value of member `member` of an object, None: an item or the whole)."""
        holder: list[Any] = [None]
        stack: list[tuple[Any, str, str | None, Any, Any]] = [(document, path, member, holder, 0)]
        # Hot loop (every value of every page): strings, numbers and the like inside a
        # container are done in place; only containers go on the stack.
        apply, rule_of, names = self.apply, rules.get, self._names
        while stack:
            node, path, member, target, slot = stack.pop()
            if isinstance(node, str):
                target[slot] = apply(rule_of(path), node, member)
            elif isinstance(node, dict):
                new: dict[str, Any] = {}
                target[slot] = new
                prefix = path + "." if path else ""  # paths.child
                for name, value in node.items():
                    new_name = names.get(name) or self.member_name(name)
                    if new_name in new:  # two spellings of one email: keep both members
                        new_name = pseudonym_token(name, self.key, self.keep_own)
                        if new_name in new:
                            continue  # a third one: the first member's value is kept
                    if isinstance(value, str):
                        new[new_name] = apply(rule_of(prefix + name), value, name)
                    elif isinstance(value, dict | list):
                        new[new_name] = None
                        stack.append((value, prefix + name, name, new, new_name))
                    else:
                        new[new_name] = value  # numbers, booleans, null: untouched
            elif isinstance(node, list):
                items: list[Any] = [None] * len(node)
                target[slot] = items
                item_path = path + "[]"  # paths.item
                item_rule = rule_of(item_path)
                for index, value in enumerate(node):
                    if isinstance(value, str):
                        items[index] = apply(item_rule, value, None)
                    elif isinstance(value, dict | list):
                        stack.append((value, item_path, None, items, index))
                    else:
                        items[index] = value
            else:
                target[slot] = node  # numbers, booleans, null: untouched
        return holder[0]

    # -- HTTP parts

    def query_value(self, name: str, value: str) -> str:
        base = name[:-2] if name.endswith("[]") else name
        if base in SAFE_QUERY:
            return self.scrub(value)
        return self.apply(QUERY_CLASSES.get(base), value, None)

    def query(self, query: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in query.items():
            new_name = self.member_name(name)
            if isinstance(value, str):
                out[new_name] = self.query_value(name, value)
            elif isinstance(value, list | tuple):
                out[new_name] = [
                    self.query_value(name, v) if isinstance(v, str) else self.json(v, NO_RULES)
                    for v in value
                ]
            else:
                out[new_name] = self.json(value, NO_RULES)
        return out

    def url(self, url: str, surface: Surface) -> str:
        """Host kept; credentials, fragment dropped; path ids and query values replaced."""
        if not url:
            return url
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.token(url)
        host = parts.netloc.rpartition("@")[2]
        path = self._url_path(parts.path, surface)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = "&".join(
            quote(self.member_name(k), safe="[]") + "=" + quote(self.query_value(k, v), safe=_QS)
            for k, v in pairs
        )
        return urlunsplit((parts.scheme, self.scrub(host), path, query, ""))

    def _url_path(self, path: str, surface: Surface) -> str:
        segments = path.split("/")
        template = surface.path.split("/")
        offset = len(segments) - len(template)  # align on the endpoint, after any base path
        out = []
        for index, segment in enumerate(segments):
            expected = template[index - offset] if 0 <= index - offset < len(template) else None
            out.append(self._path_segment(segment, expected))
        return "/".join(out)

    def _path_segment(self, segment: str, expected: str | None) -> str:
        if not segment or segment == expected:
            return segment  # also a literal `{workspace_id}` placeholder in a template
        is_placeholder = expected is not None and expected.startswith("{")
        if not is_placeholder and segment in _template_literals():
            return segment
        return quote(self.token(unquote(segment)), safe="@")

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, raw in headers.items():
            lowered = str(name).lower()
            value = raw if isinstance(raw, str) else str(raw)  # a hand-edited capture
            if lowered in PSEUDONYMISED_HEADERS:
                out[lowered] = self.token(value)
            elif lowered in KEPT_HEADERS or KEPT_HEADER_NAME.fullmatch(lowered):
                out[lowered] = self.scrub(value)
        return out

    def finding(self, finding: Mapping[str, Any], source: str) -> dict[str, Any]:
        """Capture-time findings quote vendor messages: free text. A recorded finding is
        input like the rest of the file: checked member by member first."""
        anonymised = {
            name: self.free_text(value) if isinstance(value, str) else value
            for name, value in finding.items()
        }
        recorded = anonymised.get("source")
        return finding_from_json(
            anonymised, recorded if isinstance(recorded, str) else source
        ).to_json()


# ---------------------------------------------------------------- k-anonymity


def _rows(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        return list(document["data"])
    return []


def _row_strings(
    row: Any, base: str, rules: PathRules, member: str | None = None
) -> tuple[set[str], set[str]]:
    """(identities, formatted strings at unknown paths) found anywhere in one row (or in
    a part of one: the value of its member `member` at `base`)."""
    identities: set[str] = set()
    formatted: set[str] = set()
    stack: list[tuple[Any, str]] = []

    def string(value: str, path: str, member: str | None) -> None:
        rule = rules.get(path)
        if rule in _IDENTITY_CLASSES or member in IDENTITY_MEMBERS or is_email(value):
            identities.add(value.strip().lower())
        elif rule is None and _is_formatted(value):
            formatted.add(value)

    # Hot loop: strings inside a container are looked at in place; only containers go
    # on the stack (each with its path; a member's name only matters for a string).
    if isinstance(row, str):
        string(row, base, member)
    elif isinstance(row, dict | list):
        stack.append((row, base))
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            prefix = path + "." if path else ""  # paths.child
            for name, value in node.items():
                if isinstance(value, str):
                    string(value, prefix + name, name)
                elif isinstance(value, dict | list):
                    stack.append((value, prefix + name))
        else:
            item_path = path + "[]"  # paths.item
            for value in node:
                if isinstance(value, str):
                    string(value, item_path, None)
                elif isinstance(value, dict | list):
                    stack.append((value, item_path))
    return identities, formatted


def shared_values(document: Any, rules: PathRules) -> frozenset[str]:
    """Formatted strings at unknown paths seen in the rows of >= K_ANONYMITY people.

    Rows whose identities overlap (an email in one, the same email with a user id in
    another) are one person, so a person never counts twice."""
    counter = SharedValues(rules, paths.item(paths.ROOT if isinstance(document, list) else "data"))
    counter.add(_rows(document))
    return counter.result()


class SharedValues:
    """`shared_values` of a body whose rows (at `base`) arrive in slices."""

    def __init__(self, rules: PathRules, base: str = ROWS_PATH) -> None:
        self._rules = rules
        self._base = base
        self._seen_in: dict[str, list[frozenset[str]]] = {}

    def add(self, rows: Sequence[Any]) -> None:
        for row in rows:
            self.add_strings(*_row_strings(row, self._base, self._rules))

    def add_strings(self, identities: set[str], formatted: set[str]) -> None:
        """One row's strings, as `row_strings` found them (in parts, for a streamed row)."""
        if identities:
            people = frozenset(identities)  # one set per row, however many values share it
            for value in formatted:
                self._seen_in.setdefault(value, []).append(people)

    def row_strings(
        self, part: Any, path: str, member: str | None = None
    ) -> tuple[set[str], set[str]]:
        """The strings of a part of a row, at `path` (the value of member `member`)."""
        return _row_strings(part, path, self._rules, member)

    def result(self) -> frozenset[str]:
        return frozenset(
            value
            for value, rows_of in self._seen_in.items()
            if len(rows_of) >= K_ANONYMITY and _people(rows_of) >= K_ANONYMITY
        )


def _people(identity_sets: list[frozenset[str]]) -> int:
    """Distinct people among rows: rows sharing any identity are merged."""
    groups: list[set[str]] = []
    for identities in identity_sets:
        overlapping = [g for g in groups if g & identities]
        merged = set(identities).union(*overlapping)
        groups = [g for g in groups if not g & identities] + [merged]
    return len(groups)


# ---------------------------------------------------------------- public API


def anonymise_body(surface: Surface, body: Any, key: AnonKey) -> Any:
    """A new, anonymised copy of one raw response body of `surface` (2xx or error):
    raw data keeps no token as a pseudonym, whatever its tag (see `pseudonym_token`)."""
    return _Anonymiser(key, keep_own=False).json(body, surface_rules(surface))


def anonymise_text(text: str, key: AnonKey, secrets: Sequence[str] = ()) -> str:
    """Free text (a vendor message, an HTML error page) with sensitive parts replaced."""
    return _Anonymiser(key, secrets).free_text(text)


def anonymise_capture(
    capture: Capture,
    key: AnonKey,
    *,
    secrets: Sequence[str] = (),
    pseudonyms: Pseudonyms | None = None,
) -> Capture:
    """A new capture with every part anonymised and `key_fingerprint` set.

    `secrets` are the literal values in use (API keys, workspace id): wherever they occur
    they are replaced. A capture that claims this key's fingerprint is anonymised again
    like any other (a fingerprint is a claim, not a proof): the pseudonyms this key made
    carry a tag that checks out and are kept as they are, so this is idempotent and joins
    survive, while anything else (a raw name or id at a PII path) is replaced. A capture
    made with another key is refused: re-keying would break its joins. `pseudonyms`:
    those already made in this run (the same output, fewer HMACs)."""
    if capture.key_fingerprint not in (None, key.fingerprint):
        raise UsageError(
            f"this {capture.surface} capture is already anonymised with key "
            f"{capture.key_fingerprint}, not the current key {key.fingerprint} (another key, "
            "or pseudonyms made before they carried a tag); re-keying would break joins, so "
            "anonymise the raw responses with one key"
        )
    surface = get_surface(capture.surface)
    worker = _Anonymiser(key, secrets, pseudonyms, keep_own=capture.key_fingerprint is not None)
    rules = surface_rules(surface)
    return replace(
        capture,
        request=_request(worker, capture.request, surface),
        pages=tuple(_page(worker, page, surface, rules) for page in capture.pages),
        findings=tuple(worker.finding(f, f"{capture.surface} capture") for f in capture.findings),
        source=_source_of(worker, capture.source),
        key_fingerprint=key.fingerprint,
    )


_SOURCE = re.compile(r"live|documented|imported|raw|sandbox:[a-z0-9\-]{1,40}")


def _source_of(worker: _Anonymiser, source: str) -> str:
    """The envelope's `source` is one of the tool's own words, else a pseudonym."""
    return source if _SOURCE.fullmatch(source) else worker.token(source)


def _request(worker: _Anonymiser, request: RequestInfo, surface: Surface) -> RequestInfo:
    method = request.method if request.method.upper() in HTTP_METHODS else "GET"
    return RequestInfo(
        method=method,
        url_template=worker.url(request.url_template, surface),
        query=worker.query(request.query),
    )


class PageInParts:
    """One 2xx page anonymised in parts (the body's envelope, then its rows slice by
    slice), the same as `anonymise_capture` makes it of a capture holding that page alone:
    the same steps in the same order, with the k-anonymous values of all its rows
    (`SharedValues`, counted in a first pass) given up front. `page.body` is the envelope
    with `data` emptied; `head` is the page with that envelope anonymised."""

    def __init__(
        self,
        surface: Surface,
        page: Page,
        shared: frozenset[str],
        key: AnonKey,
        secrets: Sequence[str] = (),
        pseudonyms: Pseudonyms | None = None,
    ) -> None:
        self._worker = _Anonymiser(key, secrets, pseudonyms, keep_own=False)  # raw pages
        self._rules = surface_rules(surface)
        self.head = _page_head(self._worker, page, surface, self._rules, shared)

    def rows(self, rows: Sequence[Any]) -> list[Any]:
        return [self._worker.walk(row, self._rules, ROWS_PATH) for row in rows]

    def part(self, value: Any, path: str, member: str | None) -> Any:
        """A part of the body, at `path` (the value of member `member`), anonymised."""
        return self._worker.walk(value, self._rules, path, member)

    def member_name(self, name: str) -> str:
        return self._worker.member_name(name)

    def colliding_name(self, name: str) -> str:
        """A member name whose anonymised form another member of its object already has."""
        return pseudonym_token(name, self._worker.key, self._worker.keep_own)


class CaptureInParts:
    """`anonymise_capture` of a capture whose pages arrive one by one (`verify anonymise`
    of a large file): `envelope` is the capture anonymised without its pages; then each
    page, whole (`page`) or in parts (`page_head` with the k-anonymous values of its rows,
    then `rows`), in order. One worker goes through the same steps in the same order as
    the whole capture's: a page's URL sees the values the page before it shared."""

    def __init__(self, capture: Capture, key: AnonKey, secrets: Sequence[str] = ()) -> None:
        self.envelope = anonymise_capture(replace(capture, pages=()), key, secrets=secrets)
        self._surface = get_surface(capture.surface)
        self._rules = surface_rules(self._surface)
        self._worker = _Anonymiser(key, secrets, keep_own=capture.key_fingerprint is not None)
        _request(self._worker, capture.request, self._surface)  # the worker's first steps

    def page(self, page: Page) -> Page:
        return _page(self._worker, page, self._surface, self._rules)

    def page_head(self, page: Page, shared: frozenset[str]) -> Page:
        """`page` (its body the envelope, `data` emptied) anonymised; its rows follow."""
        return _page_head(self._worker, page, self._surface, self._rules, shared)

    def rows(self, rows: Sequence[Any]) -> list[Any]:
        return [self._worker.walk(row, self._rules, ROWS_PATH) for row in rows]


def _page_head(
    worker: _Anonymiser, page: Page, surface: Surface, rules: PathRules, shared: frozenset[str]
) -> Page:
    """`_page` of a page whose rows come later: the same steps, `shared` given."""
    url = worker.url(page.url, surface)
    headers = worker.headers(page.headers)
    worker.begin_document(shared)
    return Page(
        status=page.status,
        url=url,
        headers=headers,
        body=worker.walk(page.body, rules),
        body_text=None if page.body_text is None else worker.free_text(str(page.body_text)),
    )


def _page(worker: _Anonymiser, page: Page, surface: Surface, rules: PathRules) -> Page:
    return Page(
        status=page.status,
        url=worker.url(page.url, surface),
        headers=worker.headers(page.headers),
        body=worker.json(page.body, rules),
        body_text=None if page.body_text is None else worker.free_text(str(page.body_text)),
    )


def require_same_fingerprint(
    captures: Sequence[Capture], names: Sequence[str] | None = None
) -> None:
    """Refuse (exit 1) to combine captures whose pseudonyms come from different keys
    (or mix anonymised and raw ones): their ids and emails would silently not join."""
    fingerprints = {c.key_fingerprint for c in captures}
    if len(fingerprints) <= 1:
        return
    labels = (
        list(names)
        if names is not None and len(names) == len(captures)
        else [f"{c.surface} capture of {c.captured_at}" for c in captures]
    )
    listed = ", ".join(
        f"{label} ({c.key_fingerprint or 'not anonymised'})"
        for label, c in zip(labels, captures, strict=False)
    )
    raise RefusedError(
        "captures were anonymised with different keys, so their pseudonyms do not join: "
        f"{listed}; raw responses are not kept, so re-capture the odd ones out with the key "
        "the others used (same VERIFY_ANON_KEY or key file), or merge each key's captures "
        "separately"
    )
