"""Pagination rules shared by capture, check, diff and gate.

A 2xx body that says `has_more: true` must carry the surface's cursor as a non-empty
string: `next_page` for the page-cursor surfaces, `last_id` for the users list. Without
it the next page cannot be asked for, so the data the merge reads is cut short. `verify
capture` meets this while paging (`next_cursor`); a saved body or a capture file meets it
in `check`, `diff` and `gate` (`contradiction`). Both use `cursor_problem`, so the rule is
written once; every broken chain becomes a `pagination_changed` finding (`finding`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from verifier.findings import Finding
from verifier.surfaces import Surface

PaginationProblem = Literal["cursor_loop", "has_more_without_cursor", "too_many_pages"]

PROBLEM_WORDS: dict[PaginationProblem, str] = {
    "cursor_loop": "a cursor that repeats an earlier one (a loop); pages after it were not read",
    "has_more_without_cursor": "has_more=true but no cursor to continue with",
    "too_many_pages": "more pages than the capture's page limit; the rest were not read",
}
_CAPTURE_PAGE = re.compile(r"/pages/(\d+)/body")


@dataclass(frozen=True, slots=True)
class Contradiction:
    """A body that says there is more but gives no way to get it."""

    body_pointer: str  # "" for a raw body, "/pages/3/body" inside a capture file
    cursor_field: str
    observed: str  # e.g. "has_more=true but next_page is null"


def cursor_field(surface: Surface) -> str:
    return "last_id" if surface.pagination == "after" else "next_page"


def cursor_problem(surface: Surface, body: Any) -> str | None:
    """Why a body's cursor cannot be followed although it says `has_more: true`
    (`next_page is null`, `last_id is absent`...), else None."""
    if not isinstance(body, dict) or body.get("has_more") is not True:
        return None
    name = cursor_field(surface)
    if name not in body:
        return f"{name} is absent"
    cursor = body[name]
    if cursor is None:
        return f"{name} is null"
    if not isinstance(cursor, str):
        return f"{name} is not a string"
    if not cursor:
        return f"{name} is empty"
    return None


def next_cursor(surface: Surface, body: Any) -> tuple[str | None, PaginationProblem | None]:
    """While paging: the cursor to continue with, or why pagination cannot go on."""
    if not isinstance(body, dict) or body.get("has_more") is not True:
        return None, None
    if cursor_problem(surface, body) is not None:
        return None, "has_more_without_cursor"
    return str(body[cursor_field(surface)]), None


def contradiction(surface: Surface, body: Any, body_pointer: str = "") -> Contradiction | None:
    """The contradiction inside one saved body, if any."""
    problem = cursor_problem(surface, body)
    if problem is None:
        return None
    return Contradiction(body_pointer, cursor_field(surface), f"has_more=true but {problem}")


def finding(
    surface: str,
    source: str,
    body_pointer: str,
    field: str,
    observed: str,
    *,
    pointer_field: str = "has_more",
) -> Finding:
    """`pagination_changed`: breaking, because the rows after it were never read."""
    page = _CAPTURE_PAGE.fullmatch(body_pointer)
    where = f"at page {page.group(1)}" if page else "in the body"
    return Finding(
        surface=surface,
        source=source,
        kind="pagination_changed",
        path=field,
        pointer=f"{body_pointer}/{pointer_field}",
        severity="breaking",
        expected=f"a new {field} while has_more is true, null at the end",
        observed=observed,
        message=f"pagination broke {where}: {observed}",
        consumed_by_merge=True,
    )


def contradiction_finding(surface: str, source: str, found: Contradiction) -> Finding:
    return finding(surface, source, found.body_pointer, found.cursor_field, found.observed)
