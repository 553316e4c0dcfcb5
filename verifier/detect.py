"""The one detector of personal data and secrets, shared by the leak gate
(`verifier.leakscan`), the anonymiser (`verifier.anonymise`) and report masking
(`verifier.redact`), so what one of them misses the others cannot catch by accident.

What it finds, in a string and in its *decoded* forms:

* email addresses: ASCII or not (`jörg@bücher.de`), IDN domains (`xn--...`), quoted local
  parts (`"jane doe"@corp.example`), IP-literal domains, `%40` in URLs;
* the same after decoding what hides an `@`: HTML entities (`&#64;`, `&#x40;`,
  `&commat;`), percent-encoding applied once or more (`%2540`), JSON/Python escapes
  written as text (`\\u0040`, `\\x40`), full-width forms (U+FF20), `[at]`/`(at)`;
* `sk-...` keys, bearer tokens, JWT-shaped tokens;
* the literal secrets in use (API keys, workspace id, the anonymisation key) in their
  common transformations: any case, without the `sk-...-` prefix, only the head or the
  tail (8 characters or more), dashes removed, base64 (standard or URL-safe, at any
  byte alignment inside a longer encoded text).

A string without any trigger (an `@`, an escape, a key prefix, a literal anchor) is
clean without running the full patterns: most payload strings are ids and timestamps.
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from verifier.keys import KEY_ENV
from verifier.surfaces import SURFACES

ANON_EMAIL_DOMAIN = "anon.invalid"

# -- patterns ---------------------------------------------------------------------------

_LOCAL = r"(?:\"[^\"\r\n@]{1,64}\"|[\w.!#$'*+^`{|}~\-]+)"
_LABEL = r"[^\W_](?:[\w\-]{0,61}[^\W_])?"
_TLD = r"(?:xn--[A-Za-z0-9\-]{1,59}|[^\W\d_]{2,63})"
EMAIL_PATTERN = (
    rf"(?P<local>{_LOCAL})(?:@|%40)"
    rf"(?P<domain>(?:{_LABEL}\.)+{_TLD}(?![\w\-])|\[[0-9A-Fa-f:.]{{3,45}}\])"
)
# The anonymiser's own addresses: `u-` and hex (16 digits from hmac-sha256/v1, 24 with
# the keyed tag of v2). Any other local part at the anonymised domain is not a pseudonym
# and may carry a name (`jane.doe@anon.invalid`): it counts as an address like any other.
ANON_LOCAL_PATTERN = r"u-[0-9a-f]{16}(?:[0-9a-f]{8})?"
_ANON_LOCAL = re.compile(ANON_LOCAL_PATTERN, re.IGNORECASE)
SK_KEY_PATTERN = r"(?<![A-Za-z0-9])(?i:sk)-[A-Za-z0-9][A-Za-z0-9_*.\-]{11,}"
BEARER_PATTERN = r"(?<![A-Za-z0-9])(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"
JWT_PATTERN = r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]*"
# Numbers that name someone inside prose: IPv4 addresses, phone numbers (a leading `+`,
# or the North American 3-3-4 form) and long digit runs (numeric ids).
IPV4_PATTERN = r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![\w.])"
PHONE_PATTERN = (
    r"(?<![\w+])(?:\+[0-9][0-9\-() .]{6,}[0-9]|\(?[0-9]{3}\)?[\-. ][0-9]{3}[\-. ][0-9]{4})"
    r"(?![\w])"
)
DIGIT_RUN_PATTERN = r"(?<![\w.])[0-9]{9,}(?![\w.])"
# Shortest literal worth looking for, and the length of its anchors: shorter values
# would match ordinary words.
MIN_LITERAL_LENGTH = 8
_ANCHOR = MIN_LITERAL_LENGTH
_TOKEN_CHAR = r"[A-Za-z0-9_\-+/=]"

# Every pattern above contains one of these, so a string without any of them cannot
# leak. An `@` that starts an anonymised domain is no trigger.
_NOT_ANON = rf"(?!{re.escape(ANON_EMAIL_DOMAIN)}(?![A-Za-z0-9.\-]))"
# The anonymised domain after something other than a pseudonym (`jane@anon.invalid`), or
# a pseudonym glued to more local part (`jane.u-<hex>@anon.invalid`).
_FORGED_ANON = (
    r"(?<!u-[0-9a-f]{16})(?<!u-[0-9a-f]{24})(?:@|%40)(?i:anon\.invalid)"
    r"|[\w.!#$'*+^`{|}~\-]u-[0-9a-f]{16}"
)
TRIGGER_PATTERN = rf"@{_NOT_ANON}|%40{_NOT_ANON}|{_FORGED_ANON}|(?i:sk-|eyJ|bearer)"
# What may hide one of the patterns: decoding is tried only when one of these is there.
_ENCODED = r"&(?:#|commat)|%25|%40|\\[ux]|\[at\]|\(at\)|[\uFE50-\uFE6B\uFF01-\uFF5E]"
_DECODE_ROUNDS = 4
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})")
_AT_WORD = re.compile(r"\s*[\[(]at[\])]\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LeakKind:
    group: str
    kind: str  # finding kind: pii_leak | secret_leak
    what: str  # plain words for the report, never the value


KINDS = (
    LeakKind("literal", "secret_leak", "a secret value in use (API key or workspace id)"),
    LeakKind("sk", "secret_leak", "an sk-... API key"),
    LeakKind("bearer", "secret_leak", "a bearer token"),
    LeakKind("jwt", "secret_leak", "a JWT-shaped token"),
    LeakKind("email", "pii_leak", "an email address"),
)
BY_GROUP = {k.group: k for k in KINDS}


# -- decoding ---------------------------------------------------------------------------


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2)
    return chr(int(code, 16))


def _decode_once(text: str) -> str:
    text = html.unescape(text)
    text = unquote(text)
    text = _ESCAPE.sub(_unescape, text)
    text = unicodedata.normalize("NFKC", text)
    return _AT_WORD.sub("@", text)


def decoded(text: str) -> str:
    """`text` with every encoding that can hide an `@` undone (to a fixpoint, bounded)."""
    for _ in range(_DECODE_ROUNDS):
        step = _decode_once(text)
        if step == text:
            break
        text = step
    return text


# -- literal secrets ----------------------------------------------------------------------


def literal_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """Values of the credential and workspace-id variables the tool reads, when set,
    whichever surfaces run (an OpenAI-only capture still must not leak the workspace id)."""
    names = {KEY_ENV}
    for surface in SURFACES.values():
        names.add(surface.auth_env)
        names.update(surface.path_env)
    values = (env.get(name, "").strip() for name in sorted(names))
    return tuple(v for v in values if len(v) >= MIN_LITERAL_LENGTH)


_KEY_PREFIX = re.compile(r"^(?:sk-(?:[a-z]+-)*)")


def _b64_cores(value: bytes) -> list[str]:
    """The part of any base64 text that encodes `value`, for each of the 3 alignments."""
    cores = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + value).decode("ascii")
        start = 4 if pad else 0
        end = ((pad + len(value)) // 3) * 4
        core = encoded[start:end]
        cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


def secret_anchors(secret: str) -> set[str]:
    """Substrings (matched case-insensitively) that any common transformation of
    `secret` still contains: its tail, the head of its random part, base64 cores."""
    if len(secret) < MIN_LITERAL_LENGTH:
        return set()
    body = _KEY_PREFIX.sub("", secret) or secret
    anchors = {secret[-_ANCHOR:], body[:_ANCHOR], body.replace("-", "")[-_ANCHOR:]}
    for core in _b64_cores(secret.encode("utf-8")) + _b64_cores(body.encode("utf-8")):
        if len(core) >= _ANCHOR + 4:
            anchors.update({core[:12], core[-12:]})
    return {a for a in anchors if len(a) >= _ANCHOR}


# -- the detector -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Detector:
    """Compiled patterns for one set of literal secrets."""

    alternatives: tuple[str, ...]  # named groups: literal?, sk, bearer, jwt, email
    full: re.Pattern[str]
    trigger: re.Pattern[str]
    encoded: re.Pattern[str]
    trigger_bytes: re.Pattern[bytes]
    anchor_bytes: tuple[bytes, ...] = ()  # the literal anchors, ASCII lower-cased

    def no_trigger_in(self, data: bytes) -> bool:
        """Exactly `trigger_bytes.search(data) is None`, about 20x faster on the usual
        anonymised page: the regex tries many alternatives at every byte, while the quick
        test is a few substring searches."""
        return _quickly_clean(data, self.anchor_bytes) or self.trigger_bytes.search(data) is None

    def may_leak(self, text: str) -> bool:
        return self.trigger.search(text) is not None or self.encoded.search(text) is not None

    def kinds(self, text: str) -> list[LeakKind]:
        """The kinds of leak in `text` or its decoded form, in order, without duplicates."""
        found = self._kinds(text) if self.trigger.search(text) else []
        if self.encoded.search(text):
            for kind in self._kinds(decoded(text)):
                if kind not in found:
                    found.append(kind)
        return found

    def _kinds(self, text: str) -> list[LeakKind]:
        found: list[LeakKind] = []
        for match in self.full.finditer(text):
            group = match.lastgroup or ""
            if group == "email" and is_anonymised_address(match):
                continue
            kind = BY_GROUP[group]
            if kind not in found:
                found.append(kind)
        return found


def is_anon_domain(domain: str) -> bool:
    return domain.lower() == ANON_EMAIL_DOMAIN


def is_anonymised_address(match: re.Match[str]) -> bool:
    """An email match that is shaped like the anonymiser's own address (whether it was
    made with the key in use is for the anonymiser to check: `verifier.anonymise`)."""
    return is_anon_domain(match.group("domain")) and bool(_ANON_LOCAL.fullmatch(match["local"]))


def literal_alternative(literals: tuple[str, ...]) -> str | None:
    """The `literal` group: a token around any anchor of any literal, grown to the whole
    token (left part bounded, so no long backtracking)."""
    anchors = sorted({a for s in literals for a in secret_anchors(s)}, key=len, reverse=True)
    if not anchors:
        return None
    joined = "|".join(re.escape(a) for a in anchors)
    return f"(?P<literal>{_TOKEN_CHAR}{{0,64}}?(?i:{joined}){_TOKEN_CHAR}*)"


@lru_cache(maxsize=64)
def detector(literals: tuple[str, ...] = ()) -> Detector:
    literal = literal_alternative(literals)
    alternatives = [
        f"(?P<sk>{SK_KEY_PATTERN})",
        f"(?P<bearer>{BEARER_PATTERN})",
        f"(?P<jwt>{JWT_PATTERN})",
        f"(?P<email>{EMAIL_PATTERN})",
    ]
    triggers = [TRIGGER_PATTERN]
    anchors = {a for s in literals for a in secret_anchors(s)}
    if literal is not None:
        alternatives.insert(0, literal)
        triggers.append("(?i:" + "|".join(re.escape(a) for a in sorted(anchors)) + ")")
    trigger_text = "|".join(triggers)
    return Detector(
        alternatives=tuple(alternatives),
        full=re.compile("|".join(alternatives)),
        trigger=re.compile(trigger_text),
        encoded=re.compile(_ENCODED, re.IGNORECASE),
        trigger_bytes=re.compile(
            (trigger_text + r"|&(?:#|commat)|%25|\\u|\\x|\[at\]|\(at\)|[^\x00-\x7f]").encode(),
            re.IGNORECASE,
        ),
        anchor_bytes=tuple(sorted(a.lower().encode() for a in anchors)),
    )


# A whole JSON string that is one of the anonymiser's addresses: TRIGGER_PATTERN exempts
# it (its `@` starts the anonymised domain after a pseudonym, its `u-` follows a quote).
_PSEUDONYM_STRING = re.compile(rb'"u-[0-9a-f]{16}(?:[0-9a-f]{8})?@anon\.invalid"')
# Every alternative of `trigger_bytes` contains one of these, ASCII lower-cased (the
# pattern ignores ASCII case), or a non-ASCII byte. The first group can only come from
# outside the pseudonym strings; the second is looked for everywhere.
_OUTSIDE_PSEUDONYMS = (b"@", b"%40", b"anon.invalid", b"u-")
_ANYWHERE = (b"%25", b"&#", b"&commat", b"[at]", b"(at)", b"\\", b"sk-", b"eyj", b"bearer")


_LAYOUT = b" \n\r\t"  # JSON whitespace: half the bytes of a pretty-printed page


def _quickly_clean(data: bytes, anchors: tuple[bytes, ...]) -> bool:
    """True only when no trigger can be in `data` (False means: ask the regex)."""
    if not data.isascii():
        return False
    lowered = data.lower()
    # A needle without whitespace that is in `lowered` is in it with the whitespace taken
    # out too (taking it out can only add matches): half the bytes to search, 40 times.
    packed = lowered.translate(None, _LAYOUT)
    plain, spaced, one_search = _needles(anchors)
    if len(packed) < _SMALL:  # a part of a streamed page: one search, not 40 calls
        if one_search.search(packed) is not None:
            return False
    elif any(s[:1] in packed and s in packed for s in plain):  # s[:1]: memchr, rare bytes
        return False
    if any(a in lowered for a in spaced):
        return False
    rest = _PSEUDONYM_STRING.sub(b'""', lowered)
    return not any(s in rest for s in _OUTSIDE_PSEUDONYMS)


_SMALL = 2048  # below this, one regex search beats a substring search per needle


@lru_cache(maxsize=64)
def _needles(
    anchors: tuple[bytes, ...],
) -> tuple[tuple[bytes, ...], tuple[bytes, ...], re.Pattern[bytes]]:
    """The quick test's needles looked for anywhere: (those without whitespace, the
    anchors with some: a secret may hold a space, the first as one pattern)."""
    spaced = tuple(a for a in anchors if any(byte in _LAYOUT for byte in a))
    plain = _ANYWHERE + tuple(a for a in anchors if a not in spaced)
    return plain, spaced, re.compile(b"|".join(re.escape(n) for n in plain))


def leaks_in(text: str, literals: tuple[str, ...] | list[str] = ()) -> list[LeakKind]:
    """The kinds of leak in one string (or its decoded form)."""
    return detector(tuple(literals)).kinds(text)
