"""The registry of surface parsers and the consumer contract they declare."""

from __future__ import annotations

from types import MappingProxyType

from verifier.merge import chatgpt, costs, usage, users

# Surface name -> the contract paths its parser reads. This IS the consumer contract:
# drift on one of these paths (or anything beneath it) is breaking for the merge.
CONSUMED_PATHS = MappingProxyType(
    {
        chatgpt.SURFACE.name: chatgpt.CONSUMED_PATHS,
        usage.SURFACE.name: usage.CONSUMED_PATHS,
        costs.SURFACE.name: costs.CONSUMED_PATHS,
        users.SURFACE.name: users.CONSUMED_PATHS,
    }
)
