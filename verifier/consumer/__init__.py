"""The consumer contract: what the cost merge reads, as typed fields per surface.

    model.py      ConsumedField, Assumption, SurfaceContract (frozen, JSON-serialisable)
    declared.py   the four built-in parsers' contracts
    mapping.py    which path each field is read at, for a lock or a capture
    judge.py      severity of a finding from the contract (breaking / tolerated warning)

Public API: `contract_for(surface)`, `consumed_paths(surface)`, `is_consumed(surface,
path)`, `fields_at(surface, path)`. Nothing here imports the merge: the parsers and the
gate both import this package.
"""

from __future__ import annotations

from types import MappingProxyType

from verifier.consumer.declared import BUILT_IN
from verifier.consumer.model import (
    ABSENCE_MEANING,
    NUMERIC_STRING_TYPE,
    UNIX_FORMATS,
    ZONED_RFC3339,
    Absence,
    Assumption,
    ConsumedField,
    SurfaceContract,
)
from verifier.surfaces import Surface

__all__ = [
    "ABSENCE_MEANING",
    "CONSUMED_PATHS",
    "CONTRACTS",
    "NUMERIC_STRING_TYPE",
    "UNIX_FORMATS",
    "ZONED_RFC3339",
    "Absence",
    "Assumption",
    "ConsumedField",
    "SurfaceContract",
    "consumed_paths",
    "contract_for",
    "fields_at",
    "is_consumed",
]

CONTRACTS: MappingProxyType[str, SurfaceContract] = MappingProxyType(
    {contract.surface: contract for contract in BUILT_IN}
)

# Surface name -> every path its parser may read (all variants, containers, envelope).
CONSUMED_PATHS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {name: contract.paths for name, contract in CONTRACTS.items()}
)


def _name(surface: Surface | str) -> str:
    return surface if isinstance(surface, str) else surface.name


def contract_for(surface: Surface | str) -> SurfaceContract | None:
    """The consumer contract of a surface, or None when no parser reads it."""
    return CONTRACTS.get(_name(surface))


def consumed_paths(surface: Surface | str) -> frozenset[str]:
    return CONSUMED_PATHS.get(_name(surface), frozenset())


def is_consumed(surface: Surface | str, path: str, extra: frozenset[str] = frozenset()) -> bool:
    """A path is consumed when the merge reads it or anything beneath it. `extra`: paths
    a lock maps fields to (accepted moves to paths no built-in variant knows)."""
    consumed = consumed_paths(surface) | extra
    if path in consumed:
        return True
    return any(c.startswith(path + ".") or c.startswith(path + "[]") for c in consumed)


def fields_at(surface: Surface | str, path: str) -> tuple[ConsumedField, ...]:
    """The consumed fields one of whose known paths is exactly `path`."""
    contract = contract_for(surface)
    return contract.fields_at(path) if contract is not None else ()
