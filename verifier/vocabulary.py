"""The public vocabulary: strings that are safe by construction, kept by the anonymiser at
paths the schema does not know and echoed by reports.

A value is public when it is one of

* a `const`/`enum` value of any surface schema (`bucket`, `usd`, `1000_tokens`, ...);
* a documented discriminator: the `object` names of the vendors' pages and rows, and
  their misspellings seen live (`orgainzation.costs.result`), i.e. lowercase dotted
  words whose last word is a known row noun;
* a documented client or actor enum (`CODEX_CLI`, `ACCOUNT_USER`) or a documented small
  enum of the Codex rows (`standard`, `fast`, `other`);
* an OpenAI model name: a known family followed by version, size and date parts
  (`gpt-5-codex`, `gpt-5.3-codex-mini`, `o4-mini-2025-04-16`); fine-tuned names
  (`ft:...`) carry organisation names and ids and are not public.

Nothing else is: a name, a phone number, a date of birth, an IP address or a numeric id
never matches, whatever member it sits in (tests/test_privacy_properties.py plants such
values and checks that none passes). The rule is deliberately a list, not a shape: a
shape wide enough for tomorrow's model names would also fit a person's name.
"""

from __future__ import annotations

import re
from functools import cache

from verifier.schemas import surface_nodes
from verifier.surfaces import SURFACES

_MAX_LENGTH = 64

_DOCUMENTED_WORDS = frozenset(
    {
        # Codex analytics rows (api-facts §2): model fallback, speed, actor and client enums.
        "other",
        "standard",
        "fast",
        "ACCOUNT_USER",
        "SERVICE_ACCOUNT",
        "API_KEY",
        "SYSTEM",
        # OpenAI users list roles and usage grouping values.
        "owner",
        "reader",
        "member",
        "admin",
        "default",
        "flex",
        "scale",
        "priority",
        "auto",
        "batch",
        "page",
        "list",
        "bucket",
        # ISO-4217 currencies a cost API may answer in (lowercase, as the vendor writes).
        *[
            "usd",
            "eur",
            "gbp",
            "jpy",
            "cad",
            "aud",
            "chf",
            "cny",
            "inr",
            "brl",
            "mxn",
            "sek",
            "nok",
            "dkk",
            "pln",
            "krw",
            "sgd",
            "hkd",
            "nzd",
            "zar",
        ],
    }
)
_CLIENT_ENUM = re.compile(r"CODEX_[A-Z]{2,20}(?:_[A-Z]{2,20}){0,3}")
_ROW_NOUNS = "result|user|usage|project|invite|key|page|list|bucket|certificate|member"
_DISCRIMINATOR = re.compile(rf"[a-z]{{2,20}}(?:\.[a-z_]{{2,20}}){{0,4}}\.(?:{_ROW_NOUNS})")
# A model name: a family, then parts that are numbers (versions, dates, sizes such as
# `4o` or `32k`) or documented words; a free word (`gpt-jane`) is never a part.
_MODEL_WORDS = (
    "mini|nano|pro|turbo|codex|preview|max|high|low|medium|audio|realtime|search|chat|latest"
    "|instruct|vision|large|small|spark|deep|research|transcribe|hd|image|embedding"
    "|moderation|omni|text|diarize|api|use|computer|thinking|instant|fast"
)
_MODEL_PART = rf"(?:[0-9][a-z0-9]{{0,11}}|{_MODEL_WORDS})"
_MODEL = re.compile(
    r"(?:gpt|chatgpt|codex|o[1-9]|text-embedding|text-moderation|omni-moderation|whisper"
    r"|tts|dall-e|gpt-image|computer-use|davinci|babbage|sora)"
    rf"(?:[-.]{_MODEL_PART}){{0,8}}"
)


@cache
def _schema_values() -> frozenset[str]:
    values: set[str] = set()
    for surface in SURFACES.values():
        for node in surface_nodes(surface).values():
            values.update(v for v in node.values or () if isinstance(v, str))
    return frozenset(values)


def is_public(value: str) -> bool:
    """Whether `value` is in the public vocabulary (see the module docstring)."""
    if not value or len(value) > _MAX_LENGTH:
        return False
    if value in _DOCUMENTED_WORDS or value in _schema_values():
        return True
    return any(
        pattern.fullmatch(value) is not None for pattern in (_CLIENT_ENUM, _DISCRIMINATOR, _MODEL)
    )


def is_public_discriminator(value: str) -> bool:
    return value in _schema_values() or _DISCRIMINATOR.fullmatch(value) is not None


# A cost line item: a public model name or a documented product, then a documented part
# (`gpt-5, input`, `gpt-4o-mini, cached input`, `Text tokens`).
_LINE_ITEM_PART = re.compile(
    r"(?:input|output|cached input|cached_input|batch input|batch output|audio input"
    r"|audio output|image input|image output|text input|text output)"
)
_PRODUCT_PHRASES = frozenset(
    {
        "Text tokens",
        "Audio tokens",
        "Image tokens",
        "Cached tokens",
        "Code Interpreter sessions",
        "File search tool calls",
        "Web search tool calls",
        "Vector store storage",
        "Fine-tuning",
        "Batch",
    }
)


def is_public_text(value: str) -> bool:
    """A value of a schema field marked `x-pii: none` that is safe to keep: public
    vocabulary, a documented product phrase, or `<public model>, <documented part>`."""
    if is_public(value) or value in _PRODUCT_PHRASES:
        return True
    model, sep, part = value.partition(", ")
    return bool(sep) and is_public(model) and _LINE_ITEM_PART.fullmatch(part) is not None
