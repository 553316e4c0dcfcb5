"""The consumer contracts of the four built-in merge parsers (`verifier.merge`).

Each parser reads its fields through these declarations, so what the gate judges is
exactly what the parser reads. Variant names: `seed` is the illustrative sample the
parsers were first written against (the ChatGPT rows of `schemas/`' seed variant),
`vendor` the vendor's documented shape (api-facts §2.1 for Codex, the official OpenAI
spec for the rest), `vendor-actor` the Codex rows that carry identity only under
`actor{}` (peer fixtures), `live` what the vendor sends but does not document (costs
`user_email`, api-facts §1.2.2).

Codex breakdowns (`verify merge --by model|client`): the vendor documents per entry of
`models[]` the `model` ('other' when unknown), its `speed` and its `credits`, and per
entry of `clients[]` the `client_id`, `threads`, `turns` and `credits` (api-facts §2.1;
"tokens..." are named there without their members, so no token breakdown is read)."""

from __future__ import annotations

from verifier.consumer.model import (
    NUMERIC_STRING_TYPE,
    UNIX_FORMATS,
    ZONED_RFC3339,
    Assumption,
    ConsumedField,
    IgnoredField,
    Role,
    SurfaceContract,
)

_EDGE_FORMATS = ZONED_RFC3339 | UNIX_FORMATS
_MONEY = frozenset({"number", "integer", NUMERIC_STRING_TYPE})
_COUNT = frozenset({"integer"})
_ID = frozenset({"string"})
_LIST = frozenset({"array"})


def _edges(start: str, end: str, formats: frozenset[str]) -> tuple[ConsumedField, ...]:
    return (
        ConsumedField(
            "start_time",
            (("vendor", start),),
            frozenset({"integer", "string"}),
            "timestamp",
            timestamp_formats=formats,
            description="bucket start, inclusive; its UTC date keys the row",
        ),
        ConsumedField(
            "end_time",
            (("vendor", end),),
            frozenset({"integer", "string"}),
            "timestamp",
            timestamp_formats=formats,
            description="bucket end, exclusive; a bucket shorter than a day is partial",
        ),
    )


def _optional(
    name: str, path: str, types: frozenset[str], role: Role, unit: str | None, what: str
) -> ConsumedField:
    """A field only the vendor's shape documents, as optional: absent is unknown."""
    return ConsumedField(
        name,
        (("vendor", path),),
        types,
        role,
        unit=unit,
        nullable=True,
        absent="unknown",
        optional=True,
        description=what,
    )


def _codex_count(name: str, seed: str, vendor: str, unit: str, what: str) -> ConsumedField:
    return ConsumedField(
        name,
        (("seed", seed), ("vendor", vendor)),
        _COUNT,
        "count",
        unit=unit,
        nullable=True,
        absent="unknown",
        description=what,
    )


CHATGPT_ENTERPRISE_USAGE = SurfaceContract(
    surface="chatgpt_enterprise_usage",
    row="data[]",
    fields=(
        *_edges("data[].start_time", "data[].end_time", _EDGE_FORMATS),
        ConsumedField(
            "user_id",
            (
                ("seed", "data[].user.id"),
                ("vendor", "data[].user_id"),
                ("vendor-actor", "data[].actor.user_id"),
            ),
            _ID,
            "identity",
            nullable=True,
            absent="unknown",
            description="workspace user; a row without one is unattributed credits",
        ),
        ConsumedField(
            "email",
            (
                ("seed", "data[].user.email"),
                ("vendor", "data[].actor.email"),
                ("vendor-legacy", "data[].email"),
            ),
            _ID,
            "email",
            nullable=True,
            absent="unknown",
            description="joins the workspace user to the OpenAI users list",
        ),
        ConsumedField(
            "credits",
            (("seed", "data[].credits"), ("vendor", "data[].totals.credits")),
            _MONEY,
            "money",
            unit="credits",
            description="credit-billed usage; never added to dollars without a rate",
        ),
        _codex_count("threads", "data[].threads", "data[].totals.threads", "count", "threads"),
        _codex_count("turns", "data[].turns", "data[].totals.turns", "count", "turns"),
        _codex_count(
            "input_tokens",
            "data[].tokens.text_input",
            "data[].totals.uncached_text_input_tokens",
            "tokens",
            "uncached text input tokens",
        ),
        _codex_count(
            "cached_input_tokens",
            "data[].tokens.cached_input",
            "data[].totals.cached_text_input_tokens",
            "tokens",
            "cached text input tokens",
        ),
        _codex_count(
            "output_tokens",
            "data[].tokens.output",
            "data[].totals.text_output_tokens",
            "tokens",
            "text output tokens",
        ),
        _optional(
            "cost_usd",
            "data[].totals.cost_usd",
            _MONEY,
            "money",
            "usd",
            "native USD-billed Codex usage, separate from credits (api-facts §2.1); its own "
            "column, never added to API dollars; absent is unknown, never 0",
        ),
        # Breakdowns, read only for `verify merge --by model|client`.
        _optional("models", "data[].models", _LIST, "container", None, "per-model breakdown"),
        _optional("model", "data[].models[].model", _ID, "label", None, "model name"),
        _optional("model_speed", "data[].models[].speed", _ID, "label", None, "standard|fast"),
        _optional(
            "model_credits", "data[].models[].credits", _MONEY, "money", "credits", "per model"
        ),
        _optional("clients", "data[].clients", _LIST, "container", None, "per-client breakdown"),
        _optional("client_id", "data[].clients[].client_id", _ID, "label", None, "client enum"),
        _optional(
            "client_credits", "data[].clients[].credits", _MONEY, "money", "credits", "per client"
        ),
        _optional(
            "client_threads", "data[].clients[].threads", _COUNT, "count", "count", "threads"
        ),
        _optional("client_turns", "data[].clients[].turns", _COUNT, "count", "count", "turns"),
    ),
    assumptions=(
        Assumption(
            "attributed-by-user",
            "user_id",
            "Codex rows name a workspace user (rows without one are unattributed credits)",
            attributed=True,
        ),
    ),
)

