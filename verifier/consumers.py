"""Kept for imports written before `verifier.consumer` existed: the same API."""

from __future__ import annotations

from verifier.consumer import CONSUMED_PATHS, consumed_paths, contract_for, fields_at, is_consumed

__all__ = ["CONSUMED_PATHS", "consumed_paths", "contract_for", "fields_at", "is_consumed"]
