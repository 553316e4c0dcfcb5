"""The consumer contract: which contract paths the cost merge reads, per surface.

Drift on a consumed path is `breaking`; elsewhere `warning` (`info` for a new optional
field). The declarations live beside the code that reads them, one per parser in
`verifier.merge` (`CONSUMED_PATHS` in chatgpt.py, usage.py, costs.py, users.py); this
module only answers questions about them."""

from __future__ import annotations

from verifier.merge.parsers import CONSUMED_PATHS
from verifier.surfaces import Surface

__all__ = ["CONSUMED_PATHS", "consumed_paths", "is_consumed"]


def consumed_paths(surface: Surface | str) -> frozenset[str]:
    name = surface if isinstance(surface, str) else surface.name
    return CONSUMED_PATHS.get(name, frozenset())


def is_consumed(surface: Surface | str, path: str) -> bool:
    """A path is consumed when the merge reads it or anything beneath it."""
    consumed = consumed_paths(surface)
    if path in consumed:
        return True
    return any(c.startswith(path + ".") or c.startswith(path + "[]") for c in consumed)
