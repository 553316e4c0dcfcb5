"""The consumer contract: which contract paths the cost merge reads, per surface.

Drift on a consumed path is `breaking`; elsewhere `warning` (`info` for a new optional
field). The merge parsers in `verifier.merge` must read only these paths."""

from __future__ import annotations

from verifier.surfaces import Surface

CONSUMED_PATHS: dict[str, frozenset[str]] = {
    "chatgpt_enterprise_usage": frozenset(
        {
            "data",
            "data[].start_time",
            "data[].end_time",
            "data[].user.email",
            "data[].user.id",
            "data[].credits",
            "data[].threads",
            "data[].turns",
            "data[].tokens.text_input",
            "data[].tokens.cached_input",
            "data[].tokens.output",
            "has_more",
            "next_page",
        }
    ),
    "openai_org_usage_completions": frozenset(
        {
            "data",
            "data[].start_time",
            "data[].end_time",
            "data[].results",
            "data[].results[].user_id",
            "data[].results[].input_tokens",
            "data[].results[].input_cached_tokens",
            "data[].results[].output_tokens",
            "data[].results[].num_model_requests",
            "has_more",
            "next_page",
        }
    ),
    "openai_org_costs": frozenset(
        {
            "data",
            "data[].start_time",
            "data[].end_time",
            "data[].results",
            "data[].results[].amount.value",
            "data[].results[].amount.currency",
            "data[].results[].user_id",
            "data[].results[].project_id",
            "has_more",
            "next_page",
        }
    ),
    "openai_org_users": frozenset({"data", "data[].id", "data[].email", "has_more", "last_id"}),
}


def consumed_paths(surface: Surface | str) -> frozenset[str]:
    name = surface if isinstance(surface, str) else surface.name
    return CONSUMED_PATHS.get(name, frozenset())


def is_consumed(surface: Surface | str, path: str) -> bool:
    """A path is consumed when the merge reads it or anything beneath it."""
    consumed = consumed_paths(surface)
    if path in consumed:
        return True
    return any(c.startswith(path + ".") or c.startswith(path + "[]") for c in consumed)