_OPENAI_EDGES = _edges("data[].start_time", "data[].end_time", UNIX_FORMATS | ZONED_RFC3339)
_OPENAI_USER = ConsumedField(
    "user_id",
    (("vendor", "data[].results[].user_id"),),
    _ID,
    "identity",
    nullable=True,
    absent="unknown",
    description="OpenAI user (group_by=user_id); a result without one is unattributed",
)

OPENAI_ORG_USAGE_COMPLETIONS = SurfaceContract(
    surface="openai_org_usage_completions",
    row="data[].results[]",
    envelope=("data", "has_more", "data[].results"),
    fields=(
        *_OPENAI_EDGES,
        _OPENAI_USER,
        ConsumedField(
            "input_tokens",
            (("vendor", "data[].results[].input_tokens"),),
            _COUNT,
            "count",
            unit="tokens",
            description="input tokens, cached included",
        ),
        ConsumedField(
            "input_cached_tokens",
            (("vendor", "data[].results[].input_cached_tokens"),),
            _COUNT,
            "count",
            unit="tokens",
            nullable=True,
            absent="zero",
            description="cached input tokens (documented optional)",
        ),
        ConsumedField(
            "output_tokens",
            (("vendor", "data[].results[].output_tokens"),),
            _COUNT,
            "count",
            unit="tokens",
        ),
        ConsumedField(
            "num_model_requests",
            (("vendor", "data[].results[].num_model_requests"),),
            _COUNT,
            "count",
            unit="count",
        ),
    ),
    assumptions=(
        Assumption(
            "attributed-by-user",
            "user_id",
            "usage is grouped by user_id (capture with group_by=user_id)",
            attributed=True,
        ),
    ),
)

OPENAI_ORG_COSTS = SurfaceContract(
    surface="openai_org_costs",
    row="data[].results[]",
    envelope=("data", "has_more", "data[].results"),
    fields=(
        *_OPENAI_EDGES,
        ConsumedField(
            "amount",
            (("vendor", "data[].results[].amount.value"),),
            _MONEY,
            "money",
            unit="usd",
            description="cost in dollars, read exactly (Decimal) from a number or a numeric string",
        ),
        ConsumedField(
            "currency",
            (("vendor", "data[].results[].amount.currency"),),
            frozenset({"string"}),
            "currency",
            description="lowercase ISO-4217 currency of the amount",
        ),
        _OPENAI_USER,
        ConsumedField(
            "user_email",
            (("live", "data[].results[].user_email"),),
            _ID,
            "email",
            nullable=True,
            absent="unknown",
            optional=True,
            description="not in the spec, sent live on every row (api-facts §1.2.2): joins a "
            "result that has no user_id to the person with this email",
        ),
    ),
    assumptions=(
        Assumption(
            "currency-usd",
            "currency",
            "every amount is in US dollars (currency `usd`); the merge never converts",
            values=frozenset({"usd"}),
        ),
        Assumption(
            "attributed-by-user",
            "user_id",
            "costs are attributed by user_id, or by user_email where a result has no "
            "user_id (capture costs with group_by=user_id)",
            attributed=True,
            fallbacks=("user_email",),
        ),
    ),
    ignored=(
        IgnoredField(
            "data[].results[].organization_id",
            "an admin key reads one organization, so every result of a capture names the "
            "same one: it attributes nothing to a person or a day (a pseudonym when "
            "anonymised; the merge never writes it)",
        ),
    ),
)

OPENAI_ORG_USERS = SurfaceContract(
    surface="openai_org_users",
    row="data[]",
    fields=(
        ConsumedField(
            "id",
            (("vendor", "data[].id"),),
            _ID,
            "identity",
            description="OpenAI user id, joins usage and cost user_id",
        ),
        ConsumedField(
            "email",
            (("vendor", "data[].email"),),
            _ID,
            "email",
            nullable=True,
            absent="unknown",
            description="joins the OpenAI user to the ChatGPT workspace user",
        ),
    ),
)

BUILT_IN: tuple[SurfaceContract, ...] = (
    CHATGPT_ENTERPRISE_USAGE,
    OPENAI_ORG_USAGE_COMPLETIONS,
    OPENAI_ORG_COSTS,
    OPENAI_ORG_USERS,
)
